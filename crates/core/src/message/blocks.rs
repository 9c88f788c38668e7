//! The building blocks the messages share: the facts of a run, what happens next, one line per
//! planned key with its evidence, who decided, the decision buttons, the subject line, and the small
//! wordings (`plural`, `when`, `days`) that keep every message phrased alike.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::coverage::{coverage_parts, keys_by_account};
use super::render::plain_text;
use super::rich::{Part, Rich, push_groups};
use super::sanitize::{ERROR_CHARS, LOCATION_CHARS, NAME_CHARS, VALUE_CHARS, clip};
use crate::config::{MfaScope, Mode, NoMfaAction, Screening};
use crate::decision::{Approver, Decision};
use crate::exemption::{EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG, ExemptionProblemKind, ExemptionSource};
use crate::model::{KeyRef, KeyUse};
use crate::org::AccountId;
use crate::policy::{Evidence, PlanStatus, PlannedDeactivation, Rule};
use crate::run_report::RunReport;
use crate::slack::{ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW};

/// Longest subject, in characters. SNS wants e-mail subjects "less than 100 characters", printable
/// ASCII, without line breaks.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// The `block_id` of the actions block holding the decision buttons.
pub const DECISION_BLOCK_ID: &str = "keyward_decision";

/// "Account 123456789012, run <execution>", or "Run <execution>" when the account is not known.
pub(super) fn run_of(report: &RunReport) -> Rich {
    match &report.account_id {
        Some(account) => Rich::new()
            .text("Account ")
            .code(account.as_str(), NAME_CHARS)
            .text(", run ")
            .code(&report.execution_name, NAME_CHARS),
        None => Rich::new().text("Run ").code(&report.execution_name, NAME_CHARS),
    }
}

