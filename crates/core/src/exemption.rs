//! Exemptions: who is left alone, and why. A user is exempt when `EXEMPT_USERS` names them or a
//! path prefix of theirs, or when they carry the tag `keyward:exempt` = `until=YYYY-MM-DD[;reason=…]`
//! and that date is today or later. An expired or malformed tag does not exempt; it is reported.
//!
//! This module sits below the policy: it says who is exempt and why, and the policy asks it. What an
//! honoured exemption held back ([`crate::policy::Exemption`]) names the policy's rules, so that
//! record is one of the policy's conclusions and lives with them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ExemptEntry;
use crate::model::User;

/// The tag key that exempts a user until a date.
pub const EXEMPT_TAG: &str = "keyward:exempt";

/// Why a user was exempt in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ExemptionSource {
    /// `EXEMPT_USERS` lists the user by name.
    ConfigName { name: String },
    /// `EXEMPT_USERS` lists a path prefix of the user.
    ConfigPath { prefix: String },
    /// The `keyward:exempt` tag, valid through `until` (inclusive, UTC).
    Tag { until: NaiveDate, reason: Option<String> },
}

/// A `keyward:exempt` tag that does not exempt, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionProblem {
    /// The tagged user.
    pub user_name: String,
    /// The tag value as found.
    pub tag_value: String,
    /// What is wrong with it, e.g. `expired on 2026-01-31`.
    pub problem: String,
}

/// What the tag says, or why it says nothing valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagExemption {
    /// Valid through `until` (inclusive).
    Until { until: NaiveDate, reason: Option<String> },
    /// Not a valid `until=YYYY-MM-DD[;reason=…]` value.
    Malformed(String),
}

/// Parses a `keyward:exempt` tag value: `until=YYYY-MM-DD` optionally followed by `;reason=…`.
pub fn parse_tag(value: &str) -> TagExemption {
    let mut until = None;
    let mut reason = None;
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return TagExemption::Malformed(format!("{part:?} is not key=value"));
        };
        match k.trim() {
            "until" if until.is_none() => match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
                Ok(d) => until = Some(d),
                Err(_) => return TagExemption::Malformed(format!("until={:?} is not a YYYY-MM-DD date", v.trim())),
            },
            "reason" if reason.is_none() => reason = Some(v.trim().to_owned()).filter(|r| !r.is_empty()),
            other => return TagExemption::Malformed(format!("unexpected or repeated field {other:?}")),
        }
    }
    match until {
        Some(until) => TagExemption::Until { until, reason },
        None => TagExemption::Malformed("missing until=YYYY-MM-DD".to_owned()),
    }
}

/// Decides whether `user` is exempt at `now`: the exemption that applies (config first, then tag),
/// and a problem to report when the user carries a tag that does not exempt.
pub fn exemption_for(
    user: &User,
    exempt_users: &[ExemptEntry],
    now: DateTime<Utc>,
) -> (Option<ExemptionSource>, Option<ExemptionProblem>) {
    let from_tag = user.tags.get(EXEMPT_TAG).map(|value| {
        let problem =
            |problem: String| ExemptionProblem { user_name: user.name.clone(), tag_value: value.clone(), problem };
        match parse_tag(value) {
            TagExemption::Until { until, reason } if now.date_naive() <= until => {
                Ok(ExemptionSource::Tag { until, reason })
            }
            TagExemption::Until { until, .. } => Err(problem(format!("expired on {until}"))),
            TagExemption::Malformed(why) => Err(problem(format!("malformed: {why}"))),
        }
    });
    let from_config = exempt_users.iter().find(|e| e.matches(&user.name, &user.path)).map(|e| match e {
        ExemptEntry::Name(name) => ExemptionSource::ConfigName { name: name.clone() },
        ExemptEntry::PathPrefix(prefix) => ExemptionSource::ConfigPath { prefix: prefix.clone() },
    });
    match (from_config, from_tag) {
        (Some(source), Some(Err(problem))) => (Some(source), Some(problem)),
        (Some(source), _) => (Some(source), None),
        (None, Some(Ok(source))) => (Some(source), None),
        (None, Some(Err(problem))) => (None, Some(problem)),
        (None, None) => (None, None),
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
    fn tag_with_date_and_reason_parses() {
        assert_eq!(
            parse_tag("until=2026-12-31;reason=break-glass for INC-42"),
            TagExemption::Until { until: d("2026-12-31"), reason: Some("break-glass for INC-42".into()) }
        );
        assert_eq!(parse_tag(" until = 2026-12-31 "), TagExemption::Until { until: d("2026-12-31"), reason: None });
    }

    #[test]
    fn malformed_tags_say_what_is_wrong() {
        for (value, needle) in [
            ("", "missing until"),
            ("forever", "not key=value"),
            ("until=31/12/2026", "not a YYYY-MM-DD date"),
            ("until=2026-02-30", "not a YYYY-MM-DD date"),
            ("reason=x", "missing until"),
            ("until=2026-12-31;owner=bob", "unexpected or repeated field"),
            ("until=2026-12-31;until=2027-12-31", "unexpected or repeated field"),
        ] {
            match parse_tag(value) {
                TagExemption::Malformed(why) => assert!(why.contains(needle), "{value:?}: {why}"),
                other => panic!("{value:?} parsed as {other:?}"),
            }
        }
    }
}
