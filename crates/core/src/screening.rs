//! Screening with the credential report (docs/architecture.md, "The IAM call budget"): from the
//! credential report and the live ListUsers names, decide which users need a live per-user check.
//! Screening only narrows the live checks; the policy always judges live data. It must never miss a
//! user the policy could report, so it errs towards checking: thresholds sit a margin day below the
//! earliest day a warning could fire, a user missing from the report (created since) is always
//! checked, as is a user named by a report row that could not be read, and exemptions are ignored
//! (tag exemptions are visible only live, and an honoured exemption is itself reported).
//!
//! [`batch_items`] then turns the batches of candidates into the items of `batches.json`, each with
//! the credential report's facts about its users ([`crate::credential_report::facts`] says why
//! check-user may use them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{MfaScope, PolicyConfig};
use crate::contracts::{BatchItem, Candidate, ScreenReason, UserBatch};
use crate::credential_report::facts::{ReportFacts, ReportedUser};
use crate::credential_report::{CredentialReportRow, ROOT_USER, UnreadableRow};

/// Days subtracted from each key threshold on top of `WARN_DAYS`, so that rounding differences
/// between the report and the live APIs, and the policy's whole-day comparisons, never leave out a
/// key the policy would warn about.
pub const MARGIN_DAYS: u32 = 1;

/// The outcome of screening a run's users.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Screened {
    /// Users to check live, sorted by name, each once.
    pub candidates: Vec<Candidate>,
    /// Listed users screened out: the report shows nothing the policy could report on them.
    pub not_candidates: usize,
    /// Report rows (root excluded) whose user ListUsers no longer returns: deleted since the report
    /// was generated, and ignored.
    pub deleted_since_report: usize,
}

impl Screened {
    /// The candidates' names, in order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.candidates.iter().map(|c| c.user.as_str())
    }
}

/// Screens the users ListUsers returned (`listed_users`; repeats are counted once) against the
/// credential report's readable `rows` and its `unreadable` rows, with the rules of `policy`
/// evaluated at `now`. A listed user an unreadable row names is a candidate
/// ([`ScreenReason::UnreadableReportRow`]), and so is one without a row at all. Deterministic: the
/// result does not depend on the order of `rows` or `listed_users`. The root row is never a
/// candidate, and neither is a report user ListUsers no longer returns.
pub fn screen(
    rows: &[CredentialReportRow],
    unreadable: &[UnreadableRow],
    listed_users: &[String],
    policy: &PolicyConfig,
    now: DateTime<Utc>,
) -> Screened {
    // Several rows for one name cannot come from the parser; if a caller builds them anyway, the
    // union of their reasons keeps the result conservative and independent of row order.
    let mut report: BTreeMap<&str, BTreeSet<ScreenReason>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.is_root && r.user != ROOT_USER) {
        report.entry(row.user.as_str()).or_default().extend(row_reasons(row, policy, now));
    }
    let unreadable: BTreeSet<&str> = unreadable.iter().filter_map(|u| u.user.as_deref()).collect();
    let listed: BTreeSet<&str> = listed_users.iter().map(String::as_str).filter(|u| *u != ROOT_USER).collect();

    let mut screened = Screened {
        deleted_since_report: report.keys().filter(|u| !listed.contains(*u)).count(),
        ..Screened::default()
    };
    for user in listed {
        let mut reasons: BTreeSet<ScreenReason> = report.get(user).cloned().unwrap_or_default();
        if unreadable.contains(user) {
            reasons.insert(ScreenReason::UnreadableReportRow);
        } else if !report.contains_key(user) {
            reasons.insert(ScreenReason::MissingFromReport);
        }
        let reasons: Vec<ScreenReason> = reasons.into_iter().collect();
        if reasons.is_empty() {
            screened.not_candidates += 1;
        } else {
            screened.candidates.push(Candidate { user: user.to_owned(), reasons });
        }
    }
    screened
}

/// `SCREENING=live`: every listed user (each once, sorted) is a candidate with reason
/// [`ScreenReason::Live`].
pub fn all_candidates(listed_users: &[String]) -> Screened {
    let listed: BTreeSet<&str> = listed_users.iter().map(String::as_str).collect();
    Screened {
        candidates: listed
            .into_iter()
            .map(|user| Candidate { user: user.to_owned(), reasons: vec![ScreenReason::Live] })
            .collect(),
        not_candidates: 0,
        deleted_since_report: 0,
    }
}

