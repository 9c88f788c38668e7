//! Messages about a run, rendered twice from the same facts: a plain-text body for SNS (e-mail) and
//! a Slack Block Kit payload for an incoming webhook. Each message is first built as a list of
//! parts (paragraphs, lists, buttons) made of spans, and both renderings come from those parts, so
//! the e-mail and Slack cannot tell different stories.
//!
//! Pure functions: no clock reads (times are parameters or come from the report), no I/O.
//!
//! Limits held by construction:
//! - the subject is printable ASCII of at most [`MAX_SUBJECT_CHARS`] characters (SNS e-mail);
//! - the text stays far below SNS's 256 KiB ([`MAX_TEXT_BYTES`] is a last-resort cut): a list shows
//!   at most [`TEXT_LIST_LINES`] lines and a bounded number of bytes;
//! - in Slack a list shows at most [`SLACK_LIST_LINES`] lines, every text object stays within
//!   [`SLACK_MAX_TEXT_CHARS`], and a message has far fewer than [`SLACK_MAX_BLOCKS`] blocks.
//!
//! A truncated list ends with "… and N more — see the run report at <location>".
//!
//! User-controlled strings (user names, tag values and reasons, error texts) are stripped of control
//! and bidirectional-override characters and clipped; in Slack mrkdwn `&`, `<` and `>` are escaped,
//! so a user named `<!channel>` shows as text and pings nobody.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{MfaScope, Mode, NoMfaAction, Screening};
use crate::decision::{Approver, Decision};
use crate::exemption::{EXEMPT_TAG, ExemptionSource};
use crate::model::KeyUse;
use crate::policy::{Evidence, PlanStatus, PlannedDeactivation, Proposal, Rule};
use crate::run_report::{ActionOutcome, ActionRecord, RunReport};
use crate::slack::{ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW};

/// Longest subject, in characters. SNS wants e-mail subjects "less than 100 characters", printable
/// ASCII, without line breaks.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// SNS's message size limit in bytes. The text is cut here as a last resort; lists are bounded so
/// that it never comes to that.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Most lines a list shows in the text before "… and N more".
pub const TEXT_LIST_LINES: usize = 200;
/// Most lines a list shows in Slack before "… and N more".
pub const SLACK_LIST_LINES: usize = 25;
/// Slack's limit on a section's (or any text object's) text, in characters.
pub const SLACK_MAX_TEXT_CHARS: usize = 3000;
/// Slack's limit on blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// The `block_id` of the actions block holding the decision buttons.
pub const DECISION_BLOCK_ID: &str = "keyward_decision";

/// Most bytes one list takes in the text; with at most eight lists per message this keeps the text
/// under 200 KiB whatever the account holds.
const TEXT_LIST_BYTES: usize = 24 * 1024;
/// Slack's limit on a header's text, in characters.
const SLACK_HEADER_CHARS: usize = 150;
/// Clip lengths for user-controlled strings, in characters.
const NAME_CHARS: usize = 128;
const VALUE_CHARS: usize = 256;
const ERROR_CHARS: usize = 300;
const LOCATION_CHARS: usize = 300;

/// One notification, in both renderings.
///
/// `Debug` shows only the subject and sizes: an approval request carries the approval id (in the
/// link and the buttons), which must never reach a log.
#[derive(Clone, PartialEq)]
pub struct Message {
    /// The SNS subject: printable ASCII, at most [`MAX_SUBJECT_CHARS`] characters.
    pub subject: String,
    /// The plain-text body (SNS, e-mail).
    pub text: String,
    /// A complete incoming-webhook payload: `{"text": <fallback>, "blocks": [...]}`.
    pub slack: Value,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocks = self.slack.get("blocks").and_then(Value::as_array).map_or(0, Vec::len);
        f.debug_struct("Message")
            .field("subject", &self.subject)
            .field("text_bytes", &self.text.len())
            .field("slack_blocks", &blocks)
            .finish()
    }
}

/// "Account 123456789012, run <execution>", or "Run <execution>" when the account is not known.
fn run_of(report: &RunReport) -> Rich {
    match &report.account_id {
        Some(account) => {
            Rich::new().t("Account ").code(account, NAME_CHARS).t(", run ").code(&report.execution_name, NAME_CHARS)
        }
        None => Rich::new().t("Run ").code(&report.execution_name, NAME_CHARS),
    }
}

