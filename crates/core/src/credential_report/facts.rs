//! What the credential report said about each candidate, handed from list-users to check-user so
//! that check-user reads live only what must be fresh (docs/architecture.md, "The IAM call budget":
//! at most 4 IAM calls per candidate).
//!
//! Under `SCREENING=report`, list-users already holds every candidate's credential-report row. Into
//! each item of `batches.json` (a [`crate::contracts::BatchItem`], which the Distributed Map hands to
//! check-user, built by [`crate::screening::batch_items`]) it puts the rows' `password_enabled` and each key's creation and last use ([`ReportFacts`], at most
//! about 250 bytes a user: a batch of 500, `BATCH_SIZE`'s maximum, stays under half of the 256 KiB
//! a child execution's input may hold). check-user then reads live, per user:
//!
//! - GetUser: that the user still exists, and its tags (exemptions);
//! - ListMFADevices: its MFA devices;
//! - ListAccessKeys: its keys, each key's status and creation (so its age);
//!
//! and takes from the report the console password and the last use of every key the report
//! describes: 3 IAM calls instead of 5 + K (K keys). A key the report does not describe (created
//! since) costs one GetAccessKeyLastUsed; a user without a row (created since the report) and every
//! user under `SCREENING=live` are read fully live, as before.
//!
//! # Why this cannot make keyward act wrongly
//!
//! GenerateCredentialReport reuses a report generated in the last four hours, so the facts taken
//! from it can be that old. What staleness can do, fact by fact:
//!
//! - **Key last use only moves forward.** An older record of it shows a key used *earlier* (or
//!   never), never later: the policy can only see a key as *more* idle than it is, so stale data
//!   adds a `key-unused` finding or warning, it never hides one.
//! - **Console password.** A password removed since the report can add a `no-mfa` finding
//!   (`MFA_SCOPE=console`); one added since can hide one until the next run's report. Screening
//!   already chose the candidates from the same row, so this adds no blind spot screening did not
//!   have: a user whose row showed no password and fresh keys was not checked at all.
//! - **Everything else that decides whether a key may be touched is live**: that the user and the
//!   key exist, the key's status and age, the user's MFA devices, and the tags that exempt.
//! - **A key is matched to its report row by creation time, to the second**, and only when exactly
//!   one reported key of that user was created in that second; otherwise its last use is read live.
//!   The report names no `AccessKeyId`, and a key created since the report matches no row.
//!
//! So the only error the report can introduce in the acting direction is a finding too many: a
//! key planned for deactivation that was used, or a console password removed, in the hours
//! since the report. Such a finding never acts by itself: `deactivate` re-reads every approved key
//! fully live right before acting (GetAccessKeyLastUsed, GetLoginProfile, ListUserTags,
//! ListMFADevices, ListAccessKeys; see [`crate::recheck`]) and skips it as "no longer violates".
//! Each fact taken from the report carries the report's generation time
//! ([`crate::model::Provenance`]) into the finding's evidence and summary, so the run report and
//! the approver see what it rests on. The remaining cost of a stale finding is attention, and at
//! worst a plan pushed over `MAX_DEACTIVATIONS_PER_RUN`, which then deactivates nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::parser::CredentialReportRow;
use crate::model::{KeyUse, Provenance, User};

/// The credential report's facts about the users of one batch (the `report` of a [`crate::contracts::BatchItem`]).
/// Users of the batch without a row are not in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFacts {
    /// When IAM generated the report (`GetCredentialReport`'s `GeneratedTime`).
    pub generated_at: DateTime<Utc>,
    /// By user name.
    pub users: BTreeMap<String, ReportedUser>,
}

/// What the credential report said about one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedUser {
    /// `password_enabled`: whether the user had a console password.
    pub password_enabled: bool,
    /// The keys in the row's two slots (empty slots left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<ReportedKey>,
}

