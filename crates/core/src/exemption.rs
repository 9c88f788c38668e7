//! Exemptions: who is left alone, and why. A user is exempt when `EXEMPT_USERS` names them or a
//! path prefix of theirs, or when they carry the tag `keyward:exempt-until` = `YYYY-MM-DD` and that
//! date is from today (inclusive, UTC) to `MAX_EXEMPTION_DAYS` ahead; the optional tag
//! `keyward:exempt-reason` says why. Two tags, because IAM tag values take only
//! `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`: no `;` to join a date and a reason in one value.
//!
//! Either list's entry applies in every account of the organisation, or, written
//! `<account id>:<entry>`, in that account only: matched against the account of the user's ARN.
//!
//! `PROTECTED_USERS` (names and path prefixes) goes further than an exemption: it comes first, and
//! deactivate checks it again, with the configuration in force when it acts, before every key.
//!
//! A tag that does not exempt is reported, with the reason: a date that is not `YYYY-MM-DD`, a date
//! that has passed, a date too far ahead (anyone allowed `iam:TagUser` can write the tag, so the
//! limit bounds what such a person can grant), a reason without a date, and the single tag
//! `keyward:exempt` of earlier releases, which no longer exempts anyone.
//!
//! This module sits below the policy: it says who is exempt and why, and the policy asks it. What an
//! honoured exemption held back ([`crate::policy::Exemption`]) names the policy's rules, so that
//! record is one of the policy's conclusions and lives with them.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ExemptEntry, PolicyConfig};
use crate::model::User;
use crate::org::AccountId;

/// The tag whose value, `YYYY-MM-DD`, exempts the user through that day (inclusive, UTC).
pub const EXEMPT_UNTIL_TAG: &str = "keyward:exempt-until";
/// The optional tag saying why the user is exempt (free text, shown in the messages).
pub const EXEMPT_REASON_TAG: &str = "keyward:exempt-reason";
/// The single tag of earlier releases (`until=YYYY-MM-DD;reason=…`, a value IAM cannot store). It
/// exempts nobody; a user carrying it is reported, so that it gets replaced by the two tags above.
pub const OLD_EXEMPT_TAG: &str = "keyward:exempt";

/// Why a user was exempt in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ExemptionSource {
    /// `PROTECTED_USERS` names the user or a path prefix of theirs (`entry`): their keys are never
    /// planned, and deactivate never touches them whatever a plan says.
    Protected { entry: String },
    /// `EXEMPT_USERS` lists the user by name; `account_id` when the entry is for that account only.
    ConfigName {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_id: Option<AccountId>,
    },
    /// `EXEMPT_USERS` lists a path prefix of the user; `account_id` when the entry is for that
    /// account only.
    ConfigPath {
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_id: Option<AccountId>,
    },
    /// The `keyward:exempt-until` tag, valid through `until` (inclusive, UTC), and the
    /// `keyward:exempt-reason` tag when there is one.
    Tag { until: NaiveDate, reason: Option<String> },
}

/// An exemption tag that does not exempt, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionProblem {
    /// The account the user is in (from the user's ARN), so an organisation's digest names it.
    /// Absent only in a report written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    /// The tagged user.
    pub user_name: String,
    /// The tag's key: `keyward:exempt-until`, `keyward:exempt-reason` or `keyward:exempt`.
    pub tag: String,
    /// The tag value as found.
    pub tag_value: String,
    /// What is wrong with it.
    pub problem: ExemptionProblemKind,
}

/// What is wrong with an exemption tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ExemptionProblemKind {
    /// `keyward:exempt-until` is not a `YYYY-MM-DD` date.
    MalformedDate,
    /// `keyward:exempt-until` is a day before today (UTC).
    Expired { until: NaiveDate },
    /// `keyward:exempt-until` is after `latest`, today plus `MAX_EXEMPTION_DAYS`.
    TooFarAhead { until: NaiveDate, latest: NaiveDate, max_exemption_days: u32 },
    /// `keyward:exempt-reason` is set but `keyward:exempt-until` is not.
    ReasonWithoutUntil,
    /// The single tag `keyward:exempt` of earlier releases.
    OldFormat,
}

/// Reads a `keyward:exempt-until` value: exactly `YYYY-MM-DD` (four, two and two digits), a day
/// that exists, whitespace around it ignored.
pub fn parse_until(value: &str) -> Option<NaiveDate> {
    let value = value.trim();
    let shape = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shape.then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()).flatten()
}