/// The findings digest of a run: evaluation time, mode, counts, keys proposed for deactivation with
/// their evidence, users without MFA, warnings, inactive keys, exemptions honoured and exemption
/// problems, users not evaluated or gone, and what happens next. `report_location` is where the run
/// report is, e.g. `s3://bucket/runs/x/report.json`.
pub fn digest(report: &RunReport, report_location: &str) -> Message {
    let eval = &report.evaluation;
    let plan = &eval.plan;
    let no_mfa: Vec<_> = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).collect();

    let mut head = vec![plural(plan.keys.len(), "key", "keys") + " to deactivate"];
    let tail = match plan.status {
        PlanStatus::Empty => {
            head[0] = "nothing to deactivate".to_owned();
            None
        }
        PlanStatus::ReportOnly => Some("dry run, nothing deactivated".to_owned()),
        PlanStatus::CapExceeded { planned, cap } => {
            head[0] = format!("CAP EXCEEDED: {planned} keys planned, cap {cap}");
            Some("nothing deactivated".to_owned())
        }
        PlanStatus::AwaitingApproval => Some("approval needed".to_owned()),
        PlanStatus::Automatic => Some("deactivating (auto mode)".to_owned()),
    };
    if !no_mfa.is_empty() {
        head.push(plural(no_mfa.len(), "user", "users") + " without MFA");
    }
    if !report.users_not_evaluated.is_empty() {
        head.push(plural(report.users_not_evaluated.len(), "user", "users") + " not evaluated");
    }
    if !eval.warnings.is_empty() {
        head.push(plural(eval.warnings.len(), "warning", "warnings"));
    }
    let subject = subject_line(&head, tail.as_deref());

    let mut parts = vec![Part::Para(run_facts(report)), Part::Para(vec![next_step(plan.status, plan.keys.len())])];
    parts.push(Part::Divider);

    let note = match plan.status {
        PlanStatus::ReportOnly | PlanStatus::CapExceeded { .. } => {
            Some(Rich::new().t("None of these will be deactivated in this run."))
        }
        _ => None,
    };
    push_list(&mut parts, "Keys proposed for deactivation", note, plan.keys.iter().map(planned_key_line).collect());

    let mut no_mfa_keys: BTreeMap<&str, usize> = BTreeMap::new();
    for k in plan.keys.iter().filter(|k| k.rules.contains(&Rule::NoMfa)) {
        *no_mfa_keys.entry(k.user_name.as_str()).or_default() += 1;
    }
    let no_mfa_items = no_mfa
        .iter()
        .map(|f| {
            let access = if f.evidence.has_console_password { "console password" } else { "programmatic access only" };
            let as_of = f.evidence.console_password_source.as_of_suffix();
            let line = Rich::new().code(&f.user_name, NAME_CHARS).t(format!(" — {access}{as_of}, no MFA device"));
            match f.proposal {
                Proposal::Deactivate => {
                    let keys = no_mfa_keys.get(f.user_name.as_str()).copied().unwrap_or(0);
                    line.t(format!("; {} proposed for deactivation", plural(keys, "active key", "active keys")))
                }
                Proposal::Report => line.t("; reported only"),
            }
        })
        .collect();
    push_list(&mut parts, "Users without MFA", None, no_mfa_items);

    let warnings = eval
        .warnings
        .iter()
        .map(|w| {
            Rich::new()
                .code(&w.user_name, NAME_CHARS)
                .t(" ")
                .code(&w.access_key_id, NAME_CHARS)
                .t(format!(" — {} in {}", w.rule.as_str(), days(w.days_left)))
                .t(" — ")
                .push(key_facts(&w.evidence))
        })
        .collect();
    push_list(&mut parts, "Warnings", Some(Rich::new().t("Close to a limit: reported, never acted on.")), warnings);

    let exemptions = eval
        .exemptions
        .iter()
        .map(|e| {
            let line = Rich::new().code(&e.user_name, NAME_CHARS).t(" — ").push(exemption_source(&e.source));
            if e.suppressed.is_empty() {
                line.t(" — no rule would have fired")
            } else {
                line.t(format!(" — held back: {}", rule_list(&e.suppressed)))
            }
        })
        .collect();
    push_list(&mut parts, "Exemptions honoured", None, exemptions);

    let problems = eval
        .exemption_problems
        .iter()
        .map(|p| {
            Rich::new()
                .code(&p.user_name, NAME_CHARS)
                .t(format!(" — tag {EXEMPT_TAG} = "))
                .code(&p.tag_value, VALUE_CHARS)
                .t(" — ")
                .t(clip(&p.problem, VALUE_CHARS))
                .t(": not exempt")
        })
        .collect();
    push_list(&mut parts, "Exemption problems", Some(Rich::new().t("These tags do not exempt anyone.")), problems);

    push_list(
        &mut parts,
        "Users not evaluated",
        Some(
            Rich::new().t("Their live check failed: nothing acts on them in this run; the next run checks them again."),
        ),
        report.users_not_evaluated.iter().map(|u| Rich::new().code(u, NAME_CHARS)).collect(),
    );
    push_list(
        &mut parts,
        "Users gone",
        Some(Rich::new().t("Deleted between listing and the live check.")),
        report.users_gone.iter().map(|u| Rich::new().code(u, NAME_CHARS)).collect(),
    );

    parts.push(footer(report_location));
    render(subject, parts, Some(report_location))
}

