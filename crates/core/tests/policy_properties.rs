//! Invariants of the policy over generated accounts: the plan never names an inactive key, an exempt
//! user or another user's key; `report` mode never acts; the result does not depend on input order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use keyward_core::config::{ExemptEntry, MfaScope, Mode, NoMfaAction, PolicyConfig};
use keyward_core::exemption::EXEMPT_UNTIL_TAG;
use keyward_core::model::{AccessKey, KeyStatus, KeyUse, Provenance, User};
use keyward_core::policy::evaluate;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn arb_key(user: usize, slot: usize) -> impl Strategy<Value = AccessKey> {
    (any::<bool>(), 0i64..400, proptest::option::of(0i64..400)).prop_map(move |(active, age, used)| AccessKey {
        id: format!("AKIA{user:04}{slot}"),
        status: if active { KeyStatus::Active } else { KeyStatus::Inactive },
        created: now() - Duration::days(age),
        last_used: used.map(|d| KeyUse { at: now() - Duration::days(d.min(age)), service: None, region: None }),
        last_used_source: Provenance::Live,
    })
}

fn arb_user(i: usize) -> impl Strategy<Value = User> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just("/"), Just("/breakglass/"), Just("/svc/")],
        prop_oneof![
            Just(None),
            Just(Some("2027-01-01")),
            Just(Some("2020-01-01")),
            Just(Some("2099-01-01")),
            Just(Some("bad"))
        ],
        proptest::collection::vec(0usize..2, 0..=2),
    )
        .prop_flat_map(move |(console, mfa, path, tag, slots)| {
            let keys: Vec<_> = (0..slots.len()).map(|s| arb_key(i, s)).collect();
            keys.prop_map(move |access_keys| User {
                name: format!("user{i:04}"),
                arn: keyward_core::model::UserArn::parse(&format!("arn:aws:iam::123456789012:user{path}user{i:04}"))
                    .unwrap(),
                path: path.to_owned(),
                created: now() - Duration::days(500),
                has_console_password: console,
                console_password_source: Provenance::Live,
                mfa_devices: if mfa { vec!["mfa".into()] } else { vec![] },
                tags: tag.map(|t| [(EXEMPT_UNTIL_TAG.to_owned(), t.to_owned())].into()).unwrap_or_default(),
                access_keys,
            })
        })
}

fn arb_users() -> impl Strategy<Value = Vec<User>> {
    (0usize..30).prop_flat_map(|n| (0..n).map(arb_user).collect::<Vec<_>>())
}

fn arb_config() -> impl Strategy<Value = PolicyConfig> {
    (
        prop_oneof![Just(Mode::ReportOnly), Just(Mode::Approve), Just(Mode::Auto)],
        1u32..200,
        1u32..200,
        0u32..30,
        prop_oneof![Just(MfaScope::Console), Just(MfaScope::All)],
        prop_oneof![Just(NoMfaAction::Warn), Just(NoMfaAction::DeactivateKeys)],
        any::<bool>(),
        1u32..=365,
        0u32..40,
        0u32..40,
    )
        .prop_map(|(mode, age, unused, warn, scope, action, exempt_path, exemption_days, cap, account_cap)| {
            PolicyConfig {
                mode,
                max_key_age_days: age,
                unused_key_days: unused,
                warn_days: warn,
                mfa_scope: scope,
                no_mfa_action: action,
                exempt_users: if exempt_path {
                    vec![ExemptEntry::PathPrefix("/breakglass/".into()), ExemptEntry::Name("user0003".into())]
                } else {
                    vec![]
                },
                max_exemption_days: exemption_days,
                max_deactivations_per_run: cap,
                max_deactivations_per_account: account_cap,
                protected_users: if exempt_path { vec![ExemptEntry::Name("user0005".into())] } else { vec![] },
            }
        })
}

proptest! {
    #[test]
    fn plan_names_only_active_keys_of_the_named_non_exempt_user(users in arb_users(), config in arb_config()) {
        let e = evaluate(&users, &config, now());
        for planned in &e.plan.keys {
            let owner = users.iter().find(|u| u.name == planned.key.user_name).expect("planned user exists");
            let key = owner.access_keys.iter().find(|k| k.id == planned.key.access_key_id);
            prop_assert!(key.is_some(), "plan names {} which is not a key of {}", planned.key.access_key_id, owner.name);
            prop_assert_eq!(key.unwrap().status, KeyStatus::Active);
            prop_assert!(!e.exemptions.iter().any(|x| x.user_name == owner.name), "exempt user {} in plan", owner.name);
            prop_assert!(!planned.rules.is_empty());
        }
    }

    #[test]
    fn report_mode_never_yields_actions(users in arb_users(), config in arb_config()) {
        let e = evaluate(&users, &PolicyConfig { mode: Mode::ReportOnly, ..config }, now());
        prop_assert!(e.plan.actionable().is_empty());
    }

    #[test]
    fn plan_over_cap_never_yields_actions(users in arb_users(), config in arb_config()) {
        let e = evaluate(&users, &config, now());
        if e.plan.keys.len() > config.max_deactivations_per_run as usize {
            prop_assert!(e.plan.actionable().is_empty());
        }
        prop_assert!(e.plan.actionable().len() <= config.max_deactivations_per_run as usize);
    }

    #[test]
    fn plan_over_an_account_cap_never_yields_actions(users in arb_users(), config in arb_config()) {
        let e = evaluate(&users, &config, now());
        let mut per_account = std::collections::BTreeMap::new();
        for planned in e.plan.actionable() {
            *per_account.entry(&planned.key.account_id).or_insert(0usize) += 1;
        }
        prop_assert!(per_account.values().all(|n| *n <= config.max_deactivations_per_account as usize));
    }

    #[test]
    fn result_does_not_depend_on_input_order(users in arb_users(), config in arb_config(), seed in any::<u64>()) {
        let a = evaluate(&users, &config, now());
        let mut shuffled = users.clone();
        // A deterministic shuffle of users and of each user's keys.
        let n = shuffled.len();
        if n > 1 {
            shuffled.rotate_left((seed as usize) % n);
            shuffled.swap(0, n - 1);
        }
        for u in &mut shuffled { u.access_keys.reverse(); }
        let b = evaluate(&shuffled, &config, now());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn every_key_in_the_plan_has_a_finding(users in arb_users(), config in arb_config()) {
        let e = evaluate(&users, &config, now());
        for planned in &e.plan.keys {
            prop_assert!(e.findings.iter().any(|f| f.user_name == planned.key.user_name
                && (f.access_key_id.as_deref() == Some(planned.key.access_key_id.as_str()) || f.access_key_id.is_none())));
        }
    }
}
