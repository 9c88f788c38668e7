//! Behaviour of the policy (README, "The policy"): every rule, its edges, exemptions, modes and the cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use keyward_core::config::{ExemptEntry, MfaScope, Mode, NoMfaAction, PolicyConfig};
use keyward_core::exemption::{EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG, ExemptionProblemKind, ExemptionSource};
use keyward_core::fixtures::{account, key, no_mfa, now, user, with_keys};
use keyward_core::model::{KeyStatus, User, UserArn};
use keyward_core::org::AccountId;
use keyward_core::policy::{PlanStatus, Proposal, Rule, evaluate};

fn planned(users: &[User], config: &PolicyConfig) -> Vec<(String, String)> {
    evaluate(users, config, now()).plan.keys.into_iter().map(|k| (k.key.user_name, k.key.access_key_id)).collect()
}

fn pair(u: &str, k: &str) -> (String, String) {
    (u.into(), k.into())
}

#[test]
fn compliant_user_yields_nothing() {
    let users = [with_keys(user("alice"), vec![key("AKIAALICE1", 10, Some(1))])];
    let e = evaluate(&users, &PolicyConfig::default(), now());
    assert!(e.findings.is_empty());
    assert!(e.warnings.is_empty());
    assert_eq!(e.plan.status, PlanStatus::Empty);
    assert!(e.plan.actionable().is_empty());
}

#[test]
fn key_exactly_at_max_age_does_not_fire_but_one_day_more_does() {
    let at = [with_keys(user("a"), vec![key("AKIA1", 90, Some(0))])];
    assert!(planned(&at, &PolicyConfig::default()).is_empty());
    // 90 days and 23 hours is still 90 whole days.
    let mut almost = key("AKIA1", 90, Some(0));
    almost.created -= Duration::hours(23);
    assert!(planned(&[with_keys(user("a"), vec![almost])], &PolicyConfig::default()).is_empty());
    let over = [with_keys(user("a"), vec![key("AKIA1", 91, Some(0))])];
    let e = evaluate(&over, &PolicyConfig::default(), now());
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.findings[0].rule, Rule::KeyTooOld);
    assert_eq!(e.findings[0].access_key_id.as_deref(), Some("AKIA1"));
    assert_eq!(e.findings[0].evidence.key_age_days, Some(91));
    assert!(e.findings[0].evidence.summary.contains("created 91 days ago (limit 90)"));
}

#[test]
fn only_the_old_key_is_planned_when_key_two_is_fresh() {
    let users = [with_keys(user("bob"), vec![key("AKIAOLD", 200, Some(1)), key("AKIAFRESH", 5, Some(1))])];
    assert_eq!(planned(&users, &PolicyConfig::default()), vec![pair("bob", "AKIAOLD")]);
}

#[test]
fn never_used_key_counts_from_creation() {
    let young = [with_keys(user("c"), vec![key("AKIANEW", 30, None)])];
    assert!(planned(&young, &PolicyConfig::default()).is_empty());
    let idle = [with_keys(user("c"), vec![key("AKIAIDLE", 91, None)])];
    let e = evaluate(&idle, &PolicyConfig { max_key_age_days: 365, ..Default::default() }, now());
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.findings[0].rule, Rule::KeyUnused);
    assert_eq!(e.findings[0].evidence.idle_days, Some(91));
    assert!(e.findings[0].evidence.summary.contains("never used"));
}

#[test]
fn used_key_counts_from_last_use() {
    let config = PolicyConfig { max_key_age_days: 1000, ..Default::default() };
    let recently_used = [with_keys(user("d"), vec![key("AKIA1", 500, Some(90))])];
    assert!(planned(&recently_used, &config).is_empty());
    let stale = [with_keys(user("d"), vec![key("AKIA1", 500, Some(91))])];
    assert_eq!(planned(&stale, &config), vec![pair("d", "AKIA1")]);
}

