//! validate-keys over an organisation run (`KEYWARD_SCOPE=organization`) in a fake bucket holding
//! hand-placed run state: each selected account swept, failed by its record, or failed for want of
//! any record; skipped accounts from the selection; one plan over the swept accounts with each
//! account's cap; and the refusal of the other scope's event before any read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use keyward_core::config::{Config, PolicyConfig, Scope};
use keyward_core::contracts::{BatchResult, Discovery, NextStep, UserBatch};
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::FakeStore;
use keyward_core::fixtures::{key, now, user, with_keys};
use keyward_core::model::{User, UserArn};
use keyward_core::org::{
    AccountFailure, AccountId, AccountState, FilterEntry, NotSwept, OrgAccount, Selection, Unswept,
};
use keyward_core::policy::PlanStatus;
use keyward_core::run_report::RunReport;
use keyward_core::run_store::RunStore;
use serde_json::{Value, json};
use validate_keys::handler::{Deps, Settings, handle};

const BUCKET: &str = "keyward-reports-123456789012";
const EXEC: &str = "keyward-2026-12-01";
/// Swept: alice (old key), carol in a batch whose result is missing, erin deleted since listing.
const A: &str = "111111111111";
/// Swept: dave with two old keys.
const B: &str = "222222222222";
/// Its sweep failed and was recorded (failure.json).
const C: &str = "333333333333";
/// Its sweep left no record at all.
const D: &str = "444444444444";
/// Excluded by ORG_EXCLUDE: never swept.
const E: &str = "555555555555";

fn id(account: &str) -> AccountId {
    AccountId::parse(account).unwrap()
}

fn org_account(account: &str) -> OrgAccount {
    OrgAccount { id: id(account), name: format!("name-{account}"), state: AccountState::Active, ous: vec![] }
}

/// `name` as a user of `account`.
fn user_in(account: &str, name: &str) -> User {
    User { arn: UserArn::parse(&format!("arn:aws:iam::{account}:user/{name}")).unwrap(), ..user(name) }
}

fn deps_with(store: FakeStore, scope: Scope, policy: PolicyConfig) -> Deps<FakeStore> {
    let config = Config { report_bucket: Some(BUCKET.into()), scope, policy, ..Config::default() };
    Deps { runs: RunStore::new(store, BUCKET), settings: Settings::from_config(&config).unwrap() }
}

fn org_deps(store: FakeStore) -> Deps<FakeStore> {
    deps_with(store, Scope::Organization, PolicyConfig::default())
}

fn event() -> Value {
    json!({
        "discovered": {
            "run": {"bucket": BUCKET, "execution_name": EXEC},
            "accounts_key": format!("runs/{EXEC}/accounts.json"),
            "accounts_discovered": 5, "accounts_selected": 4, "has_accounts": true
        },
        "evaluated_at": now()
    })
}

fn put(store: &FakeStore, key: &str, value: &impl serde::Serialize) {
    store
        .objects
        .lock()
        .unwrap()
        .insert((BUCKET.to_owned(), format!("runs/{EXEC}/{key}")), serde_json::to_vec(value).unwrap());
}

fn listing(account: &str, users_listed: usize, calls: u64) -> Value {
    json!({
        "account_id": account, "users_listed": users_listed, "screening": "report", "candidates": [],
        "deleted_since_report": 0, "api_calls": {"iam:ListUsers": calls}
    })
}

fn result(index: u32, users: Vec<User>, gone: &[&str]) -> BatchResult {
    BatchResult {
        index,
        users,
        gone: gone.iter().map(|g| (*g).to_owned()).collect(),
        api_calls: BTreeMap::from([("iam:GetUser".to_owned(), 1)]),
    }
}

