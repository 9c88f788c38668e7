//! Messages about a run, rendered twice from the same facts: a plain-text body for SNS (e-mail) and
//! a Slack Block Kit payload for an incoming webhook. Each message is first built as a list of
//! parts (paragraphs, lists, buttons) made of spans, and both renderings come from those parts, so
//! the e-mail and Slack cannot tell different stories.
//!
//! This module holds [`Message`] and the six builders, and `failure` the seventh ([`deactivation_failed`]).
//! The pieces they are made of live beside it:
//! `blocks` (the lines and wordings the messages share), `rich` (the intermediate form), `render`
//! (the two renderings) and `sanitize` (escaping and clipping of user-controlled strings).
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
use serde_json::Value;

use crate::config::{ApproverAuth, Mode};
use crate::credential_report::UnreadableRow;
use crate::decision::Decision;
use crate::exemption::ExemptionProblem;
use crate::model::KeyRef;
use crate::policy::{Exemption, Finding, Plan, PlanStatus, PlannedDeactivation, Proposal, Rule, Warning};
use crate::run_report::{ActionCounts, ActionOutcome, RunReport};

mod blocks;
mod failure;
mod render;
mod rich;
mod sanitize;

use blocks::{
    approver, days, decision_buttons, decision_line, exemption_problem, exemption_source, footer, key_facts, key_line,
    mode_name, next_step, not_acted_parts, planned_key_line, plural, rule_list, run_facts, run_of, subject_line, when,
};
use rich::{Part, Rich, push_list};
use sanitize::{ERROR_CHARS, NAME_CHARS, VALUE_CHARS, clip};

pub use blocks::{DECISION_BLOCK_ID, MAX_SUBJECT_CHARS};
pub use failure::deactivation_failed;
pub use render::{MAX_TEXT_BYTES, SLACK_LIST_LINES, SLACK_MAX_BLOCKS, SLACK_MAX_TEXT_CHARS, TEXT_LIST_LINES};

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

/// The message of `parts` under `subject`, in both renderings; a truncated list points at
/// `location` (the run report), when there is one.
fn message(subject: String, parts: Vec<Part>, location: Option<&str>) -> Message {
    let (text, slack) = render::render(&subject, &parts, location);
    Message { subject, text, slack }
}

/// The findings digest of a run: evaluation time, mode, counts, keys proposed for deactivation with
/// their evidence, users without MFA, warnings, inactive keys, exemptions honoured and exemption
/// problems, users not evaluated or gone, credential-report rows that could not be read (whose
/// users were checked live), and what happens next. `report_location` is where the run
/// report is, e.g. `s3://bucket/runs/x/report.json`.
pub fn digest(report: &RunReport, report_location: &str) -> Message {
    let eval = &report.evaluation;
    let plan = &eval.plan;
    let no_mfa: Vec<&Finding> = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).collect();
    let subject = digest_subject(report, no_mfa.len());

    let mut parts =
        vec![Part::Para(run_facts(report)), Part::Para(vec![next_step(&plan.status, plan.keys.len())]), Part::Divider];
    let note = match plan.status {
        PlanStatus::ReportOnly | PlanStatus::CapExceeded { .. } | PlanStatus::AccountCapExceeded { .. } => {
            Some(Rich::new().text("None of these will be deactivated in this run."))
        }
        _ => None,
    };
    push_list(&mut parts, "Keys proposed for deactivation", note, plan.keys.iter().map(planned_key_line).collect());
    push_list(&mut parts, "Users without MFA", None, no_mfa_lines(plan, &no_mfa));
    push_list(
        &mut parts,
        "Warnings",
        Some(Rich::new().text("Close to a limit: reported, never acted on.")),
        eval.warnings.iter().map(warning_line).collect(),
    );
    push_list(&mut parts, "Exemptions honoured", None, eval.exemptions.iter().map(exemption_line).collect());
    push_list(
        &mut parts,
        "Exemption problems",
        Some(Rich::new().text("These tags do not exempt anyone.")),
        eval.exemption_problems.iter().map(exemption_problem_line).collect(),
    );
    push_list(
        &mut parts,
        "Users not evaluated",
        Some(
            Rich::new()
                .text("Their live check failed: nothing acts on them in this run; the next run checks them again."),
        ),
        report.users_not_evaluated.iter().map(|u| Rich::new().code(u, NAME_CHARS)).collect(),
    );
    push_list(
        &mut parts,
        "Credential report rows not read",
        Some(Rich::new().text("Their users were checked live instead of screened with the report.")),
        report.unreadable_report_rows.iter().map(unreadable_row_line).collect(),
    );
    push_list(
        &mut parts,
        "Users gone",
        Some(Rich::new().text("Deleted between listing and the live check.")),
        report.users_gone.iter().map(|u| Rich::new().code(u, NAME_CHARS)).collect(),
    );

    parts.push(footer(report_location));
    message(subject, parts, Some(report_location))
}