#[test]
fn key_both_old_and_unused_is_planned_once_with_both_rules() {
    let users = [with_keys(user("e"), vec![key("AKIA1", 300, Some(200))])];
    let e = evaluate(&users, &PolicyConfig::default(), now());
    assert_eq!(e.findings.len(), 2);
    assert_eq!(e.plan.keys.len(), 1);
    assert_eq!(e.plan.keys[0].rules, vec![Rule::KeyTooOld, Rule::KeyUnused]);
}

#[test]
fn inactive_key_is_reported_never_planned() {
    let mut old = key("AKIAOFF", 900, None);
    old.status = KeyStatus::Inactive;
    let users = [with_keys(no_mfa(user("f"), true), vec![old])];
    let e = evaluate(&users, &PolicyConfig::default(), now());
    assert!(e.plan.keys.is_empty());
    assert_eq!(e.inactive_keys.len(), 1);
    assert_eq!(e.inactive_keys[0].key.access_key_id, "AKIAOFF");
    // The user still has no MFA: reported, with nothing to deactivate.
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.findings[0].rule, Rule::NoMfa);
    assert_eq!(e.findings[0].proposal, Proposal::Report);
}

#[test]
fn warning_within_warn_days_of_either_limit() {
    let users = [with_keys(user("g"), vec![key("AKIA1", 80, Some(85))])];
    let e = evaluate(&users, &PolicyConfig::default(), now());
    assert!(e.findings.is_empty());
    let mut w: Vec<(Rule, i64)> = e.warnings.iter().map(|w| (w.rule, w.days_left)).collect();
    w.sort();
    assert_eq!(w, vec![(Rule::KeyTooOld, 11), (Rule::KeyUnused, 6)]);
    assert!(e.plan.keys.is_empty());
    // One day before the warn window opens: nothing.
    let quiet = [with_keys(user("g"), vec![key("AKIA1", 76, Some(0))])];
    assert!(evaluate(&quiet, &PolicyConfig::default(), now()).warnings.is_empty());
    // At the limit itself the rule fires tomorrow.
    let edge = [with_keys(user("g"), vec![key("AKIA1", 90, Some(0))])];
    let e = evaluate(&edge, &PolicyConfig::default(), now());
    assert_eq!(e.warnings.len(), 1);
    assert_eq!(e.warnings[0].days_left, 1);
}

#[test]
fn zero_warn_days_gives_no_warnings() {
    let users = [with_keys(user("g"), vec![key("AKIA1", 90, Some(90))])];
    let e = evaluate(&users, &PolicyConfig { warn_days: 0, ..Default::default() }, now());
    assert!(e.warnings.is_empty());
}

#[test]
fn no_mfa_console_scope_ignores_programmatic_only_users() {
    let programmatic = with_keys(no_mfa(user("svc"), false), vec![key("AKIASVC", 10, Some(1))]);
    let console = with_keys(no_mfa(user("human"), true), vec![key("AKIAHUM", 10, Some(1))]);
    let users = [programmatic, console];
    let e = evaluate(&users, &PolicyConfig::default(), now());
    let flagged: Vec<&str> = e.findings.iter().map(|f| f.user_name.as_str()).collect();
    assert_eq!(flagged, vec!["human"]);
    assert_eq!(planned(&users, &PolicyConfig::default()), vec![pair("human", "AKIAHUM")]);
}

#[test]
fn no_mfa_all_scope_includes_programmatic_only_users() {
    let users = [with_keys(no_mfa(user("svc"), false), vec![key("AKIASVC", 10, Some(1))])];
    let config = PolicyConfig { mfa_scope: MfaScope::All, ..Default::default() };
    let e = evaluate(&users, &config, now());
    assert_eq!(e.findings.len(), 1);
    assert!(e.findings[0].evidence.summary.contains("programmatic access only"));
    assert_eq!(planned(&users, &config), vec![pair("svc", "AKIASVC")]);
}

