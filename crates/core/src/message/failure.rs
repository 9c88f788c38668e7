//! The "deactivation failed part-way" message: deactivate failed after its retries, and people are
//! told exactly what was and was not done, as the run's journal ([`crate::journal`]) records it:
//! the keys changed (`UpdateAccessKey` succeeded), possibly changed (called, no result recorded:
//! to be checked in IAM), and not touched. The run ends failed.

use super::blocks::{footer, key_line, plural, run_of, subject_line, when};
use super::coverage::{coverage_parts, keys_by_account};
use super::rich::{Group, Part, Rich, push_groups};
use super::sanitize::{ERROR_CHARS, LOCATION_CHARS, clip};
use super::{Message, message};
use crate::journal::{Journal, KeyJournal, KeyState};
use crate::run_report::{ActionOutcome, ActionRecord, RunReport};

/// Deactivate failed with the error named `error`: what `journal` (`None`: nobody claimed the run,
/// so no key was touched) says was changed, possibly changed and not touched. `journal_location`
/// is where the journal is (`s3://bucket/runs/x/deactivation/`).
pub fn deactivation_failed(
    report: &RunReport,
    journal: Option<&Journal>,
    error: &str,
    report_location: &str,
    journal_location: &str,
) -> Message {
    let (changed, possibly, untouched) = match journal {
        Some(j) => {
            (j.in_state(KeyState::Changed), j.in_state(KeyState::PossiblyChanged), j.in_state(KeyState::NotTouched))
        }
        None => (vec![], vec![], vec![]),
    };
    let mut head = vec![format!("deactivation FAILED part-way: {} changed", plural(changed.len(), "key", "keys"))];
    if !possibly.is_empty() {
        head.push(format!("{} possibly changed", possibly.len()));
    }
    head.push(format!("{} not touched", untouched.len()));
    let subject = subject_line(&head, None);

    let what = match journal {
        // Every key has its result, but the invocation failed after (its run report write): the
        // report may not show the actions, the journal does.
        Some(j) if j.done.is_some() => Rich::new().text(format!(
            "The deactivation claimed at {} for {} handled every key, then failed; the run report may not show \
             it. What its journal records:",
            when(j.claim.claimed_at),
            plural(j.keys.len(), "key", "keys")
        )),
        Some(j) => Rich::new().text(format!(
            "The deactivation claimed at {} for {} did not complete. What its journal records:",
            when(j.claim.claimed_at),
            plural(j.keys.len(), "key", "keys")
        )),
        None => Rich::new().text("The run's deactivation was never claimed: no key was touched."),
    };
    let mut parts = coverage_parts(report);
    parts.extend([
        Part::Para(vec![
            Rich::new()
                .bold("Deactivate failed")
                .text(" (")
                .code(&clip(error, ERROR_CHARS), ERROR_CHARS)
                .text("), and the run ended failed."),
            run_of(report).text(format!(", evaluated at {}.", when(report.evaluation.evaluated_at))),
            what,
        ]),
        Part::Divider,
    ]);
    push_groups(&mut parts, "Changed (deactivated)", None, lines(report, &changed));
    push_groups(
        &mut parts,
        "Possibly changed",
        Some(
            Rich::new()
                .text("UpdateAccessKey was called for these keys, but no result was recorded: check each key in IAM."),
        ),
        lines(report, &possibly),
    );
    push_groups(&mut parts, "Not touched", None, lines(report, &untouched));
    parts.push(Part::Context(vec![Rich::new().text("Journal: ").location(journal_location, LOCATION_CHARS)]));
    parts.push(footer(report_location));
    message(subject, parts, Some(report_location))
}

/// One line per key, with what its journal's result says when it has one, by account in an
/// organisation's report.
fn lines(report: &RunReport, keys: &[&KeyJournal]) -> Vec<Group> {
    keys_by_account(
        report,
        keys.iter().copied(),
        |k| &k.key,
        |k| match &k.result {
            Some(r) => key_line(&k.key).text(format!(" — {}", outcome_words(r))),
            None => key_line(&k.key),
        },
    )
}

/// A journaled result in words.
fn outcome_words(record: &ActionRecord) -> String {
    match &record.outcome {
        ActionOutcome::Deactivated => format!("deactivated at {}", when(record.at)),
        ActionOutcome::DeactivatedNotYetVisible => {
            format!("UpdateAccessKey succeeded at {}, not yet visible in IAM", when(record.at))
        }
        ActionOutcome::Skipped { reason } => format!("skipped: {}", reason.describe()),
        ActionOutcome::Failed { error } => format!("FAILED: {}", clip(error, ERROR_CHARS)),
    }
}