/// The approval request: the plan (each key with its evidence), the link to the confirm page, when
/// the request expires, and that opening the link decides nothing by itself. In Slack, an actions
/// block with Approve all (with a confirm dialog), Reject all and Review (which opens `link`), each
/// carrying `approval_id` as its value. No task token is ever part of a message.
pub fn approval_request(
    report: &RunReport,
    report_location: &str,
    link: &str,
    approval_id: &str,
    expires_at: DateTime<Utc>,
) -> Message {
    let eval = &report.evaluation;
    let plan = &eval.plan;
    let n = plan.keys.len();
    let keys = plural(n, "key", "keys");
    let subject = subject_line(
        &[format!("approval needed to deactivate {keys}")],
        Some(&format!("expires {}", when(expires_at))),
    );

    let intro = vec![
        Rich::new()
            .t(format!("keyward proposes to deactivate {}. ", plural(n, "access key", "access keys")))
            .b("Nothing is deactivated without a decision."),
        run_of(report).t(format!(
            ", evaluated at {}; mode {}.",
            when(eval.evaluated_at),
            mode_name(report.config.mode)
        )),
    ];
    let how = vec![
        Rich::new().t("Review and decide: ").link(link, "open the confirmation page"),
        Rich::new().t(
            "The link opens a confirmation page; opening it decides nothing by itself. The page shows each key with \
             its evidence and lets you untick keys; only submitting its form decides.",
        ),
        Rich::new().t(
            "In Slack, Approve all (after a confirmation) and Reject all decide for the whole plan; Review opens the \
             same page.",
        ),
        Rich::new()
            .b(format!("Expires {}.", when(expires_at)))
            .t(" If nobody decides by then, nothing is deactivated."),
        Rich::new()
            .t("Approved keys are re-checked live just before deactivation; a key rotated, used or exempted since is \
             skipped. keyward deactivates, never deletes."),
    ];
    let mut parts = vec![Part::Para(intro), Part::Para(how), Part::Divider];
    push_list(&mut parts, "Keys to deactivate", None, plan.keys.iter().map(planned_key_line).collect());
    parts.push(Part::Buttons(decision_buttons(n, link, approval_id)));

    let no_mfa = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).count();
    parts.push(Part::Context(vec![Rich::new().t(format!(
        "Also in this run: {} without MFA, {}, {} honoured, {} not evaluated. The digest and the run report have \
         the details.",
        plural(no_mfa, "user", "users"),
        plural(eval.warnings.len(), "warning", "warnings"),
        plural(eval.exemptions.len(), "exemption", "exemptions"),
        plural(report.users_not_evaluated.len(), "user", "users"),
    ))]));
    parts.push(footer(report_location));
    render(subject, parts, Some(report_location))
}

/// The approver rejected the plan: who and when (if the report's decision says), and that nothing
/// was deactivated.
pub fn rejected(report: &RunReport, report_location: &str) -> Message {
    let plan = &report.evaluation.plan;
    let n = plan.keys.len();
    let subject =
        subject_line(&[format!("plan of {} rejected", plural(n, "key", "keys"))], Some("nothing deactivated"));
    let who = match &report.decision {
        Some(d) => {
            Rich::new().t("Rejected by ").push(approver(&d.decided_by)).t(format!(" at {}.", when(d.decided_at)))
        }
        None => Rich::new().t("The approver rejected the plan."),
    };
    let parts = not_acted_parts(report, who, report_location);
    render(subject, parts, Some(report_location))
}

/// Nobody decided before the approval timed out: nothing was deactivated.
pub fn expired(report: &RunReport, report_location: &str) -> Message {
    let plan = &report.evaluation.plan;
    let n = plan.keys.len();
    let subject =
        subject_line(&[format!("approval expired for {}", plural(n, "key", "keys"))], Some("nothing deactivated"));
    let who = Rich::new().t("Nobody decided before the approval request expired.");
    let parts = not_acted_parts(report, who, report_location);
    render(subject, parts, Some(report_location))
}