/// The organisation run of accounts A to E as the Map over accounts leaves it.
fn org_run() -> FakeStore {
    let store = FakeStore::default();
    let selection = Selection {
        swept: [A, B, C, D].map(org_account).to_vec(),
        not_swept: vec![Unswept {
            account: org_account(E),
            why: NotSwept::Excluded { by: FilterEntry::Account(id(E)) },
        }],
        unmatched: vec![],
    };
    put(
        &store,
        "discovery.json",
        &Discovery { selection, api_calls: BTreeMap::from([("organizations:ListAccounts".to_owned(), 1)]) },
    );

    put(&store, &format!("accounts/{A}/listing.json"), &listing(A, 4, 1));
    put(
        &store,
        &format!("accounts/{A}/batches.json"),
        &[
            UserBatch { index: 0, users: vec!["alice".into(), "erin".into()] },
            UserBatch { index: 1, users: vec!["carol".into()] },
        ],
    );
    let alice = with_keys(user_in(A, "alice"), vec![key("AKIAALICE", 120, Some(100))]);
    put(&store, &format!("accounts/{A}/results/batch-00000.json"), &result(0, vec![alice], &["erin"]));

    put(&store, &format!("accounts/{B}/listing.json"), &listing(B, 2, 1));
    put(&store, &format!("accounts/{B}/batches.json"), &[UserBatch { index: 0, users: vec!["dave".into()] }]);
    let dave = with_keys(user_in(B, "dave"), vec![key("AKIADAVE1", 400, Some(1)), key("AKIADAVE2", 400, Some(2))]);
    put(&store, &format!("accounts/{B}/results/batch-00000.json"), &result(0, vec![dave], &[]));

    let refused =
        r#"{"errorMessage":"cannot assume role keyward-read in account 333333333333","errorType":"MemberRoleRefused"}"#;
    put(
        &store,
        &format!("accounts/{C}/failure.json"),
        &AccountFailure::new(id(C), "MemberRoleRefused", refused, "keyward-read"),
    );
    store
}

