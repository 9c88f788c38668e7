//! Messages about a run, rendered twice from the same facts: a plain-text body for SNS (e-mail) and
//! a Slack Block Kit payload for an incoming webhook. Each message is first built as a list of
//! parts (paragraphs, lists, buttons) made of spans, and both renderings come from those parts, so
//! the e-mail and Slack cannot tell different stories.
//!
//! This module holds [`Message`] and five builders, `outcome` the sixth ([`outcome`]) and `failure`
//! the seventh ([`deactivation_failed`]).
//! The pieces they are made of live beside it:
//! `blocks` (the lines and wordings the messages share), `coverage` (what an organisation's
//! messages add: the coverage section first, and every list grouped by account), `rich` (the
//! intermediate form), `render` (the two renderings) and `sanitize` (escaping and clipping of
//! user-controlled strings).
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
//! A truncated list ends with "… and N more — see the run report at <location>". A list grouped by
//! account gives each account its share of those lines (a group cut short ends with "… and N more
//! in this account"), so one large account cannot hide the others.
//!
//! User-controlled strings (user names, account names, tag values and reasons, error texts) are stripped of control
//! and bidirectional-override characters and clipped; in Slack mrkdwn `&`, `<` and `>` are escaped,
//! so a user named `<!channel>` shows as text and pings nobody.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::ApproverAuth;
use crate::credential_report::UnreadableRow;
use crate::exemption::ExemptionProblem;
use crate::org::AccountId;
use crate::policy::{Exemption, Finding, Plan, PlanStatus, Proposal, Rule, Warning};
use crate::run_report::RunReport;

mod blocks;
mod coverage;
mod failure;
mod outcome;
mod render;
mod rich;
mod sanitize;

use blocks::{
    approver, days, decision_buttons, exemption_problem, exemption_source, footer, key_facts, key_line, mode_name,
    next_step, not_acted_parts, planned_key_line, plural, rule_list, run_facts, run_of, subject_line, when,
};
use coverage::{by_account, coverage_parts, keys_by_account, users_by_account};
use rich::{Part, Rich, push_groups, push_list};
use sanitize::{ERROR_CHARS, NAME_CHARS, VALUE_CHARS, clip};

pub use blocks::{DECISION_BLOCK_ID, MAX_SUBJECT_CHARS};
pub use failure::deactivation_failed;
pub use outcome::outcome;
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

    let mut parts = coverage_parts(report);
    parts.extend([
        Part::Para(run_facts(report)),
        Part::Para(vec![next_step(&plan.status, plan.keys.len())]),
        Part::Divider,
    ]);
    let note = match plan.status {
        PlanStatus::ReportOnly | PlanStatus::CapExceeded { .. } | PlanStatus::AccountCapExceeded { .. } => {
            Some(Rich::new().text("None of these will be deactivated in this run."))
        }
        _ => None,
    };
    push_groups(
        &mut parts,
        "Keys proposed for deactivation",
        note,
        keys_by_account(report, &plan.keys, |k| &k.key, planned_key_line),
    );
    let no_mfa_accounts = no_mfa.iter().map(|f| Some(&f.account_id));
    push_groups(
        &mut parts,
        "Users without MFA",
        None,
        by_account(report, no_mfa_accounts.zip(no_mfa_lines(plan, &no_mfa)).collect()),
    );
    push_groups(
        &mut parts,
        "Warnings",
        Some(Rich::new().text("Close to a limit: reported, never acted on.")),
        keys_by_account(report, &eval.warnings, |w| &w.key, warning_line),
    );
    push_groups(
        &mut parts,
        "Exemptions honoured",
        None,
        by_account(report, eval.exemptions.iter().map(|e| (e.account_id.as_ref(), exemption_line(e))).collect()),
    );
    push_groups(
        &mut parts,
        "Exemption problems",
        Some(Rich::new().text("These tags do not exempt anyone.")),
        by_account(
            report,
            eval.exemption_problems.iter().map(|p| (p.account_id.as_ref(), exemption_problem_line(p))).collect(),
        ),
    );
    push_groups(
        &mut parts,
        "Users not evaluated",
        Some(
            Rich::new()
                .text("Their live check failed: nothing acts on them in this run; the next run checks them again."),
        ),
        users_by_account(report, &report.users_not_evaluated),
    );
    push_list(
        &mut parts,
        "Credential report rows not read",
        Some(Rich::new().text("Their users were checked live instead of screened with the report.")),
        report.unreadable_report_rows.iter().map(unreadable_row_line).collect(),
    );
    push_groups(
        &mut parts,
        "Users gone",
        Some(Rich::new().text("Deleted between listing and the live check.")),
        users_by_account(report, &report.users_gone),
    );

    parts.push(footer(report_location));
    message(subject, parts, Some(report_location))
}

/// The digest's subject: how many keys to deactivate (or why none), then the other counts that fit
/// (first the accounts of an organisation not swept), then what the plan's status means.
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
    if let Some(coverage) = report.coverage.as_ref().filter(|c| !c.is_complete()) {
        head.push(plural(coverage.failed.len(), "account", "accounts") + " NOT SWEPT");
    }
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
    // By account and user: two accounts can each have a user of the same name.
    let mut no_mfa_keys: BTreeMap<(&AccountId, &str), usize> = BTreeMap::new();
    for k in plan.keys.iter().filter(|k| k.rules.contains(&Rule::NoMfa)) {
        *no_mfa_keys.entry((&k.key.account_id, k.key.user_name.as_str())).or_default() += 1;
    }
    no_mfa
        .iter()
        .map(|f| {
            let access = if f.evidence.has_console_password { "console password" } else { "programmatic access only" };
            let as_of = f.evidence.console_password_source.as_of_suffix();
            let line = Rich::new().code(&f.user_name, NAME_CHARS).text(format!(" — {access}{as_of}, no MFA device"));
            match f.proposal {
                Proposal::Deactivate => {
                    let keys = no_mfa_keys.get(&(&f.account_id, f.user_name.as_str())).copied().unwrap_or(0);
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
    let mut parts = coverage_parts(report);
    parts.extend([Part::Para(intro), Part::Para(how), Part::Divider]);
    push_groups(
        &mut parts,
        "Keys to deactivate",
        None,
        keys_by_account(report, &plan.keys, |k| &k.key, planned_key_line),
    );
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