/// The digest's subject: how many keys to deactivate (or why none), then the other counts that fit,
/// then what the plan's status means.
fn digest_subject(report: &RunReport, no_mfa: usize) -> String {
    let eval = &report.evaluation;
    let plan = &eval.plan;
    let mut head = vec![plural(plan.keys.len(), "key", "keys") + " to deactivate"];
    let tail = match &plan.status {
        PlanStatus::Empty => {
            head[0] = "nothing to deactivate".to_owned();
            None
        }
        PlanStatus::ReportOnly => Some("dry run, nothing deactivated".to_owned()),
        PlanStatus::CapExceeded { planned, cap } => {
            head[0] = format!("CAP EXCEEDED: {planned} keys planned, cap {cap}");
            Some("nothing deactivated".to_owned())
        }
        PlanStatus::AccountCapExceeded { account_id, planned, cap } => {
            head[0] = format!("ACCOUNT CAP EXCEEDED: {planned} keys in {account_id}, cap {cap}");
            Some("nothing deactivated".to_owned())
        }
        PlanStatus::AwaitingApproval => Some("approval needed".to_owned()),
        PlanStatus::Automatic => Some("deactivating (auto mode)".to_owned()),
    };
    if no_mfa > 0 {
        head.push(plural(no_mfa, "user", "users") + " without MFA");
    }
    if !report.users_not_evaluated.is_empty() {
        head.push(plural(report.users_not_evaluated.len(), "user", "users") + " not evaluated");
    }
    if !eval.warnings.is_empty() {
        head.push(plural(eval.warnings.len(), "warning", "warnings"));
    }
    if !report.unreadable_report_rows.is_empty() {
        head.push(plural(report.unreadable_report_rows.len(), "report row", "report rows") + " unreadable");
    }
    subject_line(&head, tail.as_deref())
}

/// One line per user without MFA: their access, and how many of their keys the plan proposes.
fn no_mfa_lines(plan: &Plan, no_mfa: &[&Finding]) -> Vec<Rich> {
    let mut no_mfa_keys: BTreeMap<&str, usize> = BTreeMap::new();
    for k in plan.keys.iter().filter(|k| k.rules.contains(&Rule::NoMfa)) {
        *no_mfa_keys.entry(k.key.user_name.as_str()).or_default() += 1;
    }
    no_mfa
        .iter()
        .map(|f| {
            let access = if f.evidence.has_console_password { "console password" } else { "programmatic access only" };
            let as_of = f.evidence.console_password_source.as_of_suffix();
            let line = Rich::new().code(&f.user_name, NAME_CHARS).text(format!(" — {access}{as_of}, no MFA device"));
            match f.proposal {
                Proposal::Deactivate => {
                    let keys = no_mfa_keys.get(f.user_name.as_str()).copied().unwrap_or(0);
                    line.text(format!("; {} proposed for deactivation", plural(keys, "active key", "active keys")))
                }
                Proposal::Report => line.text("; reported only"),
            }
        })
        .collect()
}