/// What deactivate did: who approved, how and when, and each action (deactivated, skipped with the
/// reason, failed with the error), with counts.
pub fn outcome(report: &RunReport, report_location: &str) -> Message {
    let plan = &report.evaluation.plan;
    let (deactivated, skipped, failed) = report.action_counts();
    let mut head = vec![format!("{} deactivated", plural(deactivated, "key", "keys"))];
    if skipped > 0 {
        head.push(format!("{skipped} skipped"));
    }
    if failed > 0 {
        head.push(format!("{failed} FAILED"));
    }
    let subject = subject_line(&head, None);

    let decided = match &report.decision {
        Some(d) => decision_line(d, plan.keys.len()),
        None if report.config.mode == Mode::Auto => Rich::new().t(format!(
            "Approved automatically (KEYWARD_MODE=auto): {} planned.",
            plural(plan.keys.len(), "key", "keys")
        )),
        None => Rich::new().t("No decision is recorded in the run report."),
    };
    let mut facts = vec![
        decided,
        run_of(report).t(format!(
            ", evaluated at {}. Each approved key was re-checked live before acting.",
            when(report.evaluation.evaluated_at)
        )),
        Rich::new().b("Result:").t(format!(" {deactivated} deactivated, {skipped} skipped, {failed} failed.")),
    ];
    if let Some(d) = &report.decision {
        let left = plan.keys.len().saturating_sub(d.approved.len());
        if left > 0 {
            facts.push(Rich::new().t(format!("Not approved, left active: {}.", plural(left, "key", "keys"))));
        }
    }
    let mut parts = vec![Part::Para(facts), Part::Divider];

    let planned: BTreeMap<(&str, &str), &PlannedDeactivation> =
        plan.keys.iter().map(|k| ((k.user_name.as_str(), k.access_key_id.as_str()), k)).collect();
    let with_outcome = |pick: fn(&ActionOutcome) -> Option<Rich>| -> Vec<Rich> {
        report.actions.iter().filter_map(|a| pick(&a.outcome).map(|what| action_line(a).push(what))).collect()
    };
    push_list(
        &mut parts,
        "Failed",
        Some(
            Rich::new().t(
                "These keys may still be active: check the error, then deactivate by hand or wait for the next run.",
            ),
        ),
        with_outcome(|o| match o {
            ActionOutcome::Failed { error } => Some(Rich::new().t(" — FAILED: ").t(clip(error, ERROR_CHARS))),
            _ => None,
        }),
    );
    let deactivated_items = report
        .actions
        .iter()
        .filter(|a| a.outcome == ActionOutcome::Deactivated)
        .map(|a| {
            let line = action_line(a).t(format!(" — deactivated at {}", when(a.at)));
            match planned.get(&(a.user_name.as_str(), a.access_key_id.as_str())) {
                Some(p) => line.t(format!(" — {}; ", rule_list(&p.rules))).push(key_facts(&p.evidence)),
                None => line,
            }
        })
        .collect();
    push_list(&mut parts, "Deactivated", None, deactivated_items);
    push_list(
        &mut parts,
        "Skipped",
        None,
        with_outcome(|o| match o {
            ActionOutcome::Skipped { reason } => Some(Rich::new().t(" — skipped: ").t(reason.describe())),
            _ => None,
        }),
    );
    if let Some(d) = &report.decision {
        let approved: BTreeSet<(&str, &str)> =
            d.approved.iter().map(|a| (a.user_name.as_str(), a.access_key_id.as_str())).collect();
        let not_approved = plan
            .keys
            .iter()
            .filter(|k| !approved.contains(&(k.user_name.as_str(), k.access_key_id.as_str())))
            .map(planned_key_line)
            .collect();
        push_list(&mut parts, "Not approved (left active)", None, not_approved);
    }
    if deactivated > 0 {
        parts.push(Part::Context(vec![Rich::new().t(
            "A deactivated key can be re-activated in IAM (UpdateAccessKey --status Active); keyward never deletes keys.",
        )]));
    }
    parts.push(footer(report_location));
    render(subject, parts, Some(report_location))
}

/// No candidates at all: every listed user is compliant, nothing to do.
pub fn clean(users_listed: usize, evaluated_at: DateTime<Utc>) -> Message {
    let (subject, summary) = match users_listed {
        0 => ("no IAM users, nothing to do".to_owned(), "The account has no IAM users.".to_owned()),
        1 => ("the 1 IAM user is compliant, nothing to do".to_owned(), "The only IAM user is compliant.".to_owned()),
        n => (format!("all {n} IAM users compliant, nothing to do"), format!("All {n} IAM users are compliant.")),
    };
    let subject = subject_line(&[subject], None);
    let parts = vec![Part::Para(vec![
        Rich::new().t(format!("Evaluated at {}.", when(evaluated_at))),
        Rich::new().b(summary),
        Rich::new()
            .t("No user lacks MFA where it is required, and no active key is too old, unused or close to a limit. \
             Nothing to do: no key is proposed for deactivation."),
    ])];
    render(subject, parts, None)
}

// ---- building blocks shared by the messages ----