#[test]
fn no_mfa_proposes_each_active_key_but_not_inactive_ones() {
    let mut off = key("AKIAOFF", 10, Some(1));
    off.status = KeyStatus::Inactive;
    let users = [with_keys(no_mfa(user("h"), true), vec![key("AKIAON1", 10, Some(1)), off, key("AKIAON2", 3, None)])];
    assert_eq!(planned(&users, &PolicyConfig::default()), vec![pair("h", "AKIAON1"), pair("h", "AKIAON2")]);
}

#[test]
fn no_mfa_warn_action_reports_without_plan() {
    let users = [with_keys(no_mfa(user("h"), true), vec![key("AKIAON1", 10, Some(1))])];
    let config = PolicyConfig { no_mfa_action: NoMfaAction::Warn, ..Default::default() };
    let e = evaluate(&users, &config, now());
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.findings[0].proposal, Proposal::Report);
    assert!(e.plan.keys.is_empty());
}

#[test]
fn user_with_mfa_and_console_is_not_flagged() {
    let mut u = user("i");
    u.has_console_password = true;
    assert!(evaluate(&[u], &PolicyConfig::default(), now()).findings.is_empty());
}

#[test]
fn exempt_by_name_and_path_prefix_are_listed_and_untouched() {
    let mut bg = with_keys(no_mfa(user("breakglass-1"), true), vec![key("AKIABG", 500, None)]);
    bg.path = "/breakglass/".into();
    let ci = with_keys(user("svc-ci"), vec![key("AKIACI", 500, None)]);
    let other = with_keys(user("zed"), vec![key("AKIAZED", 500, None)]);
    let config = PolicyConfig {
        exempt_users: vec![ExemptEntry::Name("svc-ci".into()), ExemptEntry::PathPrefix("/breakglass/".into())],
        ..Default::default()
    };
    let e = evaluate(&[bg, ci, other], &config, now());
    assert_eq!(planned_of(&e), vec![pair("zed", "AKIAZED")]);
    assert_eq!(e.exemptions.len(), 2);
    assert_eq!(e.exemptions[0].user_name, "breakglass-1");
    assert_eq!(e.exemptions[0].source, ExemptionSource::ConfigPath { prefix: "/breakglass/".into(), account_id: None });
    assert_eq!(e.exemptions[0].suppressed, vec![Rule::NoMfa, Rule::KeyTooOld, Rule::KeyUnused]);
    assert_eq!(e.exemptions[1].source, ExemptionSource::ConfigName { name: "svc-ci".into(), account_id: None });
    assert!(e.findings.iter().all(|f| f.user_name == "zed"));
}

#[test]
fn an_exemption_or_protection_of_one_account_applies_in_that_account_only() {
    // GIVEN svc-ci and ops-1 (path /ops/) in two accounts, svc-ci exempt in OTHER only and /ops/
    // protected in the run's account only, and alice exempt everywhere
    let home = keyward_core::fixtures::ACCOUNT;
    let ops = |account: &str, key_id: &str| {
        let mut u = stale_user_in(account, "ops-1", key_id);
        u.path = "/ops/".into();
        u
    };
    let users = [
        stale_user_in(OTHER, "svc-ci", "AKIACIOTHER"),
        stale_user_in(home, "svc-ci", "AKIACIHOME"),
        ops(OTHER, "AKIAOPSOTHER"),
        ops(home, "AKIAOPSHOME"),
        stale_user_in(OTHER, "alice", "AKIAALICEOTHER"),
        stale_user_in(home, "alice", "AKIAALICEHOME"),
    ];
    let other = AccountId::parse(OTHER).unwrap();
    let config = PolicyConfig {
        exempt_users: vec![
            ExemptEntry::AccountName { account_id: other.clone(), name: "svc-ci".into() },
            ExemptEntry::Name("alice".into()),
        ],
        protected_users: vec![ExemptEntry::AccountPathPrefix { account_id: account(), prefix: "/ops/".into() }],
        ..Default::default()
    };

    let e = evaluate(&users, &config, now());

    // THEN only svc-ci of the run's account and ops-1 of OTHER are planned
    let mut planned: Vec<(String, String)> =
        e.plan.keys.iter().map(|k| (k.key.account_id.to_string(), k.key.access_key_id.clone())).collect();
    planned.sort();
    assert_eq!(
        planned,
        vec![(home.to_owned(), "AKIACIHOME".to_owned()), (OTHER.to_owned(), "AKIAOPSOTHER".to_owned())]
    );
    let sources: Vec<&ExemptionSource> = e.exemptions.iter().map(|x| &x.source).collect();
    assert!(sources.contains(&&ExemptionSource::ConfigName { name: "svc-ci".into(), account_id: Some(other) }));
    assert!(sources.contains(&&ExemptionSource::Protected { entry: format!("{home}:/ops/") }));
    assert_eq!(e.exemptions.len(), 4, "svc-ci of OTHER, ops-1 of the run's account, alice in both");
}