/// Decides whether `user` is exempt at `now` under `config`: the exemption that applies (config
/// first, then the tags), and every exemption tag of theirs that does not exempt, in the order
/// until, reason, old format.
pub fn exemption_for(
    user: &User,
    config: &PolicyConfig,
    now: DateTime<Utc>,
) -> (Option<ExemptionSource>, Vec<ExemptionProblem>) {
    let problem = |tag: &str, problem: ExemptionProblemKind| ExemptionProblem {
        account_id: Some(user.arn.account().clone()),
        user_name: user.name.clone(),
        tag: tag.to_owned(),
        tag_value: user.tags.get(tag).cloned().unwrap_or_default(),
        problem,
    };
    let mut problems = Vec::new();
    let reason = user.tags.get(EXEMPT_REASON_TAG).map(|r| r.trim()).filter(|r| !r.is_empty());
    let from_tag = match user.tags.get(EXEMPT_UNTIL_TAG) {
        Some(value) => match tag_until(value, config.max_exemption_days, now) {
            Ok(until) => Some(ExemptionSource::Tag { until, reason: reason.map(str::to_owned) }),
            Err(kind) => {
                problems.push(problem(EXEMPT_UNTIL_TAG, kind));
                None
            }
        },
        None => {
            if reason.is_some() {
                problems.push(problem(EXEMPT_REASON_TAG, ExemptionProblemKind::ReasonWithoutUntil));
            }
            None
        }
    };
    if user.tags.contains_key(OLD_EXEMPT_TAG) {
        problems.push(problem(OLD_EXEMPT_TAG, ExemptionProblemKind::OldFormat));
    }
    let account = user.arn.account();
    let from_config =
        config.exempt_users.iter().find(|e| e.matches(account, &user.name, &user.path)).map(|e| match e {
            ExemptEntry::Name(name) | ExemptEntry::AccountName { name, .. } => {
                ExemptionSource::ConfigName { name: name.clone(), account_id: e.account().cloned() }
            }
            ExemptEntry::PathPrefix(prefix) | ExemptEntry::AccountPathPrefix { prefix, .. } => {
                ExemptionSource::ConfigPath { prefix: prefix.clone(), account_id: e.account().cloned() }
            }
        });
    (protection(user, config).or(from_config).or(from_tag), problems)
}

/// The `PROTECTED_USERS` entry that protects `user` under `config`, if any: it comes before any
/// exemption, since nothing (a tag, a plan, an approval) can lift it.
pub fn protection(user: &User, config: &PolicyConfig) -> Option<ExemptionSource> {
    protected_by(user.arn.account(), &user.name, &user.path, config).map(|entry| ExemptionSource::Protected { entry })
}

/// The `PROTECTED_USERS` entry matching the user `name` at `path` in `account`, as written in the
/// variable.
pub fn protected_by(account: &AccountId, name: &str, path: &str, config: &PolicyConfig) -> Option<String> {
    config.protected_users.iter().find(|e| e.matches(account, name, path)).map(ToString::to_string)
}

/// The day a `keyward:exempt-until` value exempts through, if it exempts at `now`: from today to
/// today + `max_days`, both inclusive (UTC days).
fn tag_until(value: &str, max_days: u32, now: DateTime<Utc>) -> Result<NaiveDate, ExemptionProblemKind> {
    let until = parse_until(value).ok_or(ExemptionProblemKind::MalformedDate)?;
    let today = now.date_naive();
    let latest = today.checked_add_days(Days::new(u64::from(max_days))).unwrap_or(NaiveDate::MAX);
    if until < today {
        Err(ExemptionProblemKind::Expired { until })
    } else if until > latest {
        Err(ExemptionProblemKind::TooFarAhead { until, latest, max_exemption_days: max_days })
    } else {
        Ok(until)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn until_is_exactly_a_calendar_date() {
        assert_eq!(parse_until("2026-12-31"), Some(d("2026-12-31")));
        assert_eq!(parse_until(" 2026-12-31 "), Some(d("2026-12-31")), "whitespace around is ignored");
        for value in [
            "",
            "forever",
            "31/12/2026",
            "2026-2-03",
            "2026-02-3",
            "+2026-02-03",
            "02026-02-03",
            "2026-02-30",
            "2026-13-01",
            "2026-12-31T00:00",
            "until=2026-12-31",
            "2026 12 31",
            "２０２６-１２-３１",
        ] {
            assert_eq!(parse_until(value), None, "{value:?}");
        }
    }
}