/// The facts at the top of a digest.
fn run_facts(report: &RunReport) -> Vec<Rich> {
    let eval = &report.evaluation;
    let config = &report.config;
    let no_mfa = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).count();
    let screening = match report.screening {
        Screening::CredentialReport => "screened with the credential report",
        Screening::Live => "SCREENING=live: every user checked live",
    };
    let mut found = format!(
        "Found: {} proposed for deactivation, {} without MFA, {}, {} (reported, never touched)",
        plural(eval.plan.keys.len(), "key", "keys"),
        plural(no_mfa, "user", "users"),
        plural(eval.warnings.len(), "warning", "warnings"),
        plural(eval.inactive_keys.len(), "inactive key", "inactive keys"),
    );
    for (n, one, many) in [
        (eval.exemptions.len(), "exemption honoured", "exemptions honoured"),
        (eval.exemption_problems.len(), "exemption problem", "exemption problems"),
        (report.users_not_evaluated.len(), "user not evaluated", "users not evaluated"),
        (report.users_gone.len(), "user gone", "users gone"),
    ] {
        if n > 0 {
            found.push_str(", ");
            found.push_str(&plural(n, one, many));
        }
    }
    found.push('.');
    let mfa_scope = match config.mfa_scope {
        MfaScope::Console => "MFA required for users with a console password (MFA_SCOPE=console)",
        MfaScope::All => "MFA required for every user (MFA_SCOPE=all)",
    };
    let no_mfa_action = match config.no_mfa_action {
        NoMfaAction::DeactivateKeys => "their active keys are proposed (NO_MFA_ACTION=deactivate-keys)",
        NoMfaAction::Warn => "reported only (NO_MFA_ACTION=warn)",
    };
    vec![
        run_of(report).t(", evaluated at ").b(when(eval.evaluated_at)),
        Rich::new().t("Mode: ").b(mode_name(config.mode)).t(match config.mode {
            Mode::ReportOnly => " (dry run: nothing is deactivated)",
            Mode::Approve => " (nothing is deactivated without a human decision)",
            Mode::Auto => " (planned keys are deactivated without approval, after a live re-check)",
        }),
        Rich::new()
            .t(format!("Users: {} listed, {} checked live ({screening}).", report.users_listed, report.users_checked)),
        Rich::new().t(found),
        Rich::new().t(format!(
            "Policy: keys older than {} or unused for {} are flagged; {mfa_scope}; users without MFA: {no_mfa_action}; \
             warnings {} ahead; at most {} per run.",
            days(i64::from(config.max_key_age_days)),
            days(i64::from(config.unused_key_days)),
            days(i64::from(config.warn_days)),
            plural(config.max_deactivations_per_run as usize, "deactivation", "deactivations"),
        )),
    ]
}

/// What happens next, from the plan's status.
fn next_step(status: PlanStatus, planned: usize) -> Rich {
    let keys = plural(planned, "key", "keys");
    match status {
        PlanStatus::AwaitingApproval => Rich::new()
            .b("Next: approval needed.")
            .t(format!(" An approval request for the {keys} follows; nothing is deactivated without a human decision.")),
        PlanStatus::Automatic => Rich::new()
            .b("Next: automatic deactivation.")
            .t(format!(" KEYWARD_MODE=auto: the {keys} are re-checked live and deactivated without approval.")),
        PlanStatus::ReportOnly => Rich::new().b("Report only (dry run):").t(format!(
            " KEYWARD_MODE=report, nothing will be deactivated; {keys} would be proposed. Set KEYWARD_MODE=approve to act."
        )),
        PlanStatus::CapExceeded { planned, cap } => Rich::new().b("CAP EXCEEDED:").t(format!(
            " {planned} keys planned, over the cap of {cap}: nothing will be deactivated in this run. Review the plan, \
             deactivate keys by hand or raise MAX_DEACTIVATIONS_PER_RUN."
        )),
        PlanStatus::Empty => Rich::new().b("Nothing to do:").t(" no key is proposed for deactivation."),
    }
}

/// The shared body of `rejected` and `expired`.
fn not_acted_parts(report: &RunReport, what_happened: Rich, report_location: &str) -> Vec<Part> {
    let plan = &report.evaluation.plan;
    let n = plan.keys.len();
    let facts = vec![
        what_happened,
        Rich::new().b("Nothing was deactivated:").t(format!(
            " the {} of the plan {} active.",
            plural(n, "key", "keys"),
            if n == 1 { "stays" } else { "stay" }
        )),
        run_of(report).t(format!(
            ", evaluated at {}. Keys that still violate the policy are proposed again in the next run.",
            when(report.evaluation.evaluated_at)
        )),
    ];
    let mut parts = vec![Part::Para(facts), Part::Divider];
    push_list(&mut parts, "Keys left active", None, plan.keys.iter().map(planned_key_line).collect());
    parts.push(footer(report_location));
    parts
}

/// One planned key with its evidence.
fn planned_key_line(k: &PlannedDeactivation) -> Rich {
    let mut line = Rich::new()
        .code(&k.user_name, NAME_CHARS)
        .t(" ")
        .code(&k.access_key_id, NAME_CHARS)
        .t(format!(" — {}", rule_list(&k.rules)));
    if k.rules.contains(&Rule::NoMfa) {
        let access = if k.evidence.has_console_password { "console password" } else { "programmatic access only" };
        let as_of = k.evidence.console_password_source.as_of_suffix();
        line = line.t(format!(" (user has no MFA device, {access}{as_of})"));
    }
    line.t(" — ").push(key_facts(&k.evidence))
}

/// A key's age and last use: `300 days old, last used 2026-01-01 via s3 in us-east-1 (200 days ago)`.
fn key_facts(e: &Evidence) -> Rich {
    let mut out = Rich::new();
    if let Some(age) = e.key_age_days {
        out = out.t(format!("{} old, ", days(age)));
    }
    out = match &e.last_used {
        None => out.t("never used"),
        Some(u) => {
            out = out.t("last used ").push(key_use(u));
            match e.idle_days {
                Some(idle) if idle < 1 => out.t(" (less than a day ago)"),
                Some(idle) => out.t(format!(" ({} ago)", days(idle))),
                None => out,
            }
        }
    };
    match e.last_used_source.as_of_suffix() {
        as_of if as_of.is_empty() => out,
        as_of => out.t(as_of),
    }
}