#[test]
fn protected_users_are_reported_as_protected_and_never_planned_before_any_exemption() {
    let mut ops = with_keys(no_mfa(user("ops-1"), true), vec![key("AKIAOPS", 500, None)]);
    ops.path = "/ops/".into();
    let root = with_keys(user("root-admin"), vec![key("AKIAROOT", 500, None)]);
    let other = with_keys(user("zed"), vec![key("AKIAZED", 500, None)]);
    let config = PolicyConfig {
        protected_users: vec![ExemptEntry::Name("root-admin".into()), ExemptEntry::PathPrefix("/ops/".into())],
        // Also exempt: protection is what the report says, since nothing can lift it.
        exempt_users: vec![ExemptEntry::Name("root-admin".into())],
        ..Default::default()
    };
    let e = evaluate(&[ops, root, other], &config, now());
    assert_eq!(planned_of(&e), vec![pair("zed", "AKIAZED")]);
    assert_eq!(e.exemptions[0].source, ExemptionSource::Protected { entry: "/ops/".into() });
    assert_eq!(e.exemptions[1].source, ExemptionSource::Protected { entry: "root-admin".into() });
    assert_eq!(e.exemptions[1].suppressed, vec![Rule::KeyTooOld, Rule::KeyUnused]);
}

fn planned_of(e: &keyward_core::policy::Evaluation) -> Vec<(String, String)> {
    e.plan.keys.iter().map(|k| (k.key.user_name.clone(), k.key.access_key_id.clone())).collect()
}

fn tagged(name: &str, until: &str, reason: &str) -> User {
    let mut u = with_keys(user(name), vec![key(&format!("AKIA{}", name.to_uppercase()), 500, None)]);
    u.tags.insert(EXEMPT_UNTIL_TAG.into(), until.into());
    u.tags.insert(EXEMPT_REASON_TAG.into(), reason.into());
    u
}

#[test]
fn tag_exemption_expiring_today_still_exempts() {
    let e = evaluate(&[tagged("t", "2026-11-21", "migration")], &PolicyConfig::default(), now());
    assert!(e.plan.keys.is_empty());
    assert_eq!(e.exemptions.len(), 1);
    match &e.exemptions[0].source {
        ExemptionSource::Tag { until, reason } => {
            assert_eq!(until.to_string(), "2026-11-21");
            assert_eq!(reason.as_deref(), Some("migration"));
        }
        other => panic!("unexpected source {other:?}"),
    }
    assert_eq!(e.exemptions[0].suppressed, vec![Rule::KeyTooOld, Rule::KeyUnused]);
}