/// The items of `batches.json`: each batch with, when the report is given (its rows and generation
/// time), the facts about the batch's users that have a row (root and users without a row left
/// out; no facts at all when none has one).
pub fn batch_items(batches: Vec<UserBatch>, report: Option<(&[CredentialReportRow], DateTime<Utc>)>) -> Vec<BatchItem> {
    let by_name: BTreeMap<&str, &CredentialReportRow> = report
        .map(|(rows, _)| rows.iter().filter(|r| !r.is_root).map(|r| (r.user.as_str(), r)).collect())
        .unwrap_or_default();
    batches
        .into_iter()
        .map(|batch| {
            let facts = report.and_then(|(_, generated_at)| {
                let users: BTreeMap<String, ReportedUser> = batch
                    .users
                    .iter()
                    .filter_map(|name| Some((name.clone(), ReportedUser::from_row(by_name.get(name.as_str())?))))
                    .collect();
                (!users.is_empty()).then_some(ReportFacts { generated_at, users })
            });
            BatchItem { index: batch.index, users: batch.users, report: facts }
        })
        .collect()
}

/// The reasons the report gives to check this (non-root) row's user live.
fn row_reasons(row: &CredentialReportRow, policy: &PolicyConfig, now: DateTime<Utc>) -> BTreeSet<ScreenReason> {
    let mut reasons = BTreeSet::new();
    let in_mfa_scope = match policy.mfa_scope {
        MfaScope::Console => row.password_enabled,
        MfaScope::All => true,
    };
    if in_mfa_scope && !row.mfa_active {
        reasons.insert(ScreenReason::NoMfa);
    }
    let near_age = threshold(policy.max_key_age_days, policy.warn_days);
    let near_unused = threshold(policy.unused_key_days, policy.warn_days);
    for key in row.active_keys() {
        // An active key without a date cannot be shown to be fresh, so it is checked.
        if key.last_rotated.is_none_or(|t| now - t >= near_age) {
            reasons.insert(ScreenReason::KeyNearAge);
        }
        if key.last_activity().is_none_or(|t| now - t >= near_unused) {
            reasons.insert(ScreenReason::KeyNearUnused);
        }
    }
    reasons
}