/// A credential-report row that could not be read: its line, its user when known, and why.
fn unreadable_row_line(row: &UnreadableRow) -> Rich {
    let line = Rich::new().text(format!("line {} — ", row.line));
    let line = match &row.user {
        Some(user) => line.code(user, NAME_CHARS),
        None => line.text("user unknown"),
    };
    line.text(" — ").text(clip(&row.reason, ERROR_CHARS))
}

/// A key close to a limit: which rule, in how many days, and the key's facts.
fn warning_line(w: &Warning) -> Rich {
    key_line(&w.key)
        .text(format!(" — {} in {}", w.rule.as_str(), days(w.days_left)))
        .text(" — ")
        .push(key_facts(&w.evidence))
}

/// An exemption honoured: why, and what it held back.
fn exemption_line(e: &Exemption) -> Rich {
    let line = Rich::new().code(&e.user_name, NAME_CHARS).text(" — ").push(exemption_source(&e.source));
    if e.suppressed.is_empty() {
        line.text(" — no rule would have fired")
    } else {
        line.text(format!(" — held back: {}", rule_list(&e.suppressed)))
    }
}

/// An exemption tag that exempts nobody, and why.
fn exemption_problem_line(p: &ExemptionProblem) -> Rich {
    Rich::new()
        .code(&p.user_name, NAME_CHARS)
        .text(" — tag ")
        .code(&p.tag, NAME_CHARS)
        .text(" = ")
        .code(&p.tag_value, VALUE_CHARS)
        .text(" does not exempt: ")
        .push(exemption_problem(&p.problem))
}

/// The approval request: the plan (each key with its evidence), the link to the confirm page, when
/// the request expires, and that opening the link decides nothing by itself. In Slack, an actions
/// block with Approve all (with a confirm dialog), Reject all and Review (which opens `link`), each
/// carrying `approval_id` as its value. No task token is ever part of a message. `auth` says who can
/// decide with the link: under `oidc` the page asks the approver to sign in; under `link` anyone
/// holding it can decide, and the message says so.
pub fn approval_request(
    report: &RunReport,
    report_location: &str,
    link: &str,
    approval_id: &str,
    expires_at: DateTime<Utc>,
    auth: ApproverAuth,
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
            .text(format!("keyward proposes to deactivate {}. ", plural(n, "access key", "access keys")))
            .bold("Nothing is deactivated without a decision."),
        run_of(report).text(format!(
            ", evaluated at {}; mode {}.",
            when(eval.evaluated_at),
            mode_name(report.config.mode)
        )),
    ];
    let who = match auth {
        ApproverAuth::Oidc => Rich::new().text(
            "The page asks you to sign in with your organisation's account; only the listed approvers can decide, and \
             the decision is recorded under their name.",
        ),
        ApproverAuth::Link => Rich::new()
            .bold("Anyone who holds this link can decide:")
            .text(" keyward does not check who opens it, so forward it to nobody who should not decide."),
    };
    let how = vec![
        Rich::new().text("Review and decide: ").link(link, "open the confirmation page"),
        who,
        Rich::new().text(
            "The link opens a confirmation page; opening it decides nothing by itself. The page shows each key with \
             its evidence and lets you untick keys; only submitting its form decides.",
        ),
        Rich::new().text(
            "In Slack, Approve all (after a confirmation) and Reject all decide for the whole plan; Review opens the \
             same page.",
        ),
        Rich::new()
            .bold(format!("Expires {}.", when(expires_at)))
            .text(" If nobody decides by then, nothing is deactivated."),
        Rich::new().text(
            "Approved keys are re-checked live just before deactivation; a key rotated, used or exempted since is \
             skipped. keyward deactivates, never deletes.",
        ),
    ];
    let mut parts = vec![Part::Para(intro), Part::Para(how), Part::Divider];
    push_list(&mut parts, "Keys to deactivate", None, plan.keys.iter().map(planned_key_line).collect());
    parts.push(Part::Buttons(decision_buttons(n, link, approval_id)));

    let no_mfa = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).count();
    parts.push(Part::Context(vec![Rich::new().text(format!(
        "Also in this run: {} without MFA, {}, {} honoured, {} not evaluated. The digest and the run report have \
         the details.",
        plural(no_mfa, "user", "users"),
        plural(eval.warnings.len(), "warning", "warnings"),
        plural(eval.exemptions.len(), "exemption", "exemptions"),
        plural(report.users_not_evaluated.len(), "user", "users"),
    ))]));
    parts.push(footer(report_location));
    message(subject, parts, Some(report_location))
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
            Rich::new().text("Rejected by ").push(approver(&d.decided_by)).text(format!(" at {}.", when(d.decided_at)))
        }
        None => Rich::new().text("The approver rejected the plan."),
    };
    let parts = not_acted_parts(report, who, report_location);
    message(subject, parts, Some(report_location))
}