#[test]
fn expired_tag_exemption_does_not_exempt_and_is_reported() {
    let e = evaluate(&[tagged("t", "2026-11-20", "migration")], &PolicyConfig::default(), now());
    assert_eq!(planned_of(&e), vec![pair("t", "AKIAT")]);
    assert!(e.exemptions.is_empty());
    assert_eq!(e.exemption_problems.len(), 1);
    assert_eq!(e.exemption_problems[0].problem, ExemptionProblemKind::Expired { until: "2026-11-20".parse().unwrap() });
}

#[test]
fn malformed_tag_exemption_does_not_exempt_and_is_reported() {
    let e = evaluate(&[tagged("t", "forever", "migration")], &PolicyConfig::default(), now());
    assert_eq!(planned_of(&e), vec![pair("t", "AKIAT")]);
    assert_eq!(e.exemption_problems[0].problem, ExemptionProblemKind::MalformedDate);
}

#[test]
fn report_mode_computes_the_plan_but_nothing_is_actionable() {
    let users = [with_keys(user("a"), vec![key("AKIA1", 200, None)])];
    let e = evaluate(&users, &PolicyConfig { mode: Mode::ReportOnly, ..Default::default() }, now());
    assert_eq!(e.plan.keys.len(), 1);
    assert_eq!(e.plan.status, PlanStatus::ReportOnly);
    assert!(e.plan.actionable().is_empty());
}

#[test]
fn approve_and_auto_modes() {
    let users = [with_keys(user("a"), vec![key("AKIA1", 200, None)])];
    let approve = evaluate(&users, &PolicyConfig::default(), now());
    assert_eq!(approve.plan.status, PlanStatus::AwaitingApproval);
    assert_eq!(approve.plan.actionable().len(), 1);
    let auto = evaluate(&users, &PolicyConfig { mode: Mode::Auto, ..Default::default() }, now());
    assert_eq!(auto.plan.status, PlanStatus::Automatic);
}

#[test]
fn plan_over_the_cap_acts_on_nothing() {
    let users: Vec<User> =
        (0..4).map(|i| with_keys(user(&format!("u{i}")), vec![key(&format!("AKIA{i}"), 200, None)])).collect();
    let at_cap = evaluate(&users[..3], &PolicyConfig { max_deactivations_per_run: 3, ..Default::default() }, now());
    assert_eq!(at_cap.plan.status, PlanStatus::AwaitingApproval);
    let over =
        evaluate(&users, &PolicyConfig { max_deactivations_per_run: 3, mode: Mode::Auto, ..Default::default() }, now());
    assert_eq!(over.plan.status, PlanStatus::CapExceeded { planned: 4, cap: 3 });
    assert_eq!(over.plan.keys.len(), 4, "the full plan is still reported");
    assert!(over.plan.actionable().is_empty());
}

/// A user `name` in account `account`, with one key of `key_id` 200 days old and never used.
fn stale_user_in(account: &str, name: &str, key_id: &str) -> User {
    let mut u = with_keys(user(name), vec![key(key_id, 200, None)]);
    u.arn = UserArn::parse(&format!("arn:aws:iam::{account}:user/{name}")).unwrap();
    u
}

const OTHER: &str = "210987654321";

#[test]
fn plan_within_the_run_cap_but_over_an_account_cap_acts_on_nothing_and_names_the_account() {
    // GIVEN three stale keys in one account and one in another, a run cap of 10 and an account cap of 2
    let users = [
        stale_user_in(OTHER, "a", "AKIA1"),
        stale_user_in(OTHER, "b", "AKIA2"),
        stale_user_in(OTHER, "c", "AKIA3"),
        stale_user_in(keyward_core::fixtures::ACCOUNT, "d", "AKIA4"),
    ];
    let config = PolicyConfig {
        max_deactivations_per_run: 10,
        max_deactivations_per_account: 2,
        mode: Mode::Auto,
        ..Default::default()
    };

    let e = evaluate(&users, &config, now());

    // THEN the whole plan is held, even the account within its cap, and the status names the account
    let other = AccountId::parse(OTHER).unwrap();
    assert_eq!(e.plan.status, PlanStatus::AccountCapExceeded { account_id: other, planned: 3, cap: 2 });
    assert_eq!(e.plan.keys.len(), 4, "the full plan is still reported");
    assert!(e.plan.actionable().is_empty());
    assert_eq!(
        serde_json::to_value(&e.plan.status).unwrap(),
        serde_json::json!({"kind": "account-cap-exceeded", "account_id": OTHER, "planned": 3, "cap": 2})
    );
}