/// One key of a report row. The report names no `AccessKeyId`: the key is known by its creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedKey {
    /// `access_key_N_last_rotated`: when the key was created, to the second.
    pub created: DateTime<Utc>,
    /// `access_key_N_last_used_date`/`_service`/`_region`; `None` if the key was never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<KeyUse>,
}

impl ReportedUser {
    /// The facts of a report row.
    pub fn from_row(row: &CredentialReportRow) -> ReportedUser {
        let keys = row
            .keys
            .iter()
            .filter_map(|slot| {
                let created = slot.last_rotated?;
                Some(ReportedKey {
                    created: created.trunc_subsecs(0),
                    last_used: slot.last_used.map(|at| KeyUse {
                        at,
                        service: slot.last_used_service.clone(),
                        region: slot.last_used_region.clone(),
                    }),
                })
            })
            .collect();
        ReportedUser { password_enabled: row.password_enabled, keys }
    }

    /// The report's record of the key created at `created` (compared to the second): `None` when
    /// no reported key, or more than one, was created in that second. The caller then reads the
    /// key's last use live.
    pub fn key_created_at(&self, created: DateTime<Utc>) -> Option<&ReportedKey> {
        let second = created.trunc_subsecs(0);
        let mut matching = self.keys.iter().filter(|k| k.created.trunc_subsecs(0) == second);
        match (matching.next(), matching.next()) {
            (Some(key), None) => Some(key),
            _ => None,
        }
    }
}

