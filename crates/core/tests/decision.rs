//! Behaviour of decisions and the live re-check: only planned keys can be approved, and an approved
//! key is deactivated only if it still violates when read live.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use keyward_core::config::{ExemptEntry, PolicyConfig};
use keyward_core::decision::{Approver, Decision, DecisionError};
use keyward_core::fixtures::{key, no_mfa, now, user, with_keys};
use keyward_core::model::{KeyRef, KeyStatus, KeyUse};
use keyward_core::policy::evaluate;
use keyward_core::recheck::{SkipReason, recheck};

fn link_holder() -> Approver {
    Approver::LinkHolder { source_ip: Some("203.0.113.7".into()), user_agent: Some("Firefox".into()) }
}

fn plan_of_three() -> keyward_core::policy::Plan {
    let users = [
        with_keys(user("alice"), vec![key("AKIAALICE1", 200, None), key("AKIAALICE2", 3, Some(1))]),
        with_keys(user("bob"), vec![key("AKIABOB1", 120, Some(100))]),
        with_keys(no_mfa(user("carol"), true), vec![key("AKIACAROL1", 5, Some(1))]),
    ];
    evaluate(&users, &PolicyConfig::default(), now()).plan
}

#[test]
fn approving_a_subset_names_exactly_that_subset() {
    let plan = plan_of_three();
    assert_eq!(plan.keys.len(), 3);
    let d =
        Decision::from_approved_ids(&plan, &["AKIACAROL1".into(), "AKIAALICE1".into()], link_holder(), now()).unwrap();
    assert_eq!(
        d.approved,
        vec![
            KeyRef { user_name: "alice".into(), access_key_id: "AKIAALICE1".into() },
            KeyRef { user_name: "carol".into(), access_key_id: "AKIACAROL1".into() },
        ]
    );
    let chosen: Vec<&str> = d.approved_in(&plan).unwrap().iter().map(|k| k.key.access_key_id.as_str()).collect();
    assert_eq!(chosen, vec!["AKIAALICE1", "AKIACAROL1"]);
}

#[test]
fn a_key_outside_the_plan_is_refused_whole() {
    let plan = plan_of_three();
    // AKIAALICE2 is alice's fresh key: real, but not planned.
    let err = Decision::from_approved_ids(&plan, &["AKIAALICE1".into(), "AKIAALICE2".into()], link_holder(), now())
        .unwrap_err();
    assert_eq!(err, DecisionError::NotInPlan { access_key_id: "AKIAALICE2".into() });
    assert!(err.to_string().contains("AKIAALICE2"));
}

#[test]
fn a_duplicated_key_is_refused() {
    let err =
        Decision::from_approved_ids(&plan_of_three(), &["AKIABOB1".into(), "AKIABOB1".into()], link_holder(), now())
            .unwrap_err();
    assert_eq!(err, DecisionError::Duplicate("AKIABOB1".into()));
}

#[test]
fn a_decision_pairing_a_key_with_the_wrong_user_is_refused() {
    let plan = plan_of_three();
    let forged = Decision {
        approved: vec![KeyRef { user_name: "bob".into(), access_key_id: "AKIAALICE1".into() }],
        decided_by: link_holder(),
        decided_at: now(),
    };
    assert!(matches!(forged.approved_in(&plan), Err(DecisionError::NotInPlan { .. })));
}

#[test]
fn recheck_passes_a_key_that_still_violates() {
    let live = with_keys(user("bob"), vec![key("AKIABOB1", 121, Some(101))]);
    let plan = plan_of_three();
    let planned = plan.keys.iter().find(|k| k.key.access_key_id == "AKIABOB1").unwrap();
    assert_eq!(recheck(planned, Some(&live), &PolicyConfig::default(), now() + Duration::hours(2)), Ok(()));
}

#[test]
fn recheck_skips_with_the_reason() {
    let plan = plan_of_three();
    let bob = plan.keys.iter().find(|k| k.key.access_key_id == "AKIABOB1").unwrap();
    let carol = plan.keys.iter().find(|k| k.key.access_key_id == "AKIACAROL1").unwrap();
    let config = PolicyConfig::default();
    let later = now() + Duration::hours(1);

    assert_eq!(recheck(bob, None, &config, later), Err(SkipReason::UserDeleted));

    let rotated = with_keys(user("bob"), vec![key("AKIABOBNEW", 0, None)]);
    assert_eq!(recheck(bob, Some(&rotated), &config, later), Err(SkipReason::KeyDeleted));

    let mut off = key("AKIABOB1", 121, Some(101));
    off.status = KeyStatus::Inactive;
    assert_eq!(
        recheck(bob, Some(&with_keys(user("bob"), vec![off])), &config, later),
        Err(SkipReason::AlreadyInactive)
    );

    // bob's key is old anyway; make it young and used to see "no longer violates".
    let mut used = key("AKIABOB1", 10, None);
    used.last_used = Some(KeyUse { at: later, service: Some("sts".into()), region: None });
    let reason = recheck(bob, Some(&with_keys(user("bob"), vec![used])), &config, later).unwrap_err();
    assert!(matches!(&reason, SkipReason::NoLongerViolates { detail } if detail.contains("used")), "{reason:?}");

    // carol enabled MFA since the plan.
    let carol_now = with_keys(user("carol"), vec![key("AKIACAROL1", 5, Some(1))]);
    let reason = recheck(carol, Some(&carol_now), &config, later).unwrap_err();
    assert_eq!(reason, SkipReason::NoLongerViolates { detail: "the user has MFA now".into() });

    let exempt = PolicyConfig { exempt_users: vec![ExemptEntry::Name("bob".into())], ..Default::default() };
    let live = with_keys(user("bob"), vec![key("AKIABOB1", 121, Some(101))]);
    assert_eq!(recheck(bob, Some(&live), &exempt, later), Err(SkipReason::Exempted));
}

#[test]
fn recheck_refuses_a_same_named_key_of_another_user() {
    // A key id is checked on the planned user only: the same id on "mallory" does not count.
    let plan = plan_of_three();
    let bob = plan.keys.iter().find(|k| k.key.access_key_id == "AKIABOB1").unwrap();
    let bob_live = with_keys(user("bob"), vec![]);
    assert_eq!(recheck(bob, Some(&bob_live), &PolicyConfig::default(), now()), Err(SkipReason::KeyDeleted));
}