#[test]
fn a_plan_at_each_account_cap_may_act() {
    let users = [
        stale_user_in(OTHER, "a", "AKIA1"),
        stale_user_in(OTHER, "b", "AKIA2"),
        stale_user_in(keyward_core::fixtures::ACCOUNT, "c", "AKIA3"),
        stale_user_in(keyward_core::fixtures::ACCOUNT, "d", "AKIA4"),
    ];
    let config = PolicyConfig { max_deactivations_per_account: 2, ..Default::default() };
    let e = evaluate(&users, &config, now());
    assert_eq!(e.plan.status, PlanStatus::AwaitingApproval);
    assert_eq!(e.plan.actionable().len(), 4);
}

#[test]
fn the_run_cap_still_applies_to_the_whole_plan_and_keeps_its_shape() {
    // GIVEN two accounts of two keys each: within an account cap of 2, over a run cap of 3
    let users = [
        stale_user_in(OTHER, "a", "AKIA1"),
        stale_user_in(OTHER, "b", "AKIA2"),
        stale_user_in(keyward_core::fixtures::ACCOUNT, "c", "AKIA3"),
        stale_user_in(keyward_core::fixtures::ACCOUNT, "d", "AKIA4"),
    ];
    let config = PolicyConfig { max_deactivations_per_run: 3, max_deactivations_per_account: 2, ..Default::default() };
    let e = evaluate(&users, &config, now());
    assert_eq!(e.plan.status, PlanStatus::CapExceeded { planned: 4, cap: 3 });
    assert_eq!(
        serde_json::to_value(&e.plan.status).unwrap(),
        serde_json::json!({"kind": "cap-exceeded", "planned": 4, "cap": 3})
    );
    // Over both: the run cap is the one reported.
    let both = PolicyConfig { max_deactivations_per_account: 1, ..config };
    assert_eq!(evaluate(&users, &both, now()).plan.status, PlanStatus::CapExceeded { planned: 4, cap: 3 });
}

#[test]
fn account_cap_defaults_to_the_run_cap_so_a_single_account_sees_no_change() {
    let users: Vec<User> =
        (0..25).map(|i| with_keys(user(&format!("u{i}")), vec![key(&format!("AKIA{i}"), 200, None)])).collect();
    let e = evaluate(&users, &PolicyConfig::default(), now());
    assert_eq!(e.plan.status, PlanStatus::AwaitingApproval);
    assert!(e.plan.keys.iter().all(|k| k.key.account_id == account()));
}

#[test]
fn cap_of_zero_blocks_every_plan() {
    let users = [with_keys(user("a"), vec![key("AKIA1", 200, None)])];
    let e = evaluate(&users, &PolicyConfig { max_deactivations_per_run: 0, ..Default::default() }, now());
    assert_eq!(e.plan.status, PlanStatus::CapExceeded { planned: 1, cap: 0 });
}

#[test]
fn key_created_in_the_future_does_not_fire() {
    // Clock skew between IAM and the evaluator must not produce negative-age nonsense findings.
    let users = [with_keys(user("a"), vec![key("AKIA1", -1, None)])];
    assert!(evaluate(&users, &PolicyConfig::default(), now()).findings.is_empty());
}

#[test]
fn evaluation_is_recorded_at_the_given_instant() {
    assert_eq!(evaluate(&[], &PolicyConfig::default(), now()).evaluated_at, now());
}