fn key_use(u: &KeyUse) -> Rich {
    let mut out = Rich::new().t(u.at.format("%Y-%m-%d").to_string());
    if let Some(service) = &u.service {
        out = out.t(" via ").t(clip(service, NAME_CHARS));
    }
    if let Some(region) = &u.region {
        out = out.t(" in ").t(clip(region, NAME_CHARS));
    }
    out
}

fn exemption_source(source: &ExemptionSource) -> Rich {
    match source {
        ExemptionSource::ConfigName { .. } => Rich::new().t("listed by name in EXEMPT_USERS"),
        ExemptionSource::ConfigPath { prefix } => {
            Rich::new().t("path prefix ").code(prefix, NAME_CHARS).t(" in EXEMPT_USERS")
        }
        ExemptionSource::Tag { until, reason } => {
            let line = Rich::new().t(format!("tag {EXEMPT_TAG} until {until}"));
            match reason {
                Some(reason) => line.t(", reason: ").t(clip(reason, VALUE_CHARS)),
                None => line.t(", no reason given"),
            }
        }
    }
}

fn approver(a: &Approver) -> Rich {
    match a {
        Approver::SlackUser { id, name } => {
            let line = Rich::new().t("Slack user ");
            match name {
                Some(name) => line.code(name, NAME_CHARS).t(" (").code(id, NAME_CHARS).t(")"),
                None => line.code(id, NAME_CHARS),
            }
        }
        Approver::LinkHolder { source_ip, user_agent } => {
            let mut line = Rich::new().t("the holder of the approval link");
            if let Some(ip) = source_ip {
                line = line.t(" from ").code(ip, NAME_CHARS);
            }
            if let Some(agent) = user_agent {
                line = line.t(", browser ").code(agent, VALUE_CHARS);
            }
            line
        }
        Approver::Automatic => Rich::new().t("keyward itself (KEYWARD_MODE=auto)"),
    }
}

fn decision_line(d: &Decision, planned: usize) -> Rich {
    let how = match d.decided_by {
        Approver::SlackUser { .. } => "",
        Approver::LinkHolder { .. } => " on the confirmation page",
        Approver::Automatic => "",
    };
    Rich::new().t("Approved by ").push(approver(&d.decided_by)).t(format!(
        "{how} at {}: {} of {} planned.",
        when(d.decided_at),
        plural(d.approved.len(), "key", "keys"),
        planned
    ))
}

fn action_line(a: &ActionRecord) -> Rich {
    Rich::new().code(&a.user_name, NAME_CHARS).t(" ").code(&a.access_key_id, NAME_CHARS)
}

fn footer(report_location: &str) -> Part {
    Part::Context(vec![Rich::new().t("Run report: ").code(report_location, LOCATION_CHARS)])
}

/// Approve all (with a confirm dialog), Reject all and Review; each carries the approval id.
fn decision_buttons(planned: usize, link: &str, approval_id: &str) -> Value {
    let keys = plural(planned, "key", "keys");
    let confirm = json!({
        "title": plain_text(&format!("Deactivate {keys}?")),
        "text": plain_text(&format!(
            "keyward will deactivate all {keys} of this plan, each re-checked live first. Nothing is deleted; a key \
             can be re-activated in IAM. To choose key by key, use Review."
        )),
        "confirm": plain_text(&format!("Deactivate {keys}")),
        "deny": plain_text("Cancel"),
        "style": "danger",
    });
    json!({
        "type": "actions",
        "block_id": DECISION_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_APPROVE_ALL,
                "text": plain_text("Approve all"),
                "style": "primary",
                "value": approval_id,
                "confirm": confirm,
            },
            {
                "type": "button",
                "action_id": ACTION_REJECT_ALL,
                "text": plain_text("Reject all"),
                "style": "danger",
                "value": approval_id,
            },
            {
                "type": "button",
                "action_id": ACTION_REVIEW,
                "text": plain_text("Review"),
                "url": link,
                "value": approval_id,
            },
        ],
    })
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::ReportOnly => "report",
        Mode::Approve => "approve",
        Mode::Auto => "auto",
    }
}

