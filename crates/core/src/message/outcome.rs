//! The outcome message: what deactivate did, who approved it and how, and each action
//! (deactivated, deactivated but not yet visible in IAM, skipped with the reason, failed with the
//! error), with counts; in an organisation's run, by account after the coverage section.

use std::collections::{BTreeMap, BTreeSet};

use super::blocks::{
    decision_line, footer, key_facts, key_line, planned_key_line, plural, rule_list, run_of, subject_line, when,
};
use super::coverage::{by_account, coverage_parts, keys_by_account};
use super::rich::{Group, Part, Rich, push_groups};
use super::sanitize::{ERROR_CHARS, clip};
use super::{Message, message};
use crate::config::Mode;
use crate::decision::Decision;
use crate::model::KeyRef;
use crate::policy::PlannedDeactivation;
use crate::run_report::{ActionCounts, ActionOutcome, RunReport};

/// What deactivate did: who approved, how and when, and each action (deactivated, deactivated but
/// not yet visible in IAM, skipped with the reason, failed with the error), with counts.
pub fn outcome(report: &RunReport, report_location: &str) -> Message {
    let counts = report.action_counts();
    let subject = outcome_subject(&counts);

    let mut parts = coverage_parts(report);
    parts.extend([Part::Para(outcome_facts(report, &counts)), Part::Divider]);
    push_groups(
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
    push_groups(
        &mut parts,
        NOT_YET_VISIBLE_TITLE,
        Some(Rich::new().text(
            "UpdateAccessKey succeeded for these keys, but IAM had not shown them as Inactive yet when keyward last \
             read them back: IAM takes a moment to show a change everywhere. Check each key in IAM in a minute; it \
             should read Inactive. If it still reads Active, deactivate it by hand.",
        )),
        deactivated_lines(report, &ActionOutcome::DeactivatedNotYetVisible, "UpdateAccessKey succeeded at"),
    );
    push_groups(
        &mut parts,
        "Deactivated",
        None,
        deactivated_lines(report, &ActionOutcome::Deactivated, "deactivated at"),
    );
    push_groups(
        &mut parts,
        "Skipped",
        None,
        action_lines(report, |o| match o {
            ActionOutcome::Skipped { reason } => Some(Rich::new().text(" — skipped: ").text(reason.describe())),
            _ => None,
        }),
    );
    if let Some(d) = &report.decision {
        push_groups(&mut parts, "Not approved (left active)", None, not_approved_lines(report, d));
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

/// One line per action whose outcome `pick` describes, in the order acted on (by account in an
/// organisation's report).
fn action_lines(report: &RunReport, pick: fn(&ActionOutcome) -> Option<Rich>) -> Vec<Group> {
    let lines = report
        .actions
        .iter()
        .filter_map(|a| pick(&a.outcome).map(|what| (Some(&a.key.account_id), key_line(&a.key).push(what))))
        .collect();
    by_account(report, lines)
}

/// One line per action whose outcome is `outcome` (a deactivation): `what` and when, and the rules
/// and facts the plan held for the key.
fn deactivated_lines(report: &RunReport, outcome: &ActionOutcome, what: &str) -> Vec<Group> {
    let planned: BTreeMap<&KeyRef, &PlannedDeactivation> =
        report.evaluation.plan.keys.iter().map(|k| (&k.key, k)).collect();
    let actions = report.actions.iter().filter(|a| a.outcome == *outcome);
    keys_by_account(
        report,
        actions,
        |a| &a.key,
        |a| {
            let line = key_line(&a.key).text(format!(" — {what} {}", when(a.at)));
            match planned.get(&a.key) {
                Some(p) => line.text(format!(" — {}; ", rule_list(&p.rules))).push(key_facts(&p.evidence)),
                None => line,
            }
        },
    )
}

/// The planned keys the decision left out, each with its evidence.
fn not_approved_lines(report: &RunReport, d: &Decision) -> Vec<Group> {
    let approved: BTreeSet<&KeyRef> = d.approved.iter().collect();
    let left = report.evaluation.plan.keys.iter().filter(|k| !approved.contains(&k.key));
    keys_by_account(report, left, |k| &k.key, planned_key_line)
}