/// How long ago an event must be for screening to check the key: `limit - warn - MARGIN_DAYS`
/// days, never below zero. The policy's first warning comes at `limit + 1 - warn` whole days, so
/// this leaves two days to spare.
fn threshold(limit_days: u32, warn_days: u32) -> Duration {
    Duration::days(i64::from(limit_days.saturating_sub(warn_days).saturating_sub(MARGIN_DAYS)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::NoMfaAction;
    use crate::credential_report::ReportKey;
    use crate::fixtures::{days_ago, now};
    use crate::model::{AccessKey, KeyStatus, KeyUse, User};
    use crate::policy;
    use proptest::prelude::*;

    fn no_key(slot: u8) -> ReportKey {
        ReportKey {
            slot,
            active: false,
            last_rotated: None,
            last_used: None,
            last_used_region: None,
            last_used_service: None,
        }
    }

    fn key(slot: u8, rotated: DateTime<Utc>, used: Option<DateTime<Utc>>) -> ReportKey {
        ReportKey {
            slot,
            active: true,
            last_rotated: Some(rotated),
            last_used: used,
            last_used_region: used.map(|_| "us-east-1".into()),
            last_used_service: used.map(|_| "s3".into()),
        }
    }

    /// A user with MFA, a console password and a fresh, recently used key: nothing to check.
    fn healthy(name: &str) -> CredentialReportRow {
        CredentialReportRow {
            user: name.into(),
            arn: format!("arn:aws:iam::123456789012:user/{name}"),
            user_creation_time: days_ago(400),
            password_enabled: true,
            password_last_used: Some(days_ago(1)),
            mfa_active: true,
            is_root: false,
            keys: [key(1, days_ago(10), Some(days_ago(1))), no_key(2)],
        }
    }

    fn root() -> CredentialReportRow {
        CredentialReportRow {
            user: ROOT_USER.into(),
            arn: "arn:aws:iam::123456789012:root".into(),
            user_creation_time: days_ago(2000),
            password_enabled: false,
            password_last_used: None,
            mfa_active: false,
            is_root: true,
            keys: [key(1, days_ago(1000), None), no_key(2)],
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn reasons_of(rows: &[CredentialReportRow], policy: &PolicyConfig) -> Vec<ScreenReason> {
        let listed: Vec<String> = rows.iter().map(|r| r.user.clone()).collect();
        let screened = screen(rows, &[], &listed, policy, now());
        screened.candidates.into_iter().flat_map(|c| c.reasons).collect()
    }

    #[test]
    fn healthy_user_is_not_a_candidate() {
        let screened = screen(&[healthy("alice")], &[], &names(&["alice"]), &PolicyConfig::default(), now());
        assert_eq!(screened, Screened { candidates: vec![], not_candidates: 1, deleted_since_report: 0 });
    }

    #[test]
    fn console_user_without_mfa_is_a_candidate() {
        let row = CredentialReportRow { mfa_active: false, ..healthy("alice") };
        assert_eq!(reasons_of(&[row], &PolicyConfig::default()), vec![ScreenReason::NoMfa]);
    }

    #[test]
    fn no_mfa_candidate_whatever_the_no_mfa_action() {
        let row = CredentialReportRow { mfa_active: false, ..healthy("alice") };
        let warn = PolicyConfig { no_mfa_action: NoMfaAction::Warn, ..PolicyConfig::default() };
        assert_eq!(reasons_of(&[row], &warn), vec![ScreenReason::NoMfa]);
    }

    #[test]
    fn programmatic_user_without_mfa_depends_on_scope() {
        // GIVEN a programmatic-only user (no console password) without MFA
        let row = CredentialReportRow { mfa_active: false, password_enabled: false, ..healthy("svc-ci") };
        // THEN scope console leaves it out, scope all checks it
        assert_eq!(reasons_of(std::slice::from_ref(&row), &PolicyConfig::default()), vec![]);
        let all = PolicyConfig { mfa_scope: MfaScope::All, ..PolicyConfig::default() };
        assert_eq!(reasons_of(&[row], &all), vec![ScreenReason::NoMfa]);
    }

    #[test]
    fn key_age_threshold_is_limit_minus_warn_minus_margin() {
        // Defaults 90/14: the threshold is 75 days.
        let policy = PolicyConfig::default();
        let at =
            |rotated| CredentialReportRow { keys: [key(1, rotated, Some(days_ago(0))), no_key(2)], ..healthy("a") };
        assert_eq!(reasons_of(&[at(days_ago(75))], &policy), vec![ScreenReason::KeyNearAge], "exactly at threshold");
        assert_eq!(reasons_of(&[at(days_ago(75) + Duration::seconds(1))], &policy), vec![], "a second short");
        assert_eq!(reasons_of(&[at(days_ago(200))], &policy), vec![ScreenReason::KeyNearAge]);
    }

    #[test]
    fn margin_day_sits_before_the_first_warning() {
        // The policy warns first at 77 whole days (90 + 1 - 14); screening checks from 75.
        let policy = PolicyConfig::default();
        let row = CredentialReportRow { keys: [key(1, days_ago(76), Some(days_ago(0))), no_key(2)], ..healthy("a") };
        assert_eq!(reasons_of(&[row], &policy), vec![ScreenReason::KeyNearAge]);
        let no_margin = threshold(90, 14) + Duration::days(i64::from(MARGIN_DAYS));
        assert_eq!(no_margin, Duration::days(76));
    }

    #[test]
    fn key_unused_threshold_counts_from_last_use() {
        let policy = PolicyConfig { unused_key_days: 30, warn_days: 5, ..PolicyConfig::default() };
        // Threshold 24 days; the key itself is young enough for the age rule.
        let used = |at| CredentialReportRow { keys: [key(1, days_ago(40), Some(at)), no_key(2)], ..healthy("a") };
        assert_eq!(
            reasons_of(&[used(days_ago(24))], &policy),
            vec![ScreenReason::KeyNearUnused],
            "exactly at threshold"
        );
        assert_eq!(reasons_of(&[used(days_ago(24) + Duration::seconds(1))], &policy), vec![]);
    }

    #[test]
    fn never_used_key_counts_from_rotation() {
        let policy = PolicyConfig { unused_key_days: 30, warn_days: 5, ..PolicyConfig::default() };
        let row = |rotated| CredentialReportRow { keys: [key(1, rotated, None), no_key(2)], ..healthy("a") };
        assert_eq!(reasons_of(&[row(days_ago(24))], &policy), vec![ScreenReason::KeyNearUnused]);
        assert_eq!(reasons_of(&[row(days_ago(23))], &policy), vec![]);
    }

    #[test]
    fn inactive_keys_are_not_reasons() {
        let mut old = key(1, days_ago(500), None);
        old.active = false;
        let row = CredentialReportRow { keys: [old, no_key(2)], ..healthy("a") };
        assert_eq!(reasons_of(&[row], &PolicyConfig::default()), vec![]);
    }

    #[test]
    fn active_key_without_dates_is_checked() {
        let mut undated = key(1, days_ago(0), None);
        undated.last_rotated = None;
        let row = CredentialReportRow { keys: [undated, no_key(2)], ..healthy("a") };
        assert_eq!(
            reasons_of(&[row], &PolicyConfig::default()),
            vec![ScreenReason::KeyNearAge, ScreenReason::KeyNearUnused]
        );
    }

    #[test]
    fn reasons_are_sorted_and_not_repeated() {
        let row = CredentialReportRow {
            mfa_active: false,
            keys: [key(1, days_ago(300), None), key(2, days_ago(200), Some(days_ago(150)))],
            ..healthy("a")
        };
        assert_eq!(
            reasons_of(&[row], &PolicyConfig::default()),
            vec![ScreenReason::NoMfa, ScreenReason::KeyNearAge, ScreenReason::KeyNearUnused]
        );
    }

    #[test]
    fn warn_days_beyond_the_limit_checks_every_active_key() {
        let policy =
            PolicyConfig { max_key_age_days: 10, unused_key_days: 10, warn_days: 365, ..PolicyConfig::default() };
        let row = CredentialReportRow { keys: [key(1, now(), Some(now())), no_key(2)], ..healthy("a") };
        assert_eq!(reasons_of(&[row], &policy), vec![ScreenReason::KeyNearAge, ScreenReason::KeyNearUnused]);
        assert_eq!(threshold(10, 365), Duration::zero());
        assert_eq!(threshold(u32::MAX, 0), Duration::days(i64::from(u32::MAX) - 1));
    }

    #[test]
    fn user_missing_from_report_is_always_a_candidate() {
        let screened = screen(&[healthy("alice")], &[], &names(&["alice", "bob"]), &PolicyConfig::default(), now());
        assert_eq!(
            screened.candidates,
            vec![Candidate { user: "bob".into(), reasons: vec![ScreenReason::MissingFromReport] }]
        );
        assert_eq!(screened.not_candidates, 1);
    }

    #[test]
    fn user_deleted_since_report_is_ignored() {
        let gone = CredentialReportRow { mfa_active: false, ..healthy("gone") };
        let screened = screen(&[healthy("alice"), gone], &[], &names(&["alice"]), &PolicyConfig::default(), now());
        assert_eq!(screened.candidates, vec![]);
        assert_eq!(screened.not_candidates, 1);
        assert_eq!(screened.deleted_since_report, 1);
    }

    #[test]
    fn root_row_is_never_a_candidate() {
        // Root has no MFA and an ancient active key in this report; scope all would catch anyone else.
        let all = PolicyConfig { mfa_scope: MfaScope::All, ..PolicyConfig::default() };
        let screened = screen(&[root(), healthy("alice")], &[], &names(&["alice"]), &all, now());
        assert_eq!(screened, Screened { candidates: vec![], not_candidates: 1, deleted_since_report: 0 });
        // Even if a caller listed it by name.
        let screened = screen(&[root()], &[], &names(&[ROOT_USER]), &all, now());
        assert_eq!(screened.candidates, vec![]);
    }

    #[test]
    fn exemptions_are_ignored_by_screening() {
        let policy = PolicyConfig {
            exempt_users: vec![crate::config::ExemptEntry::Name("a".into())],
            ..PolicyConfig::default()
        };
        let row = CredentialReportRow { mfa_active: false, ..healthy("a") };
        assert_eq!(reasons_of(&[row], &policy), vec![ScreenReason::NoMfa]);
    }

    #[test]
    fn listed_repeats_count_once_and_candidates_are_sorted() {
        let rows = [CredentialReportRow { mfa_active: false, ..healthy("zed") }, healthy("amy")];
        let screened = screen(&rows, &[], &names(&["zed", "new", "amy", "zed"]), &PolicyConfig::default(), now());
        assert_eq!(screened.users().collect::<Vec<_>>(), vec!["new", "zed"]);
        assert_eq!(screened.not_candidates, 1);
    }

    fn unreadable(line: u64, user: Option<&str>) -> UnreadableRow {
        UnreadableRow { line, user: user.map(str::to_owned), reason: format!("credential report line {line}: why") }
    }

    #[test]
    fn user_of_an_unreadable_row_is_a_candidate_read_live() {
        // GIVEN a healthy user, a user whose row could not be read, and a row that names nobody
        let bad = [unreadable(4, Some("smith,john")), unreadable(7, None)];
        let listed = names(&["alice", "smith,john", "newcomer"]);

        let screened = screen(&[healthy("alice")], &bad, &listed, &PolicyConfig::default(), now());

        // THEN the unreadable row's user is checked for it, the user without any row as before
        assert_eq!(
            screened.candidates,
            vec![
                Candidate { user: "newcomer".into(), reasons: vec![ScreenReason::MissingFromReport] },
                Candidate { user: "smith,john".into(), reasons: vec![ScreenReason::UnreadableReportRow] },
            ]
        );
        assert_eq!((screened.not_candidates, screened.deleted_since_report), (1, 0));
    }

    #[test]
    fn an_unreadable_row_makes_its_user_a_candidate_whatever_its_readable_row_says() {
        // The parser leaves out the readable row of such a user; a caller that keeps it still gets
        // the user checked.
        let bad = [unreadable(6, Some("alice"))];
        let screened = screen(&[healthy("alice")], &bad, &names(&["alice"]), &PolicyConfig::default(), now());
        assert_eq!(screened.candidates[0].reasons, vec![ScreenReason::UnreadableReportRow]);
        let no_mfa = CredentialReportRow { mfa_active: false, ..healthy("alice") };
        let screened = screen(&[no_mfa], &bad, &names(&["alice"]), &PolicyConfig::default(), now());
        assert_eq!(screened.candidates[0].reasons, vec![ScreenReason::NoMfa, ScreenReason::UnreadableReportRow]);
    }

    #[test]
    fn unreadable_rows_of_users_not_listed_are_ignored() {
        let bad = [unreadable(3, Some("gone")), unreadable(4, Some(ROOT_USER))];
        let screened = screen(&[healthy("alice")], &bad, &names(&["alice"]), &PolicyConfig::default(), now());
        assert_eq!(screened, Screened { candidates: vec![], not_candidates: 1, deleted_since_report: 0 });
    }

    #[test]
    fn live_screening_checks_everyone() {
        let screened = all_candidates(&names(&["b", "a", "b"]));
        assert_eq!(
            screened.candidates,
            vec![
                Candidate { user: "a".into(), reasons: vec![ScreenReason::Live] },
                Candidate { user: "b".into(), reasons: vec![ScreenReason::Live] },
            ]
        );
        assert_eq!(screened.not_candidates, 0);
    }

    fn report_key(slot: u8) -> impl Strategy<Value = ReportKey> {
        // Up to 45 days before `now`, at one-second resolution: small ranges for ages and limits
        // alike make keys land near the thresholds often.
        let ago = (0i64..45 * 86_400).prop_map(|s| now() - Duration::seconds(s));
        (any::<bool>(), any::<bool>(), ago.clone(), ago).prop_map(move |(exists, active, rotated, used)| {
            if !exists {
                return no_key(slot);
            }
            // A key cannot be used before it exists.
            let used = (used >= rotated).then_some(used);
            ReportKey { active, ..key(slot, rotated, used) }
        })
    }

    fn report_row() -> impl Strategy<Value = CredentialReportRow> {
        (
            prop::sample::select(vec!["ann", "bob", "cy", "dee", "ed", "flo"]),
            any::<bool>(),
            any::<bool>(),
            report_key(1),
            report_key(2),
        )
            .prop_map(|(name, password, mfa, k1, k2)| CredentialReportRow {
                password_enabled: password,
                mfa_active: mfa,
                keys: [k1, k2],
                ..healthy(name)
            })
    }

    fn policy_config() -> impl Strategy<Value = PolicyConfig> {
        (1u32..40, 1u32..40, 0u32..45, any::<bool>(), any::<bool>()).prop_map(|(age, unused, warn, all, warn_only)| {
            PolicyConfig {
                max_key_age_days: age,
                unused_key_days: unused,
                warn_days: warn,
                mfa_scope: if all { MfaScope::All } else { MfaScope::Console },
                no_mfa_action: if warn_only { NoMfaAction::Warn } else { NoMfaAction::DeactivateKeys },
                ..PolicyConfig::default()
            }
        })
    }

    /// The live user the report row describes, with every timestamp shifted by `jitter` (live APIs
    /// and the report need not round alike).
    fn live_user(row: &CredentialReportRow, jitter: Duration) -> User {
        User {
            name: row.user.clone(),
            arn: crate::model::UserArn::parse(&row.arn).unwrap(),
            path: "/".into(),
            created: row.user_creation_time,
            has_console_password: row.password_enabled,
            console_password_source: Default::default(),
            mfa_devices: if row.mfa_active {
                vec![format!("arn:aws:iam::123456789012:mfa/{}", row.user)]
            } else {
                vec![]
            },
            tags: Default::default(),
            access_keys: row
                .keys
                .iter()
                .filter(|k| k.exists())
                .map(|k| AccessKey {
                    id: format!("AKIA{}{}", row.user.to_uppercase(), k.slot),
                    status: if k.active { KeyStatus::Active } else { KeyStatus::Inactive },
                    created: k.last_rotated.unwrap_or_else(now) + jitter,
                    last_used: k.last_used.map(|at| KeyUse { at: at + jitter, service: None, region: None }),
                    last_used_source: Default::default(),
                })
                .collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn result_does_not_depend_on_input_order(
            (rows, shuffled_rows) in proptest::collection::btree_map(
                prop::sample::select(vec!["ann", "bob", "cy", "dee", "ed", "flo"]), report_row(), 0..6
            )
            .prop_map(|m| m.into_iter().map(|(name, r)| CredentialReportRow { user: name.to_owned(), ..r }).collect::<Vec<_>>())
            .prop_flat_map(|rows| (Just(rows.clone()), Just(rows).prop_shuffle())),
            (listed, shuffled_listed) in proptest::collection::vec(
                prop::sample::select(vec!["ann", "bob", "cy", "dee", "ed", "flo", "gus", "hal"]).prop_map(str::to_owned), 0..10
            )
            .prop_flat_map(|l| (Just(l.clone()), Just(l).prop_shuffle())),
            policy in policy_config(),
        ) {
            prop_assert_eq!(screen(&rows, &[], &listed, &policy, now()), screen(&shuffled_rows, &[], &shuffled_listed, &policy, now()));
        }

        /// Whatever the policy would report on the user's live data, which is the report's data up
        /// to half a day of rounding either way, makes the user a candidate.
        #[test]
        fn every_user_the_policy_could_report_is_a_candidate(
            row in report_row(),
            policy in policy_config(),
            jitter_seconds in -43_200i64..=43_200,
        ) {
            let evaluation = policy::evaluate(&[live_user(&row, Duration::seconds(jitter_seconds))], &policy, now());
            let screened = screen(std::slice::from_ref(&row), &[], std::slice::from_ref(&row.user), &policy, now());
            let is_candidate = screened.candidates.iter().any(|c| c.user == row.user);
            prop_assert!(
                is_candidate || (evaluation.findings.is_empty() && evaluation.warnings.is_empty()),
                "screened out, yet the policy reports {:?} / {:?}", evaluation.findings, evaluation.warnings
            );
            prop_assert_eq!(screened.candidates.len() + screened.not_candidates, 1);
        }

        /// Screening narrows: a user with MFA (or outside the MFA scope) whose active keys are all
        /// inside both thresholds is not a candidate, and any other user is.
        #[test]
        fn only_users_with_a_reason_are_candidates(row in report_row(), policy in policy_config()) {
            let fresh = |t: Option<DateTime<Utc>>, limit: u32| {
                t.is_some_and(|t| now() - t < threshold(limit, policy.warn_days))
            };
            let mfa_ok = row.mfa_active || (policy.mfa_scope == MfaScope::Console && !row.password_enabled);
            let clean = mfa_ok
                && row.active_keys().all(|k| fresh(k.last_rotated, policy.max_key_age_days) && fresh(k.last_activity(), policy.unused_key_days));
            let screened = screen(std::slice::from_ref(&row), &[], std::slice::from_ref(&row.user), &policy, now());
            prop_assert_eq!(screened.candidates.is_empty(), clean);
        }
    }

    /// The facts about each batch's users that go into `batches.json`.
    mod batches {
        use super::super::*;
        use crate::credential_report::parse;
        use crate::fixtures::{credential_report, now, two_keys_and_no_keys, user};

        fn rows() -> Vec<CredentialReportRow> {
            parse(&credential_report(&two_keys_and_no_keys())).unwrap()
        }

        #[test]
        fn each_batch_item_gets_the_rows_of_its_users_and_no_others() {
            let batches = vec![
                UserBatch { index: 0, users: vec!["newcomer".into(), "two-keys".into()] },
                UserBatch { index: 1, users: vec!["created-since".into()] },
                UserBatch { index: 2, users: vec!["no-keys".into(), "<root_account>".into()] },
            ];
            let rows = rows();
            let generated = now() - Duration::hours(3);

            let items = batch_items(batches.clone(), Some((&rows, generated)));

            let names = |i: usize| items[i].report.as_ref().map(|r| r.users.keys().cloned().collect::<Vec<_>>());
            assert_eq!(names(0), Some(vec!["two-keys".to_owned()]), "newcomer has no row");
            assert_eq!(names(1), None, "no user of batch 1 has a row");
            assert_eq!(names(2), Some(vec!["no-keys".to_owned()]), "never the root row");
            assert!(items.iter().filter_map(|i| i.report.as_ref()).all(|r| r.generated_at == generated));
            assert_eq!(
                items.iter().map(|i| i.batch()).collect::<Vec<_>>(),
                batches,
                "the batches themselves unchanged"
            );
            // Without the report, the items are the bare batches.
            assert!(batch_items(batches, None).iter().all(|i| i.report.is_none()));
        }

        #[test]
        fn the_user_of_an_unreadable_row_gets_no_report_facts() {
            // GIVEN a report whose comma user was written without quotes, as moto writes it
            let text = credential_report(&[user("alice"), user("smith,john")]);
            let report = crate::credential_report::ParsedReport::from_text(&text).unwrap();
            let listed = vec!["alice".to_owned(), "smith,john".to_owned()];
            let screened =
                screen(&report.rows, &report.unreadable, &listed, &crate::config::PolicyConfig::default(), now());
            assert_eq!(screened.users().collect::<Vec<_>>(), vec!["smith,john"]);

            // WHEN its batch item is built
            let batches = vec![UserBatch { index: 0, users: vec!["smith,john".into()] }];
            let items = batch_items(batches, Some((&report.rows, now())));

            // THEN check-user gets no facts about it: it reads the user fully live
            assert_eq!(items[0].report, None);
        }

        #[test]
        fn batch_item_round_trips_and_stays_small() {
            let batches = vec![UserBatch { index: 0, users: vec!["two-keys".into(), "no-keys".into()] }];
            let item = batch_items(batches, Some((&rows(), now()))).remove(0);
            let json = serde_json::to_string(&item).unwrap();
            assert_eq!(serde_json::from_str::<BatchItem>(&json).unwrap(), item);
            // Two users, two keys between them: well under a kilobyte (a Map item may hold 256 KiB).
            assert!(json.len() < 600, "{} bytes: {json}", json.len());
        }
    }
}