/// Nobody decided before the approval timed out: nothing was deactivated.
pub fn expired(report: &RunReport, report_location: &str) -> Message {
    let plan = &report.evaluation.plan;
    let n = plan.keys.len();
    let subject =
        subject_line(&[format!("approval expired for {}", plural(n, "key", "keys"))], Some("nothing deactivated"));
    let who = Rich::new().text("Nobody decided before the approval request expired.");
    let parts = not_acted_parts(report, who, report_location);
    message(subject, parts, Some(report_location))
}

/// What deactivate did: who approved, how and when, and each action (deactivated, deactivated but
/// not yet visible in IAM, skipped with the reason, failed with the error), with counts.
pub fn outcome(report: &RunReport, report_location: &str) -> Message {
    let plan = &report.evaluation.plan;
    let counts = report.action_counts();
    let subject = outcome_subject(&counts);

    let mut parts = vec![Part::Para(outcome_facts(report, &counts)), Part::Divider];
    push_list(
        &mut parts,
        "Failed",
        Some(Rich::new().text(
            "These keys may still be active: check the error, then deactivate by hand or wait for the next run.",
        )),
        action_lines(report, |o| match o {
            ActionOutcome::Failed { error } => Some(Rich::new().text(" — FAILED: ").text(clip(error, ERROR_CHARS))),
            _ => None,
        }),
    );
    push_list(
        &mut parts,
        NOT_YET_VISIBLE_TITLE,
        Some(Rich::new().text(
            "UpdateAccessKey succeeded for these keys, but IAM had not shown them as Inactive yet when keyward last \
             read them back: IAM takes a moment to show a change everywhere. Check each key in IAM in a minute; it \
             should read Inactive. If it still reads Active, deactivate it by hand.",
        )),
        deactivated_lines(report, &ActionOutcome::DeactivatedNotYetVisible, "UpdateAccessKey succeeded at"),
    );
    push_list(
        &mut parts,
        "Deactivated",
        None,
        deactivated_lines(report, &ActionOutcome::Deactivated, "deactivated at"),
    );
    push_list(
        &mut parts,
        "Skipped",
        None,
        action_lines(report, |o| match o {
            ActionOutcome::Skipped { reason } => Some(Rich::new().text(" — skipped: ").text(reason.describe())),
            _ => None,
        }),
    );
    if let Some(d) = &report.decision {
        push_list(&mut parts, "Not approved (left active)", None, not_approved_lines(plan, d));
    }
    if counts.deactivated + counts.not_yet_visible > 0 {
        parts.push(Part::Context(vec![Rich::new().text(
            "A deactivated key can be re-activated in IAM (UpdateAccessKey --status Active); keyward never deletes keys.",
        )]));
    }
    parts.push(footer(report_location));
    message(subject, parts, Some(report_location))
}

/// The title of the outcome's list of keys IAM did not show Inactive yet.
const NOT_YET_VISIBLE_TITLE: &str = "Deactivated, not yet visible in IAM";

