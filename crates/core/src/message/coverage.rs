//! What an organisation's messages add to an account's: the coverage section (how many of the
//! discovered accounts were swept, each failed account with its reason and fix, the skipped ones
//! and why, filter entries that name no account), and the grouping of every list of keys or users
//! by account, each group headed `<account id> (<name>)`.
//!
//! An account's messages (no coverage in the report) get no section and one group without a
//! heading per list, so they read exactly as before. An account's name is operator text: it is
//! shown as an identifier, like a user name, so it never becomes a link or a mention.

use std::collections::BTreeMap;

use super::blocks::plural;
use super::rich::{Group, Part, Rich, push_bounded};
use super::sanitize::{ERROR_CHARS, NAME_CHARS};
use crate::errors::ACCOUNTS_NOT_SWEPT;
use crate::model::KeyRef;
use crate::org::AccountId;
use crate::run_report::{Coverage, RunReport};

/// Most bytes one coverage list takes in the text: with the four of them, a message's text stays
/// under 256 KiB beside its eight lists of findings.
const COVERAGE_LIST_BYTES: usize = 8 * 1024;
/// Clip length of a failed account's fix, in characters (keyward's words around a role name).
const FIX_CHARS: usize = 400;

/// `123456789012 (prod)`: an account and its name as discovery found it.
pub(super) fn account_heading(coverage: &Coverage, account: &AccountId) -> Rich {
    let line = Rich::new().code(account.as_str(), NAME_CHARS);
    match coverage.name_of(account) {
        Some(name) => line.text(" (").code(name, NAME_CHARS).text(")"),
        None => line.text(" (name unknown)"),
    }
}

/// The coverage section of an organisation's message, ending in a divider; nothing for an
/// account's.
pub(super) fn coverage_parts(report: &RunReport) -> Vec<Part> {
    let Some(coverage) = &report.coverage else {
        return vec![];
    };
    let mut summary = vec![Rich::new().bold("Coverage:").text(format!(
        " {} of {} swept ({} failed, {} skipped).",
        coverage.swept.len(),
        plural(coverage.discovered, "account", "accounts"),
        coverage.failed.len(),
        coverage.skipped.len(),
    ))];
    if !coverage.is_complete() {
        summary.push(Rich::new().bold("Not every selected account was swept:").text(format!(
            " {} failed, so the run ends {ACCOUNTS_NOT_SWEPT} (not succeeded) and an alarm on failed runs fires. \
             The accounts swept go on as usual.",
            plural(coverage.failed.len(), "account", "accounts"),
        )));
    }
    let mut parts = vec![Part::Para(summary)];
    let failed = coverage
        .failed
        .iter()
        .map(|f| {
            account_heading(coverage, &f.failure.account_id)
                .text(": ")
                .quote(&f.failure.reason, ERROR_CHARS)
                .text(" — Fix: ")
                .quote(&f.failure.fix, FIX_CHARS)
        })
        .collect();
    push_coverage_list(
        &mut parts,
        "Accounts not swept",
        Some(Rich::new().text("Their sweep failed: nothing in them is evaluated or acted on in this run.")),
        failed,
    );
    let skipped = coverage
        .skipped
        .iter()
        .map(|s| account_heading(coverage, &s.account.id).text(format!(" — {}", s.why)))
        .collect();
    push_coverage_list(&mut parts, "Accounts skipped", None, skipped);
    let unmatched = coverage
        .unmatched
        .iter()
        .map(|u| {
            Rich::new().code(&u.entry.to_string(), NAME_CHARS).text(format!(" in {} names no account", u.variable))
        })
        .collect();
    push_coverage_list(
        &mut parts,
        "Warning: filter entries that match nothing",
        Some(Rich::new().text("An entry that names no account of the organisation includes or excludes nothing.")),
        unmatched,
    );
    let swept = coverage
        .swept
        .iter()
        .map(|a| {
            let line = account_heading(coverage, &a.account_id)
                .text(format!(" — {} listed, {} checked live", a.users_listed, a.users_checked));
            match a.users_not_evaluated {
                0 => line,
                n => line.text(format!(", {n} not evaluated")),
            }
        })
        .collect();
    push_coverage_list(&mut parts, "Accounts swept", None, swept);
    parts.push(Part::Divider);
    parts
}

fn push_coverage_list(parts: &mut Vec<Part>, title: &str, note: Option<Rich>, items: Vec<Rich>) {
    push_bounded(parts, title, note, vec![Group { heading: None, items }], COVERAGE_LIST_BYTES);
}

/// `lines` in groups: in an organisation's message one per account, in account order, each under
/// its heading (lines whose account is not known last, under "account unknown"); in an account's,
/// one group without a heading, in the order given.
pub(super) fn by_account(report: &RunReport, lines: Vec<(Option<&AccountId>, Rich)>) -> Vec<Group> {
    let Some(coverage) = &report.coverage else {
        return vec![Group { heading: None, items: lines.into_iter().map(|(_, line)| line).collect() }];
    };
    let mut groups: BTreeMap<Option<&AccountId>, Vec<Rich>> = BTreeMap::new();
    for (account, line) in lines {
        groups.entry(account).or_default().push(line);
    }
    let unknown = groups.remove(&None);
    groups
        .into_iter()
        .map(|(account, items)| Group { heading: account.map(|a| account_heading(coverage, a)), items })
        .chain(unknown.map(|items| Group { heading: Some(Rich::new().text("account unknown")), items }))
        .collect()
}

/// One line per item, each from `line`, grouped by the account of its key ([`by_account`]).
pub(super) fn keys_by_account<'a, T: 'a>(
    report: &RunReport,
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> &KeyRef,
    line: impl Fn(&T) -> Rich,
) -> Vec<Group> {
    by_account(report, items.into_iter().map(|item| (Some(&key(item).account_id), line(item))).collect())
}

/// One line per user name. In an organisation's report a name is `<account id>:<user name>`: it is
/// grouped by that account and shown without it.
pub(super) fn users_by_account(report: &RunReport, users: &[String]) -> Vec<Group> {
    if report.coverage.is_none() {
        return by_account(report, users.iter().map(|u| (None, Rich::new().code(u, NAME_CHARS))).collect());
    }
    let accounts: Vec<(Option<AccountId>, &str)> = users
        .iter()
        .map(|u| match u.split_once(':').and_then(|(a, name)| Some((AccountId::parse(a)?, name))) {
            Some((account, name)) => (Some(account), name),
            None => (None, u.as_str()),
        })
        .collect();
    by_account(report, accounts.iter().map(|(a, name)| (a.as_ref(), Rich::new().code(name, NAME_CHARS))).collect())
}
