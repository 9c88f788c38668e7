//! Exemption tags (README, "Exemptions"): `keyward:exempt-until` exempts from today to
//! `MAX_EXEMPTION_DAYS` ahead, both inclusive (UTC days); a malformed, expired or too-far date, a
//! reason without a date and the old single tag `keyward:exempt` do not exempt and are reported;
//! and the JSON the run report records for both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::config::{ExemptEntry, PolicyConfig};
use keyward_core::exemption::{
    EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG, ExemptionProblem, ExemptionProblemKind, ExemptionSource, OLD_EXEMPT_TAG,
    exemption_for,
};
use keyward_core::fixtures::{key, now, user, with_keys};
use keyward_core::model::User;
use keyward_core::policy::evaluate;
use serde_json::json;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The user `t`, with an old unused key (so that without an exemption it is planned) and `tags`.
fn tagged(tags: &[(&str, &str)]) -> User {
    let mut u = with_keys(user("t"), vec![key("AKIAT", 500, None)]);
    u.tags.extend(tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    u
}

fn until(value: &str) -> User {
    tagged(&[(EXEMPT_UNTIL_TAG, value)])
}

fn exemption(u: &User, config: &PolicyConfig) -> (Option<ExemptionSource>, Vec<ExemptionProblemKind>) {
    let (source, problems) = exemption_for(u, config, now());
    (source, problems.into_iter().map(|p| p.problem).collect())
}

fn tag_source(until: &str, reason: Option<&str>) -> Option<ExemptionSource> {
    Some(ExemptionSource::Tag { until: d(until), reason: reason.map(str::to_owned) })
}

#[test]
fn until_today_exempts_through_the_end_of_the_utc_day() {
    // now() is 2026-11-21T06:00Z; the last second of the day is still 2026-11-21.
    let last_second: DateTime<Utc> = "2026-11-21T23:59:59Z".parse().unwrap();
    for at in [now(), last_second] {
        let (source, problems) = exemption_for(&until("2026-11-21"), &PolicyConfig::default(), at);
        assert_eq!(source, tag_source("2026-11-21", None), "at {at}");
        assert!(problems.is_empty());
    }
    let next_day: DateTime<Utc> = "2026-11-22T00:00:00Z".parse().unwrap();
    let (source, problems) = exemption_for(&until("2026-11-21"), &PolicyConfig::default(), next_day);
    assert_eq!(source, None);
    assert_eq!(problems[0].problem, ExemptionProblemKind::Expired { until: d("2026-11-21") });
}

#[test]
fn yesterday_has_expired_and_is_reported() {
    let e = evaluate(&[until("2026-11-20")], &PolicyConfig::default(), now());
    assert!(e.exemptions.is_empty());
    assert_eq!(e.plan.keys.len(), 1, "not exempt: the old key is planned");
    assert_eq!(
        e.exemption_problems,
        vec![ExemptionProblem {
            account_id: Some(keyward_core::fixtures::account()),
            user_name: "t".into(),
            tag: EXEMPT_UNTIL_TAG.into(),
            tag_value: "2026-11-20".into(),
            problem: ExemptionProblemKind::Expired { until: d("2026-11-20") },
        }]
    );
}

#[test]
fn until_max_exemption_days_ahead_exempts_and_one_day_more_does_not() {
    // 2026-11-21 + 90 days is 2027-02-19.
    let config = PolicyConfig::default();
    assert_eq!(config.max_exemption_days, 90);
    assert_eq!(exemption(&until("2027-02-19"), &config), (tag_source("2027-02-19", None), vec![]));
    assert_eq!(
        exemption(&until("2027-02-20"), &config),
        (
            None,
            vec![ExemptionProblemKind::TooFarAhead {
                until: d("2027-02-20"),
                latest: d("2027-02-19"),
                max_exemption_days: 90
            }]
        )
    );
    // The limit is the setting's: with 1 day, tomorrow exempts and the day after does not.
    let one = PolicyConfig { max_exemption_days: 1, ..Default::default() };
    assert_eq!(exemption(&until("2026-11-22"), &one).0, tag_source("2026-11-22", None));
    assert!(matches!(exemption(&until("2026-11-23"), &one).1[..], [ExemptionProblemKind::TooFarAhead { .. }]));
}

#[test]
fn a_date_200_days_ahead_does_not_exempt_and_the_key_is_planned() {
    let e = evaluate(&[until("2027-06-09")], &PolicyConfig::default(), now());
    assert!(e.exemptions.is_empty());
    assert_eq!(e.plan.keys.len(), 1);
    assert_eq!(e.exemption_problems.len(), 1);
    assert_eq!(e.exemption_problems[0].tag_value, "2027-06-09");
}

#[test]
fn a_malformed_date_does_not_exempt_and_is_reported() {
    for value in ["", "forever", "2026-12-31;reason=x", "until=2026-12-31", "2026-02-30", "31/12/2026"] {
        let (source, problems) = exemption(&until(value), &PolicyConfig::default());
        assert_eq!(source, None, "{value:?}");
        assert_eq!(problems, vec![ExemptionProblemKind::MalformedDate], "{value:?}");
    }
}

#[test]
fn the_reason_tag_goes_with_the_date() {
    let u = tagged(&[(EXEMPT_UNTIL_TAG, "2026-12-31"), (EXEMPT_REASON_TAG, " INC-42: migration, see @ops ")]);
    assert_eq!(
        exemption(&u, &PolicyConfig::default()),
        (tag_source("2026-12-31", Some("INC-42: migration, see @ops")), vec![])
    );
    // An empty reason is no reason.
    let u = tagged(&[(EXEMPT_UNTIL_TAG, "2026-12-31"), (EXEMPT_REASON_TAG, " ")]);
    assert_eq!(exemption(&u, &PolicyConfig::default()).0, tag_source("2026-12-31", None));
}

#[test]
fn a_reason_without_until_does_not_exempt_and_is_reported() {
    let e = evaluate(&[tagged(&[(EXEMPT_REASON_TAG, "break-glass")])], &PolicyConfig::default(), now());
    assert!(e.exemptions.is_empty());
    assert_eq!(e.plan.keys.len(), 1);
    assert_eq!(
        e.exemption_problems,
        vec![ExemptionProblem {
            account_id: Some(keyward_core::fixtures::account()),
            user_name: "t".into(),
            tag: EXEMPT_REASON_TAG.into(),
            tag_value: "break-glass".into(),
            problem: ExemptionProblemKind::ReasonWithoutUntil,
        }]
    );
}

#[test]
fn the_old_single_tag_no_longer_exempts_and_is_reported() {
    let old = tagged(&[(OLD_EXEMPT_TAG, "until=2026-12-31;reason=INC-42")]);
    let e = evaluate(&[old], &PolicyConfig::default(), now());
    assert!(e.exemptions.is_empty());
    assert_eq!(e.plan.keys.len(), 1);
    assert_eq!(
        e.exemption_problems,
        vec![ExemptionProblem {
            account_id: Some(keyward_core::fixtures::account()),
            user_name: "t".into(),
            tag: OLD_EXEMPT_TAG.into(),
            tag_value: "until=2026-12-31;reason=INC-42".into(),
            problem: ExemptionProblemKind::OldFormat,
        }]
    );
}

#[test]
fn the_old_tag_beside_the_new_ones_is_reported_and_the_new_ones_exempt() {
    let u = tagged(&[(EXEMPT_UNTIL_TAG, "2026-12-31"), (OLD_EXEMPT_TAG, "until=2026-12-31")]);
    assert_eq!(
        exemption(&u, &PolicyConfig::default()),
        (tag_source("2026-12-31", None), vec![ExemptionProblemKind::OldFormat])
    );
    // A reason alone beside the old tag: two problems, in the order until/reason, old.
    let u = tagged(&[(EXEMPT_REASON_TAG, "x"), (OLD_EXEMPT_TAG, "until=2026-12-31")]);
    assert_eq!(
        exemption(&u, &PolicyConfig::default()).1,
        vec![ExemptionProblemKind::ReasonWithoutUntil, ExemptionProblemKind::OldFormat]
    );
}

#[test]
fn exempt_users_comes_first_and_a_bad_tag_is_still_reported() {
    let config = PolicyConfig { exempt_users: vec![ExemptEntry::Name("t".into())], ..Default::default() };
    let (source, problems) = exemption(&until("2020-01-01"), &config);
    assert_eq!(source, Some(ExemptionSource::ConfigName { name: "t".into(), account_id: None }));
    assert_eq!(problems, vec![ExemptionProblemKind::Expired { until: d("2020-01-01") }]);
    assert_eq!(
        exemption(&until("2026-12-31"), &config),
        (Some(ExemptionSource::ConfigName { name: "t".into(), account_id: None }), vec![])
    );
}

#[test]
fn the_run_report_json_of_a_tag_exemption_and_of_each_problem() {
    let source = tag_source("2026-12-31", Some("INC-42"));
    assert_eq!(
        serde_json::to_value(&source).unwrap(),
        json!({"kind": "tag", "until": "2026-12-31", "reason": "INC-42"})
    );
    let cases = [
        (ExemptionProblemKind::MalformedDate, json!({"kind": "malformed-date"})),
        (ExemptionProblemKind::Expired { until: d("2026-11-20") }, json!({"kind": "expired", "until": "2026-11-20"})),
        (
            ExemptionProblemKind::TooFarAhead {
                until: d("2027-06-09"),
                latest: d("2027-02-19"),
                max_exemption_days: 90,
            },
            json!({"kind": "too-far-ahead", "until": "2027-06-09", "latest": "2027-02-19", "max_exemption_days": 90}),
        ),
        (ExemptionProblemKind::ReasonWithoutUntil, json!({"kind": "reason-without-until"})),
        (ExemptionProblemKind::OldFormat, json!({"kind": "old-format"})),
    ];
    for (problem, json) in cases {
        // A problem recorded before problems named their account reads as before.
        let p = ExemptionProblem {
            account_id: None,
            user_name: "t".into(),
            tag: EXEMPT_UNTIL_TAG.into(),
            tag_value: "v".into(),
            problem,
        };
        let expected = json!({"user_name": "t", "tag": "keyward:exempt-until", "tag_value": "v", "problem": json});
        assert_eq!(serde_json::to_value(&p).unwrap(), expected);
        assert_eq!(serde_json::from_value::<ExemptionProblem>(expected.clone()).unwrap(), p);
        let mut named = expected;
        named["account_id"] = json!("123456789012");
        let p = ExemptionProblem { account_id: keyward_core::org::AccountId::parse("123456789012"), ..p };
        assert_eq!(serde_json::from_value::<ExemptionProblem>(named.clone()).unwrap(), p);
        assert_eq!(serde_json::to_value(&p).unwrap(), named);
    }
}