/// The facts at the top of a digest.
pub(super) fn run_facts(report: &RunReport) -> Vec<Rich> {
    let eval = &report.evaluation;
    let config = &report.config;
    let no_mfa = eval.findings.iter().filter(|f| f.rule == Rule::NoMfa).count();
    let screening = match (report.screening, &report.report_unavailable) {
        (Screening::CredentialReport, None) => "screened with the credential report",
        (Screening::CredentialReport, Some(_)) => "the credential report was not ready: every user checked live",
        (Screening::Live, _) => "SCREENING=live: every user checked live",
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
    let mut facts = vec![
        run_of(report).text(", evaluated at ").bold(when(eval.evaluated_at)),
        Rich::new().text("Mode: ").bold(mode_name(config.mode)).text(match config.mode {
            Mode::ReportOnly => " (dry run: nothing is deactivated)",
            Mode::Approve => " (nothing is deactivated without a human decision)",
            Mode::Auto => " (planned keys are deactivated without approval, after a live re-check)",
        }),
        Rich::new().text(format!(
            "Users: {} listed, {} checked live ({screening}).",
            report.users_listed, report.users_checked
        )),
        Rich::new().text(found),
    ];
    if let Some(reason) = &report.report_unavailable {
        facts.push(
            Rich::new()
                .text("Credential report: not ready within the wait (")
                .quote(reason, ERROR_CHARS)
                .text("); this run read every user live instead of failing. The next run uses the report again."),
        );
    }
    facts.push(Rich::new().text(format!(
        "Policy: keys older than {} or unused for {} are flagged; {mfa_scope}; users without MFA: {no_mfa_action}; \
             warnings {} ahead; at most {} per run.",
        days(i64::from(config.max_key_age_days)),
        days(i64::from(config.unused_key_days)),
        days(i64::from(config.warn_days)),
        plural(config.max_deactivations_per_run as usize, "deactivation", "deactivations"),
    )));
    facts
}

/// What happens next, from the plan's status.
pub(super) fn next_step(status: &PlanStatus, planned: usize) -> Rich {
    let keys = plural(planned, "key", "keys");
    match status {
        PlanStatus::AwaitingApproval => Rich::new()
            .bold("Next: approval needed.")
            .text(format!(" An approval request for the {keys} follows; nothing is deactivated without a human decision.")),
        PlanStatus::Automatic => Rich::new()
            .bold("Next: automatic deactivation.")
            .text(format!(" KEYWARD_MODE=auto: the {keys} are re-checked live and deactivated without approval.")),
        PlanStatus::ReportOnly => Rich::new().bold("Report only (dry run):").text(format!(
            " KEYWARD_MODE=report, nothing will be deactivated; {keys} would be proposed. Set KEYWARD_MODE=approve to act."
        )),
        PlanStatus::CapExceeded { planned, cap } => Rich::new().bold("CAP EXCEEDED:").text(format!(
            " {planned} keys planned, over the cap of {cap}: nothing will be deactivated in this run. Review the plan, \
             deactivate keys by hand or raise MAX_DEACTIVATIONS_PER_RUN."
        )),
        PlanStatus::AccountCapExceeded { account_id, planned, cap } => Rich::new().bold("ACCOUNT CAP EXCEEDED:").text(format!(
            " {planned} keys planned in account {account_id}, over the cap of {cap} per account: nothing will be \
             deactivated in this run, in any account. Review the plan, deactivate keys by hand or raise \
             MAX_DEACTIVATIONS_PER_ACCOUNT."
        )),
        PlanStatus::Empty => Rich::new().bold("Nothing to do:").text(" no key is proposed for deactivation."),
    }
}

/// The shared body of `rejected` and `expired`.
pub(super) fn not_acted_parts(report: &RunReport, what_happened: Rich, report_location: &str) -> Vec<Part> {
    let plan = &report.evaluation.plan;
    let n = plan.keys.len();
    let facts = vec![
        what_happened,
        Rich::new().bold("Nothing was deactivated:").text(format!(
            " the {} of the plan {} active.",
            plural(n, "key", "keys"),
            if n == 1 { "stays" } else { "stay" }
        )),
        run_of(report).text(format!(
            ", evaluated at {}. Keys that still violate the policy are proposed again in the next run.",
            when(report.evaluation.evaluated_at)
        )),
    ];
    let mut parts = coverage_parts(report);
    parts.extend([Part::Para(facts), Part::Divider]);
    push_groups(
        &mut parts,
        "Keys left active",
        None,
        keys_by_account(report, &plan.keys, |k| &k.key, planned_key_line),
    );
    parts.push(footer(report_location));
    parts
}

/// One planned key with its evidence.
pub(super) fn planned_key_line(k: &PlannedDeactivation) -> Rich {
    let mut line = key_line(&k.key).text(format!(" — {}", rule_list(&k.rules)));
    if k.rules.contains(&Rule::NoMfa) {
        let access = if k.evidence.has_console_password { "console password" } else { "programmatic access only" };
        let as_of = k.evidence.console_password_source.as_of_suffix();
        line = line.text(format!(" (user has no MFA device, {access}{as_of})"));
    }
    line.text(" — ").push(key_facts(&k.evidence))
}

/// A key's age and last use: `300 days old, last used 2026-01-01 via s3 in us-east-1 (200 days ago)`.
pub(super) fn key_facts(e: &Evidence) -> Rich {
    let mut out = Rich::new();
    if let Some(age) = e.key_age_days {
        out = out.text(format!("{} old, ", days(age)));
    }
    out = match &e.last_used {
        None => out.text("never used"),
        Some(u) => {
            out = out.text("last used ").push(key_use(u));
            match e.idle_days {
                Some(idle) if idle < 1 => out.text(" (less than a day ago)"),
                Some(idle) => out.text(format!(" ({} ago)", days(idle))),
                None => out,
            }
        }
    };
    match e.last_used_source.as_of_suffix() {
        as_of if as_of.is_empty() => out,
        as_of => out.text(as_of),
    }
}

/// `2026-01-01 via s3 in us-east-1`.
fn key_use(u: &KeyUse) -> Rich {
    let mut out = Rich::new().text(u.at.format("%Y-%m-%d").to_string());
    if let Some(service) = &u.service {
        out = out.text(" via ").text(clip(service, NAME_CHARS));
    }
    if let Some(region) = &u.region {
        out = out.text(" in ").text(clip(region, NAME_CHARS));
    }
    out
}

/// The words an `EXEMPT_USERS` entry of one account adds: nothing for an entry of every account.
fn for_account(account_id: Option<&AccountId>) -> String {
    account_id.map(|a| format!(" for account {a}")).unwrap_or_default()
}

/// Why a user is exempt, in words.
pub(super) fn exemption_source(source: &ExemptionSource) -> Rich {
    match source {
        ExemptionSource::Protected { entry } => {
            Rich::new().text("protected: PROTECTED_USERS lists ").code(entry, NAME_CHARS).text(", never deactivated")
        }
        ExemptionSource::ConfigName { account_id, .. } => {
            Rich::new().text("listed by name in EXEMPT_USERS").text(for_account(account_id.as_ref()))
        }
        ExemptionSource::ConfigPath { prefix, account_id } => Rich::new()
            .text("path prefix ")
            .code(prefix, NAME_CHARS)
            .text(" in EXEMPT_USERS")
            .text(for_account(account_id.as_ref())),
        ExemptionSource::Tag { until, reason } => {
            let line = Rich::new().text(format!("tag {EXEMPT_UNTIL_TAG} = {until}"));
            match reason {
                Some(reason) => line.text(", reason: ").quote(reason, VALUE_CHARS),
                None => line.text(", no reason given"),
            }
        }
    }
}

/// What is wrong with an exemption tag, in words; for the old single tag, what to write instead.
pub(super) fn exemption_problem(problem: &ExemptionProblemKind) -> Rich {
    match problem {
        ExemptionProblemKind::MalformedDate => Rich::new().text("malformed date, not YYYY-MM-DD"),
        ExemptionProblemKind::Expired { until } => Rich::new().text(format!("expired on {until}")),
        ExemptionProblemKind::TooFarAhead { until, latest, max_exemption_days } => Rich::new().text(format!(
            "{until} is too far ahead: more than MAX_EXEMPTION_DAYS={max_exemption_days} days from today (at most {latest})"
        )),
        ExemptionProblemKind::ReasonWithoutUntil => {
            Rich::new().text(format!("a reason without {EXEMPT_UNTIL_TAG} = YYYY-MM-DD"))
        }
        ExemptionProblemKind::OldFormat => Rich::new().text(format!(
            "the old single-tag format, no longer read: use the two tags {EXEMPT_UNTIL_TAG} = YYYY-MM-DD \
             and (optional) {EXEMPT_REASON_TAG} instead"
        )),
    }
}

/// Who decided, in words; user-supplied parts as code.
pub(super) fn approver(a: &Approver) -> Rich {
    match a {
        Approver::Oidc { issuer, subject, email, .. } => {
            let line = Rich::new();
            let line = match email {
                Some(email) => line.code(email, NAME_CHARS).text(" (subject "),
                None => line.text("subject "),
            };
            let line = line.code(subject, NAME_CHARS).text(" at ").code(issuer, VALUE_CHARS);
            if email.is_some() { line.text(")") } else { line }
        }
        Approver::Slack { user_id, team_id } => {
            Rich::new().text("Slack user ").code(user_id, NAME_CHARS).text(" of workspace ").code(team_id, NAME_CHARS)
        }
        Approver::LinkHolder { source_ip, user_agent } => {
            let mut line = Rich::new().text("the holder of the approval link");
            if let Some(ip) = source_ip {
                line = line.text(" from ").code(ip, NAME_CHARS);
            }
            if let Some(agent) = user_agent {
                line = line.text(", browser ").code(agent, VALUE_CHARS);
            }
            line
        }
        Approver::Automatic => Rich::new().text("keyward itself (KEYWARD_MODE=auto)"),
    }
}

/// "Approved by … at …: n of m planned."
pub(super) fn decision_line(d: &Decision, planned: usize) -> Rich {
    let how = match d.decided_by {
        Approver::Slack { .. } => "",
        Approver::Oidc { .. } | Approver::LinkHolder { .. } => " on the confirmation page",
        Approver::Automatic => "",
    };
    Rich::new().text("Approved by ").push(approver(&d.decided_by)).text(format!(
        "{how} at {}: {} of {} planned.",
        when(d.decided_at),
        plural(d.approved.len(), "key", "keys"),
        planned
    ))
}

/// A user and one of their keys: `alice AKIA…`.
pub(super) fn key_line(k: &KeyRef) -> Rich {
    Rich::new().code(&k.user_name, NAME_CHARS).text(" ").code(&k.access_key_id, NAME_CHARS)
}

/// Where the run report is, as the last line of a message.
pub(super) fn footer(report_location: &str) -> Part {
    Part::Context(vec![Rich::new().text("Run report: ").location(report_location, LOCATION_CHARS)])
}

/// Approve all (with a confirm dialog), Reject all and Review; each carries the approval id.
pub(super) fn decision_buttons(planned: usize, link: &str, approval_id: &str) -> Value {
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

/// The `KEYWARD_MODE` value of a mode.
pub(super) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::ReportOnly => "report",
        Mode::Approve => "approve",
        Mode::Auto => "auto",
    }
}

/// `no-mfa, key-too-old`.
pub(super) fn rule_list(rules: &[Rule]) -> String {
    rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// `2026-11-21 06:00 UTC`.
pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `1 key`, `2 keys`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// `1 day`, `2 days`.
pub(super) fn days(n: i64) -> String {
    if n == 1 { "1 day".to_owned() } else { format!("{n} days") }
}

/// `keyward: <head, …> - <tail>`: the first head item, then each further one that fits, printable ASCII, within the limit.
pub(super) fn subject_line(head: &[String], tail: Option<&str>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_drops_extra_items_before_exceeding_the_limit() {
        let long = "x".repeat(90);
        let s = subject_line(&["first".to_owned(), long.clone(), "third".to_owned()], Some("tail"));
        assert_eq!(s, "keyward: first, third - tail");
        let huge = subject_line(&["é".repeat(200)], None);
        assert!(huge.len() <= MAX_SUBJECT_CHARS && huge.is_ascii());
    }
}