/// `live` with the console password and the last use of every key the report describes replaced
/// by `reported`'s, marked as of `generated_at`: the user as check-user assembles it under
/// `SCREENING=report` (the IAM adapter skips the live calls these facts replace).
pub fn with_report_facts(mut live: User, reported: &ReportedUser, generated_at: DateTime<Utc>) -> User {
    let from_report = Provenance::CredentialReport { generated_at };
    live.has_console_password = reported.password_enabled;
    live.console_password_source = from_report;
    for key in &mut live.access_keys {
        if let Some(row) = reported.key_created_at(key.created) {
            key.last_used = row.last_used.clone();
            key.last_used_source = from_report;
        }
    }
    live
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::credential_report::parse;
    use crate::fixtures::{credential_report, days_ago, no_mfa, now, two_keys_and_no_keys, user};
    use chrono::Duration;

    fn rows() -> Vec<CredentialReportRow> {
        parse(&credential_report(&two_keys_and_no_keys())).unwrap()
    }

    #[test]
    fn a_row_gives_the_password_and_each_key_by_creation() {
        let rows = rows();
        let reported = ReportedUser::from_row(&rows[1]);
        assert_eq!(
            reported,
            ReportedUser {
                password_enabled: true,
                keys: vec![
                    ReportedKey {
                        created: days_ago(200),
                        last_used: Some(KeyUse {
                            at: days_ago(3),
                            service: Some("s3".into()),
                            region: Some("us-east-1".into())
                        }),
                    },
                    ReportedKey { created: days_ago(10), last_used: None },
                ],
            }
        );
        assert_eq!(ReportedUser::from_row(&rows[2]), ReportedUser { password_enabled: false, keys: vec![] });
    }

    #[test]
    fn keys_match_by_creation_to_the_second() {
        let reported = ReportedUser::from_row(&rows()[1]);
        // Live APIs may carry sub-second digits (moto does); the report has whole seconds.
        let live_created = days_ago(200) + Duration::milliseconds(924);
        assert_eq!(reported.key_created_at(live_created).map(|k| k.created), Some(days_ago(200)));
        assert_eq!(reported.key_created_at(days_ago(200) + Duration::seconds(1)), None, "a key created since");
    }

    #[test]
    fn two_reported_keys_created_in_the_same_second_match_neither() {
        let created = now() - Duration::days(30);
        let twin = ReportedKey { created, last_used: None };
        let reported = ReportedUser { password_enabled: false, keys: vec![twin.clone(), twin] };
        assert_eq!(reported.key_created_at(created), None);
    }

    /// The safety argument of this module, as a property: with the same console password, facts
    /// from a report that saw less of each key's use than IAM sees now never hide a key finding,
    /// never turn a finding into a mere warning, and never shrink the plan.
    mod stale_report {
        use super::*;
        use crate::config::PolicyConfig;
        use crate::model::{AccessKey, KeyStatus};
        use crate::policy::{Rule, evaluate};
        use proptest::prelude::*;

        /// (age in days, live last use in days ago, how the report saw it: 0 same, 1 not yet
        /// used, 2 used earlier by this share of the time since creation, in percent).
        fn arb_key() -> impl Strategy<Value = (i64, Option<i64>, u8, i64)> {
            (0i64..300, proptest::option::of(0i64..300), 0u8..3, 0i64..100)
                .prop_map(|(age, used, seen, share)| (age, used.map(|d| d.min(age)), seen, share))
        }

        /// What the policy concluded about keys: (rule, key) findings, (rule, key) warnings, and
        /// the planned keys.
        struct KeyVerdicts {
            findings: Vec<(Rule, String)>,
            warnings: Vec<(Rule, String)>,
            plan: Vec<String>,
        }

        fn key_verdicts(users: &[User], policy: &PolicyConfig) -> KeyVerdicts {
            let eval = evaluate(users, policy, now());
            KeyVerdicts {
                findings: eval.findings.iter().filter_map(|f| Some((f.rule, f.access_key_id.clone()?))).collect(),
                warnings: eval.warnings.iter().map(|w| (w.rule, w.key.access_key_id.clone())).collect(),
                plan: eval.plan.keys.iter().map(|k| k.key.access_key_id.clone()).collect(),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn stale_facts_only_add_key_findings(
                keys in proptest::collection::vec(arb_key(), 0..=2),
                active in any::<[bool; 2]>(),
                console in any::<bool>(),
                report_hours_old in 0i64..=4,
                (age_limit, unused_limit, warn) in (1u32..200, 1u32..200, 0u32..30),
            ) {
                let policy = PolicyConfig {
                    max_key_age_days: age_limit,
                    unused_key_days: unused_limit,
                    warn_days: warn,
                    ..PolicyConfig::default()
                };
                let generated_at = now() - Duration::hours(report_hours_old);
                let mut live = no_mfa(user("u"), console);
                let mut reported = ReportedUser { password_enabled: console, keys: vec![] };
                for (slot, (age, used, seen, share)) in keys.into_iter().enumerate() {
                    // Distinct creation seconds, so each key matches its own row.
                    let created = days_ago(age) - Duration::seconds(slot as i64);
                    let live_use = used.map(|d| KeyUse { at: days_ago(d).max(created), service: None, region: None });
                    let report_use = match (seen, &live_use) {
                        (0, _) | (_, None) => live_use.clone(),
                        (1, Some(_)) => None,
                        (_, Some(u)) => Some(KeyUse { at: created + (u.at - created) * share as i32 / 100, ..u.clone() }),
                    };
                    reported.keys.push(ReportedKey { created, last_used: report_use });
                    live.access_keys.push(AccessKey {
                        id: format!("AKIA{slot}"),
                        status: if active[slot] { KeyStatus::Active } else { KeyStatus::Inactive },
                        created,
                        last_used: live_use,
                        last_used_source: Provenance::Live,
                    });
                }
                let assembled = with_report_facts(live.clone(), &reported, generated_at);

                let live = key_verdicts(&[live], &policy);
                let stale = key_verdicts(&[assembled], &policy);

                for finding in &live.findings {
                    prop_assert!(stale.findings.contains(finding), "{finding:?} hidden: {:?}", stale.findings);
                }
                for warning in &live.warnings {
                    prop_assert!(
                        stale.warnings.contains(warning) || stale.findings.contains(warning),
                        "{warning:?} hidden: {:?} / {:?}", stale.warnings, stale.findings
                    );
                }
                for key in &live.plan {
                    prop_assert!(stale.plan.contains(key), "{key} left the plan: {:?}", stale.plan);
                }
            }
        }
    }
}
