//! Behaviour of decisions and the live re-check: only planned keys can be approved, and an approved
//! key is deactivated only if it still violates when read live.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use keyward_core::config::{ExemptEntry, PolicyConfig};
use keyward_core::decision::{Approver, Decision, DecisionError};
use keyward_core::fixtures::{ACCOUNT, key, key_ref, no_mfa, now, user, with_keys};
use keyward_core::model::{KeyRef, KeyStatus, KeyUse, UserArn};
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
    let d = Decision::from_approved_ids(&plan, &[selected("AKIACAROL1"), selected("AKIAALICE1")], link_holder(), now())
        .unwrap();
    assert_eq!(d.approved, vec![key_ref("alice", "AKIAALICE1"), key_ref("carol", "AKIACAROL1")]);
    let chosen: Vec<&str> = d.approved_in(&plan).unwrap().iter().map(|k| k.key.access_key_id.as_str()).collect();
    assert_eq!(chosen, vec!["AKIAALICE1", "AKIACAROL1"]);
}

#[test]
fn a_key_outside_the_plan_is_refused_whole() {
    let plan = plan_of_three();
    // AKIAALICE2 is alice's fresh key: real, but not planned.
    let err =
        Decision::from_approved_ids(&plan, &[selected("AKIAALICE1"), selected("AKIAALICE2")], link_holder(), now())
            .unwrap_err();
    assert_eq!(err, DecisionError::NotInPlan { entry: selected("AKIAALICE2") });
    assert!(err.to_string().contains("123456789012:AKIAALICE2"), "{err}");
}

#[test]
fn a_duplicated_key_is_refused() {
    let err = Decision::from_approved_ids(
        &plan_of_three(),
        &[selected("AKIABOB1"), selected("AKIABOB1")],
        link_holder(),
        now(),
    )
    .unwrap_err();
    assert_eq!(err, DecisionError::Duplicate(selected("AKIABOB1")));
}

#[test]
fn a_planned_key_id_named_with_another_account_is_refused_whole() {
    let plan = plan_of_three();
    let entries = [selected("AKIAALICE1"), "999999999999:AKIABOB1".to_owned()];
    let err = Decision::from_approved_ids(&plan, &entries, link_holder(), now()).unwrap_err();
    assert_eq!(
        err,
        DecisionError::OtherAccount {
            entry: "999999999999:AKIABOB1".into(),
            planned_in: keyward_core::fixtures::account()
        }
    );
    assert!(err.to_string().contains("999999999999:AKIABOB1"), "{err}");
}

#[test]
fn a_bare_key_id_or_a_malformed_entry_is_refused_whole() {
    let plan = plan_of_three();
    for bad in ["AKIABOB1", ":AKIABOB1", "12345678901:AKIABOB1", "123456789012:", "abcdefghijkl:AKIABOB1"] {
        let entries = [selected("AKIAALICE1"), bad.to_owned()];
        let err = Decision::from_approved_ids(&plan, &entries, link_holder(), now()).unwrap_err();
        assert_eq!(err, DecisionError::Malformed { entry: bad.into() }, "{bad}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn a_key_id_planned_in_one_account_is_approved_only_under_that_account() {
    // Two accounts whose users share a name; each key is planned in its own account.
    let mut other = with_keys(user("bob"), vec![key("AKIAOTHER1", 120, Some(100))]);
    other.arn = UserArn::parse("arn:aws:iam::210987654321:user/bob").unwrap();
    let users = [with_keys(user("bob"), vec![key("AKIABOB1", 120, Some(100))]), other];
    let plan = evaluate(&users, &PolicyConfig::default(), now()).plan;
    let accounts: Vec<&str> = plan.keys.iter().map(|k| k.key.account_id.as_str()).collect();
    assert_eq!(accounts, ["123456789012", "210987654321"], "the plan sorts by account first");

    let d = Decision::from_approved_ids(&plan, &["210987654321:AKIAOTHER1".into()], link_holder(), now()).unwrap();
    assert_eq!(d.approved[0].account_id.as_str(), "210987654321");
    let swapped = ["123456789012:AKIAOTHER1".to_owned()];
    let err = Decision::from_approved_ids(&plan, &swapped, link_holder(), now()).unwrap_err();
    assert!(matches!(&err, DecisionError::OtherAccount { planned_in, .. } if planned_in.as_str() == "210987654321"));
}

#[test]
fn a_decision_pairing_a_key_with_the_wrong_user_is_refused() {
    let plan = plan_of_three();
    let forged =
        Decision { approved: vec![key_ref("bob", "AKIAALICE1")], decided_by: link_holder(), decided_at: now() };
    assert!(matches!(forged.approved_in(&plan), Err(DecisionError::NotInPlan { .. })));
}

#[test]
fn a_recorded_decision_naming_a_planned_key_in_another_account_is_refused() {
    let plan = plan_of_three();
    let mut moved = key_ref("alice", "AKIAALICE1");
    moved.account_id = keyward_core::org::AccountId::parse("999999999999").unwrap();
    let forged = Decision { approved: vec![moved], decided_by: link_holder(), decided_at: now() };
    let err = forged.approved_in(&plan).unwrap_err();
    assert_eq!(err, DecisionError::NotInPlan { entry: "999999999999:AKIAALICE1".into() });
}

/// How the confirm page names a planned key of [`ACCOUNT`].
fn selected(key_id: &str) -> String {
    format!("{ACCOUNT}:{key_id}")
}

#[test]
fn the_selection_of_a_key_is_its_account_and_key_id() {
    let key: KeyRef = key_ref("alice", "AKIAALICE1");
    assert_eq!(key.selection(), "123456789012:AKIAALICE1");
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