fn rule_list(rules: &[Rule]) -> String {
    rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// `2026-11-21 06:00 UTC`.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

fn days(n: i64) -> String {
    if n == 1 { "1 day".to_owned() } else { format!("{n} days") }
}

/// `keyward: <head, …> - <tail>`: the first head item, then each further one that fits, printable ASCII, within the limit.
fn subject_line(head: &[String], tail: Option<&str>) -> String {
    let tail = tail.map(|t| format!(" - {t}")).unwrap_or_default();
    let mut subject = "keyward:".to_owned();
    for (i, item) in head.iter().enumerate() {
        let candidate = format!("{subject}{} {item}", if i == 0 { "" } else { "," });
        if i > 0 && candidate.chars().count() + tail.chars().count() > MAX_SUBJECT_CHARS {
            continue;
        }
        subject = candidate;
    }
    subject.push_str(&tail);
    let ascii: String = subject.chars().map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' }).collect();
    if ascii.len() <= MAX_SUBJECT_CHARS { ascii } else { format!("{}...", &ascii[..MAX_SUBJECT_CHARS - 3]) }
}

// ---- the two renderings ----

/// A piece of a line. Every constructor strips control characters, so no span can break a line.
#[derive(Debug, Clone)]
enum Span {
    /// Text as is (escaped in Slack).
    Plain(String),
    /// Emphasis (bold in Slack); only for keyward's own words.
    Bold(String),
    /// An identifier: a user name, a key id, a tag value. Monospace in Slack, so `_` or `*` in a
    /// name does not format.
    Code(String),
    /// A link: the URL in the text, `<url|label>` in Slack when the URL is safe to embed.
    Link { url: String, label: String },
}

/// One line, as spans.
#[derive(Debug, Clone, Default)]
struct Rich(Vec<Span>);

impl Rich {
    fn new() -> Self {
        Self::default()
    }

    fn t(mut self, s: impl AsRef<str>) -> Self {
        self.0.push(Span::Plain(sanitize(s.as_ref())));
        self
    }

    fn b(mut self, s: impl AsRef<str>) -> Self {
        self.0.push(Span::Bold(sanitize(s.as_ref())));
        self
    }

    fn code(mut self, s: &str, max_chars: usize) -> Self {
        self.0.push(Span::Code(clip(&sanitize(s), max_chars)));
        self
    }

    fn link(mut self, url: &str, label: &str) -> Self {
        self.0.push(Span::Link { url: sanitize(url), label: sanitize(label) });
        self
    }

    fn push(mut self, other: Rich) -> Self {
        self.0.extend(other.0);
        self
    }

    fn plain(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(s) | Span::Bold(s) | Span::Code(s) => out.push_str(s),
                Span::Link { url, .. } => out.push_str(url),
            }
        }
        out
    }

    fn mrkdwn(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Plain(s) => out.push_str(&escape(s)),
                Span::Bold(s) if s.trim().is_empty() => out.push_str(&escape(s)),
                Span::Bold(s) => {
                    out.push('*');
                    out.push_str(&escape(s));
                    out.push('*');
                }
                Span::Code(s) if s.is_empty() => out.push_str("\"\""),
                Span::Code(s) => {
                    out.push('`');
                    out.push_str(&escape(&s.replace('`', "'")));
                    out.push('`');
                }
                Span::Link { url, label } if is_embeddable_url(url) => {
                    out.push('<');
                    out.push_str(url);
                    out.push('|');
                    out.push_str(&escape(&label.replace('|', "/")));
                    out.push('>');
                }
                Span::Link { url, .. } => {
                    out.push('`');
                    out.push_str(&escape(&url.replace('`', "'")));
                    out.push('`');
                }
            }
        }
        out
    }
}

/// A titled list of items; empty lists are left out of messages.
struct List {
    title: String,
    note: Option<Rich>,
    items: Vec<Rich>,
}

/// A part of a message.
enum Part {
    /// Lines of prose.
    Para(Vec<Rich>),
    /// Small print (a Slack context block).
    Context(Vec<Rich>),
    /// A list, truncated in each rendering.
    List(List),
    /// A separator (Slack only).
    Divider,
    /// A ready Slack actions block (Slack only; the text carries the link instead).
    Buttons(Value),
}

fn push_list(parts: &mut Vec<Part>, title: &str, note: Option<Rich>, items: Vec<Rich>) {
    if !items.is_empty() {
        parts.push(Part::List(List { title: format!("{title} ({})", items.len()), note, items }));
    }
}

fn more_line(hidden: usize, location: Option<&str>) -> Rich {
    match location {
        Some(location) => {
            Rich::new().t(format!("… and {hidden} more — see the run report at ")).code(location, LOCATION_CHARS)
        }
        None => Rich::new().t(format!("… and {hidden} more")),
    }
}

fn render(subject: String, parts: Vec<Part>, location: Option<&str>) -> Message {
    let mut text = String::new();
    text.push_str(&subject);
    text.push('\n');
    let mut blocks = vec![json!({
        "type": "header",
        "text": plain_text(&clip(&subject, SLACK_HEADER_CHARS)),
    })];
    for part in &parts {
        match part {
            Part::Para(lines) => {
                text.push('\n');
                for line in lines {
                    text.push_str(&line.plain());
                    text.push('\n');
                }
                blocks.push(section(&lines.iter().map(Rich::mrkdwn).collect::<Vec<_>>().join("\n")));
            }
            Part::Context(lines) => {
                text.push('\n');
                for line in lines {
                    text.push_str(&line.plain());
                    text.push('\n');
                }
                let mrkdwn =
                    clip_bytes(&lines.iter().map(Rich::mrkdwn).collect::<Vec<_>>().join("\n"), SLACK_MAX_TEXT_CHARS);
                blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": mrkdwn }] }));
            }
            Part::List(list) => {
                text.push('\n');
                text_list(&mut text, list, location);
                blocks.push(section(&slack_list(list, location)));
            }
            Part::Divider => blocks.push(json!({ "type": "divider" })),
            Part::Buttons(actions) => blocks.push(actions.clone()),
        }
    }
    let text = clip_bytes(&text, MAX_TEXT_BYTES);
    let slack = json!({ "text": escape(&subject), "blocks": blocks });
    Message { subject, text, slack }
}