fn report(store: &FakeStore) -> RunReport {
    serde_json::from_value(store.json(&format!("runs/{EXEC}/report.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn every_discovered_account_is_swept_skipped_or_failed_and_one_plan_holds_the_swept_accounts_keys() {
    let deps = org_deps(org_run());

    let out = handle(&deps, now(), event()).await.unwrap();

    let report = report(deps.runs.store());
    assert_eq!(report.account_id, None, "an organisation run is of no one account");
    let coverage = report.coverage.as_ref().expect("coverage in organisation scope");
    assert_eq!(coverage.discovered, 5);
    let swept: Vec<_> = coverage
        .swept
        .iter()
        .map(|s| (s.account_id.as_str(), s.name.as_str(), s.users_listed, s.users_checked, s.users_not_evaluated))
        .collect();
    assert_eq!(swept, [(A, "name-111111111111", 4, 1, 1), (B, "name-222222222222", 2, 1, 0)]);
    let failed: Vec<_> = coverage
        .failed
        .iter()
        .map(|f| (f.failure.account_id.as_str(), f.name.as_str(), f.failure.error.as_str()))
        .collect();
    assert_eq!(failed, [(C, "name-333333333333", "MemberRoleRefused"), (D, "name-444444444444", "NotRecorded")]);
    assert_eq!(coverage.failed[0].failure.reason, "cannot assume role keyward-read in account 333333333333");
    assert_eq!(coverage.failed[1].failure, AccountFailure::not_recorded(id(D)));
    assert_eq!(coverage.skipped.len(), 1);
    assert_eq!(coverage.skipped[0].account.id, id(E));
    assert!(!coverage.is_complete());

    let planned: Vec<_> =
        report.evaluation.plan.keys.iter().map(|p| (p.key.account_id.as_str(), p.key.access_key_id.as_str())).collect();
    assert_eq!(planned, [(A, "AKIAALICE"), (B, "AKIADAVE1"), (B, "AKIADAVE2")]);
    assert_eq!((report.users_listed, report.users_checked), (6, 2));
    assert_eq!(report.users_gone, [format!("{A}:erin")]);
    assert_eq!(report.users_not_evaluated, [format!("{A}:carol")]);
    assert_eq!(
        report.api_calls,
        BTreeMap::from([
            ("iam:GetUser".to_owned(), 2),
            ("iam:ListUsers".to_owned(), 2),
            ("organizations:ListAccounts".to_owned(), 1)
        ])
    );

    assert_eq!(out.run.account_id, None);
    assert_eq!(out.report_key, format!("runs/{EXEC}/report.json"));
    assert!(!out.coverage_complete);
    assert_eq!(out.accounts_failed, 2);
    assert_eq!((out.planned, out.users_not_evaluated), (3, 1));
    // The swept accounts proceed although two others failed.
    assert_eq!((out.status, out.next), (PlanStatus::AwaitingApproval, NextStep::RequestApproval));
}

#[tokio::test]
async fn the_per_account_cap_binds_each_account_of_the_organisation_plan() {
    let policy = PolicyConfig { max_deactivations_per_account: 1, ..PolicyConfig::default() };
    let deps = deps_with(org_run(), Scope::Organization, policy);

    let out = handle(&deps, now(), event()).await.unwrap();

    assert_eq!(out.status, PlanStatus::AccountCapExceeded { account_id: id(B), planned: 2, cap: 1 });
    assert_eq!(out.next, NextStep::Done);
}

#[tokio::test]
async fn a_fully_swept_organisation_is_complete() {
    let store = org_run();
    let selection = Selection { swept: [A, B].map(org_account).to_vec(), not_swept: vec![], unmatched: vec![] };
    put(&store, "discovery.json", &Discovery { selection, api_calls: BTreeMap::new() });
    let deps = org_deps(store);

    let out = handle(&deps, now(), event()).await.unwrap();

    assert!(out.coverage_complete);
    assert_eq!(out.accounts_failed, 0);
    assert_eq!(report(deps.runs.store()).coverage.unwrap().discovered, 2);
}

#[tokio::test]
async fn each_scope_refuses_the_other_scopes_event_before_reading_anything() {
    let listed = json!({
        "listed": {
            "run": {"bucket": BUCKET, "execution_name": EXEC},
            "users_listed": 5, "candidates": 3, "batches": 2,
            "batches_key": format!("runs/{EXEC}/batches.json"), "has_candidates": true
        },
        "evaluated_at": now()
    });
    let mut account_part = listed.clone();
    account_part["listed"]["run"]["account_id"] = json!(A);
    for (scope, event, says) in [
        (Scope::Account, event(), "KEYWARD_SCOPE=account"),
        (Scope::Account, account_part, "KEYWARD_SCOPE=account"),
        (Scope::Organization, listed, "KEYWARD_SCOPE=organization"),
    ] {
        // A broken bucket: any read would fail as AwsCallFailed.
        let deps = deps_with(org_run(), scope, PolicyConfig::default());
        *deps.runs.store().broken.lock().unwrap() = true;

        let err = handle(&deps, now(), event).await.unwrap_err();

        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{scope:?}: {err}");
        assert!(err.to_string().contains(says), "{err}");
        assert!(deps.runs.store().json(&format!("runs/{EXEC}/report.json")).is_none());
    }
}

#[tokio::test]
async fn a_batch_result_holding_a_user_of_another_account_is_run_state_invalid() {
    let store = org_run();
    let stray = with_keys(user_in(B, "mallory"), vec![key("AKIAMALLORY", 400, None)]);
    put(&store, &format!("accounts/{A}/results/batch-00000.json"), &result(0, vec![stray], &[]));
    let deps = org_deps(store);

    let err = handle(&deps, now(), event()).await.unwrap_err();

    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
    assert!(err.to_string().contains(&format!("accounts/{A}/results/batch-00000.json")), "{err}");
    assert!(err.to_string().contains("user mallory of account 222222222222"), "{err}");
    assert!(deps.runs.store().json(&format!("runs/{EXEC}/report.json")).is_none());
}

#[tokio::test]
async fn a_listing_without_its_batches_is_an_account_not_recorded_not_a_failed_run() {
    let store = org_run();
    store.objects.lock().unwrap().remove(&(BUCKET.to_owned(), format!("runs/{EXEC}/accounts/{B}/batches.json")));
    let deps = org_deps(store);

    let out = handle(&deps, now(), event()).await.unwrap();

    let coverage = report(deps.runs.store()).coverage.unwrap();
    let failure = &coverage.failed.iter().find(|f| f.failure.account_id == id(B)).unwrap().failure;
    assert_eq!(failure.error, "NotRecorded");
    assert!(failure.reason.contains("listing but not its batches"), "{}", failure.reason);
    assert_eq!(out.accounts_failed, 3);
}