/// `keyward: 2 keys deactivated, 1 not yet visible in IAM, 1 skipped, 1 FAILED`, leaving out the
/// counts that are zero.
fn outcome_subject(counts: &ActionCounts) -> String {
    let mut head = vec![format!("{} deactivated", plural(counts.deactivated, "key", "keys"))];
    if counts.not_yet_visible > 0 {
        head.push(format!("{} not yet visible in IAM", counts.not_yet_visible));
    }
    if counts.skipped > 0 {
        head.push(format!("{} skipped", counts.skipped));
    }
    if counts.failed > 0 {
        head.push(format!("{} FAILED", counts.failed));
    }
    subject_line(&head, None)
}

/// The facts at the top of an outcome: who decided, the run, the counts, and how many planned keys
/// were not approved.
fn outcome_facts(report: &RunReport, counts: &ActionCounts) -> Vec<Rich> {
    let plan = &report.evaluation.plan;
    let decided = match &report.decision {
        Some(d) => decision_line(d, plan.keys.len()),
        None if report.config.mode == Mode::Auto => Rich::new().text(format!(
            "Approved automatically (KEYWARD_MODE=auto): {} planned.",
            plural(plan.keys.len(), "key", "keys")
        )),
        None => Rich::new().text("No decision is recorded in the run report."),
    };
    let not_yet_visible = match counts.not_yet_visible {
        0 => String::new(),
        n => format!(" {n} deactivated but not yet visible in IAM,"),
    };
    let mut facts = vec![
        decided,
        run_of(report).text(format!(
            ", evaluated at {}. Each approved key was re-checked live before acting.",
            when(report.evaluation.evaluated_at)
        )),
        Rich::new().bold("Result:").text(format!(
            " {} deactivated,{not_yet_visible} {} skipped, {} failed.",
            counts.deactivated, counts.skipped, counts.failed
        )),
    ];
    if let Some(d) = &report.decision {
        let left = plan.keys.len().saturating_sub(d.approved.len());
        if left > 0 {
            facts.push(Rich::new().text(format!("Not approved, left active: {}.", plural(left, "key", "keys"))));
        }
    }
    facts
}

/// One line per action whose outcome `pick` describes, in the order acted on.
fn action_lines(report: &RunReport, pick: fn(&ActionOutcome) -> Option<Rich>) -> Vec<Rich> {
    report.actions.iter().filter_map(|a| pick(&a.outcome).map(|what| key_line(&a.key).push(what))).collect()
}

/// One line per action whose outcome is `outcome` (a deactivation): `what` and when, and the rules
/// and facts the plan held for the key.
fn deactivated_lines(report: &RunReport, outcome: &ActionOutcome, what: &str) -> Vec<Rich> {
    let planned: BTreeMap<&KeyRef, &PlannedDeactivation> =
        report.evaluation.plan.keys.iter().map(|k| (&k.key, k)).collect();
    report
        .actions
        .iter()
        .filter(|a| a.outcome == *outcome)
        .map(|a| {
            let line = key_line(&a.key).text(format!(" — {what} {}", when(a.at)));
            match planned.get(&a.key) {
                Some(p) => line.text(format!(" — {}; ", rule_list(&p.rules))).push(key_facts(&p.evidence)),
                None => line,
            }
        })
        .collect()
}

/// The planned keys the decision left out, each with its evidence.
fn not_approved_lines(plan: &Plan, d: &Decision) -> Vec<Rich> {
    let approved: BTreeSet<&KeyRef> = d.approved.iter().collect();
    plan.keys.iter().filter(|k| !approved.contains(&k.key)).map(planned_key_line).collect()
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
        Rich::new().text(format!("Evaluated at {}.", when(evaluated_at))),
        Rich::new().bold(summary),
        Rich::new().text(
            "No user lacks MFA where it is required, and no active key is too old, unused or close to a limit. \
             Nothing to do: no key is proposed for deactivation.",
        ),
    ])];
    message(subject, parts, None)
}