fn text_list(out: &mut String, list: &List, location: Option<&str>) {
    out.push_str(&list.title);
    out.push_str(":\n");
    if let Some(note) = &list.note {
        out.push_str("  ");
        out.push_str(&note.plain());
        out.push('\n');
    }
    let mut used = 0;
    let mut shown = 0;
    for item in list.items.iter().take(TEXT_LIST_LINES) {
        let line = format!("  - {}\n", item.plain());
        if used + line.len() > TEXT_LIST_BYTES {
            break;
        }
        used += line.len();
        out.push_str(&line);
        shown += 1;
    }
    if shown < list.items.len() {
        out.push_str("  ");
        out.push_str(&more_line(list.items.len() - shown, location).plain());
        out.push('\n');
    }
}

/// A list as one section's mrkdwn, within [`SLACK_MAX_TEXT_CHARS`] (measured in bytes, which is
/// never less than characters).
fn slack_list(list: &List, location: Option<&str>) -> String {
    let mut out = format!("*{}*", escape(&list.title));
    if let Some(note) = &list.note {
        out.push('\n');
        out.push_str(&note.mrkdwn());
    }
    let total = list.items.len();
    let reserve = 1 + more_line(total, location).mrkdwn().len();
    let mut shown = 0;
    for item in list.items.iter().take(SLACK_LIST_LINES) {
        let line = format!("\n• {}", item.mrkdwn());
        if out.len() + line.len() + reserve > SLACK_MAX_TEXT_CHARS {
            break;
        }
        out.push_str(&line);
        shown += 1;
    }
    if shown < total {
        out.push('\n');
        out.push_str(&more_line(total - shown, location).mrkdwn());
    }
    clip_bytes(&out, SLACK_MAX_TEXT_CHARS)
}

fn section(mrkdwn: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_bytes(mrkdwn, SLACK_MAX_TEXT_CHARS) } })
}

fn plain_text(s: &str) -> Value {
    json!({ "type": "plain_text", "text": s })
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` become entities, so no `<!channel>`, `<@U…>` or link
/// can be smuggled in.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `url` can go inside `<url|label>` as is: http(s), and nothing that could end the link
/// or need escaping.
fn is_embeddable_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '|' | '&' | '`'))
}

/// Replaces control characters and invisible bidirectional or zero-width format characters (which
/// could disguise a name) with a space or `?`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() => ' ',
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' => '?',
            c => c,
        })
        .collect()
}

/// At most `max_chars` characters, ending in `…` when cut.
fn clip(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max_bytes` bytes, cut on a character boundary, ending in `…` when cut.
fn clip_bytes(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let ellipsis = '…';
    let mut end = max_bytes.saturating_sub(ellipsis.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_owned();
    out.push(ellipsis);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_slack_control_sequences() {
        assert_eq!(escape("<!channel> & <@U1>"), "&lt;!channel&gt; &amp; &lt;@U1&gt;");
    }

    #[test]
    fn code_spans_cannot_be_closed_by_a_backtick() {
        let line = Rich::new().code("a`b", NAME_CHARS);
        assert_eq!(line.mrkdwn(), "`a'b`");
        assert_eq!(line.plain(), "a`b");
    }

    #[test]
    fn sanitize_removes_line_breaks_and_bidi_overrides() {
        assert_eq!(sanitize("a\nb\u{202E}c\td"), "a b?c d");
    }

    #[test]
    fn unsafe_links_are_shown_as_code_not_embedded() {
        assert_eq!(Rich::new().link("https://x.example/a", "open").mrkdwn(), "<https://x.example/a|open>");
        assert_eq!(
            Rich::new().link("https://x.example/a|<!here>", "open").mrkdwn(),
            "`https://x.example/a|&lt;!here&gt;`"
        );
        assert_eq!(Rich::new().link("javascript:alert(1)", "open").mrkdwn(), "`javascript:alert(1)`");
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        assert_eq!(clip("ééé", 2), "é…");
        assert_eq!(clip_bytes("ééé", 5), "é…");
        assert_eq!(clip_bytes("abc", 3), "abc");
    }

    #[test]
    fn subject_drops_extra_items_before_exceeding_the_limit() {
        let long = "x".repeat(90);
        let s = subject_line(&["first".to_owned(), long.clone(), "third".to_owned()], Some("tail"));
        assert_eq!(s, "keyward: first, third - tail");
        let huge = subject_line(&["é".repeat(200)], None);
        assert!(huge.len() <= MAX_SUBJECT_CHARS && huge.is_ascii());
    }
}
