//! validate-keys over a fake bucket holding hand-placed run state: what it reads, what it refuses,
//! and the error names Step Functions sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use keyward_core::config::{Config, Scope, Screening};
use keyward_core::contracts::{BatchResult, NextStep, UserBatch};
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::FakeStore;
use keyward_core::fixtures::*;
use keyward_core::model::User;
use keyward_core::org::AccountId;
use keyward_core::policy::PlanStatus;
use keyward_core::run_report::RunReport;
use keyward_core::run_store::RunStore;
use serde_json::{Value, json};
use validate_keys::handler::{Deps, Settings, handle, next_step};

const BUCKET: &str = "keyward-reports-123456789012";
const EXEC: &str = "keyward-2026-11-21";

/// validate-keys over `store`, with the default policy.
fn deps(store: FakeStore) -> Deps<FakeStore> {
    let config = Config { report_bucket: Some(BUCKET.into()), ..Config::default() };
    Deps { runs: RunStore::new(store, BUCKET), settings: Settings::from_config(&config).unwrap() }
}

fn event() -> Value {
    json!({
        "listed": {
            "run": {"bucket": BUCKET, "execution_name": EXEC},
            "users_listed": 5, "candidates": 3, "batches": 2,
            "batches_key": format!("runs/{EXEC}/batches.json"), "has_candidates": true
        },
        "evaluated_at": now()
    })
}

fn put(store: &FakeStore, key: &str, value: &impl serde::Serialize) {
    put_raw(store, key, serde_json::to_vec(value).unwrap());
}

fn put_raw(store: &FakeStore, key: &str, body: Vec<u8>) {
    store.objects.lock().unwrap().insert((BUCKET.to_owned(), format!("runs/{EXEC}/{key}")), body);
}

fn result(index: u32, users: Vec<User>, gone: &[&str], get_user_calls: u64) -> BatchResult {
    BatchResult {
        index,
        users,
        gone: gone.iter().map(|g| (*g).to_owned()).collect(),
        api_calls: BTreeMap::from([("iam:GetUser".to_owned(), get_user_calls)]),
    }
}

/// A run whose two batches were both checked: alice (old key), bob (compliant), carol (deleted).
fn checked_run() -> FakeStore {
    let store = FakeStore::default();
    put(
        &store,
        "batches.json",
        &[
            UserBatch { index: 0, users: vec!["alice".into(), "bob".into()] },
            UserBatch { index: 1, users: vec!["carol".into()] },
        ],
    );
    put(
        &store,
        "listing.json",
        &json!({
            "users_listed": 5, "screening": "report", "candidates": [], "deleted_since_report": 0,
            "api_calls": {"iam:ListUsers": 1, "iam:GetCredentialReport": 2}
        }),
    );
    let alice = with_keys(user("alice"), vec![key("AKIAALICE", 120, Some(1))]);
    put(&store, "results/batch-00000.json", &result(0, vec![alice, user("bob")], &[], 2));
    put(&store, "results/batch-00001.json", &result(1, vec![], &["carol"], 1));
    store
}

fn report(store: &FakeStore) -> RunReport {
    serde_json::from_value(store.json(&format!("runs/{EXEC}/report.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn report_gathers_every_batch_and_sums_the_api_calls() {
    let deps = deps(checked_run());
    let store = deps.runs.store();

    let out = handle(&deps, now(), event()).await.unwrap();

    let report = report(store);
    assert_eq!(report.users_listed, 5);
    assert_eq!(report.screening, Screening::CredentialReport);
    assert_eq!(report.users_checked, 2);
    assert_eq!(report.users_gone, vec!["carol".to_owned()]);
    assert!(report.users_not_evaluated.is_empty());
    assert_eq!(
        report.api_calls,
        BTreeMap::from([
            ("iam:GetCredentialReport".to_owned(), 2),
            ("iam:GetUser".to_owned(), 3),
            ("iam:ListUsers".to_owned(), 1)
        ])
    );
    assert!(report.evaluation.plan.contains("alice", "AKIAALICE"));
    assert_eq!(report.evaluation.plan.keys.len(), 1);
    assert_eq!((out.planned, out.status, out.next), (1, PlanStatus::AwaitingApproval, NextStep::RequestApproval));
}

#[tokio::test]
async fn an_existing_report_is_never_overwritten_and_the_run_fails_naming_it() {
    // GIVEN an earlier execution with the same name recorded its report (or this run, before a redrive)
    let store = checked_run();
    let earlier = br#"{"an earlier run's record": true}"#.to_vec();
    put_raw(&store, "report.json", earlier.clone());
    let deps = deps(store);

    // WHEN this run is evaluated
    let err = handle(&deps, now(), event()).await.unwrap_err();

    // THEN it fails as RunAlreadyRecorded, naming the record, which is left as it was
    assert_eq!(err.error_name(), errors::RUN_ALREADY_RECORDED);
    let message = err.to_string();
    assert!(message.contains(&format!("s3://{BUCKET}/runs/{EXEC}/report.json")), "{message}");
    assert!(message.contains("never overwritten"), "{message}");
    let stored =
        deps.runs.store().objects.lock().unwrap().get(&(BUCKET.into(), format!("runs/{EXEC}/report.json"))).cloned();
    assert_eq!(stored, Some(earlier));
}

#[tokio::test]
async fn a_retried_invocation_finds_its_own_report_and_succeeds_writing_nothing() {
    let deps = deps(checked_run());
    let first = handle(&deps, now(), event()).await.unwrap();
    let written = deps.runs.store().objects.lock().unwrap().clone();

    let again = handle(&deps, now(), event()).await.unwrap();

    assert_eq!((again.planned, again.status), (first.planned, first.status));
    assert_eq!(*deps.runs.store().objects.lock().unwrap(), written);
}

#[tokio::test]
async fn the_listings_unreadable_report_rows_are_carried_into_the_run_report() {
    // GIVEN a listing naming a credential-report row list-users could not read
    let deps = deps(checked_run());
    let store = deps.runs.store();
    put(
        store,
        "listing.json",
        &json!({
            "users_listed": 5, "screening": "report", "candidates": [], "deleted_since_report": 0,
            "unreadable_report_rows": [
                {"line": 4, "user": "smith,john", "reason": "credential report line 4: 24 fields, but the header has 22"}
            ]
        }),
    );

    handle(&deps, now(), event()).await.unwrap();

    // THEN the run report names it, for the audit and the digest
    let rows = report(store).unreadable_report_rows;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].line, rows[0].user.as_deref()), (4, Some("smith,john")));
    assert_eq!(rows[0].reason, "credential report line 4: 24 fields, but the header has 22");
    // AND a run whose report was read whole stores no such field
    let read_whole = self::deps(checked_run());
    handle(&read_whole, now(), event()).await.unwrap();
    let json = read_whole.runs.store().json(&format!("runs/{EXEC}/report.json")).unwrap();
    assert!(json.get("unreadable_report_rows").is_none(), "{json}");
}

#[tokio::test]
async fn a_listing_screened_live_for_want_of_the_report_says_so_in_the_run_report() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    put(
        store,
        "listing.json",
        &json!({
            "users_listed": 5, "screening": "report", "candidates": [], "deleted_since_report": 0,
            "report_unavailable": "the report was still in progress"
        }),
    );

    handle(&deps, now(), event()).await.unwrap();

    assert_eq!(report(store).report_unavailable.as_deref(), Some("the report was still in progress"));
    let read_whole = self::deps(checked_run());
    handle(&read_whole, now(), event()).await.unwrap();
    assert_eq!(report(read_whole.runs.store()).report_unavailable, None);
}

#[tokio::test]
async fn output_is_counts_only_whatever_the_plan_size() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    let many: Vec<User> = (0..300)
        .map(|n| with_keys(user(&format!("user-{n:03}")), vec![key(&format!("AKIA{n:016}"), 200, None)]))
        .collect();
    put(store, "results/batch-00000.json", &result(0, many, &[], 300));

    let out = handle(&deps, now(), event()).await.unwrap();

    assert_eq!(out.planned, 300);
    assert!(serde_json::to_vec(&out).unwrap().len() < 1024, "the state output stays small");
}

#[tokio::test]
async fn missing_batch_result_names_its_users_as_not_evaluated() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    store.objects.lock().unwrap().remove(&(BUCKET.to_owned(), format!("runs/{EXEC}/results/batch-00000.json")));

    let out = handle(&deps, now(), event()).await.unwrap();

    let report = report(store);
    assert_eq!(report.users_not_evaluated, vec!["alice".to_owned(), "bob".to_owned()]);
    assert!(report.evaluation.plan.keys.is_empty(), "nothing acts on users not evaluated");
    assert_eq!(out.users_not_evaluated, 2);
    assert_eq!((out.status, out.next), (PlanStatus::Empty, NextStep::Done));
}

#[tokio::test]
async fn missing_batches_is_run_state_invalid_naming_the_key() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    store.objects.lock().unwrap().remove(&(BUCKET.to_owned(), format!("runs/{EXEC}/batches.json")));
    let err = handle(&deps, now(), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
    assert!(err.to_string().contains(&format!("runs/{EXEC}/batches.json")), "{err}");
    assert!(store.json(&format!("runs/{EXEC}/report.json")).is_none());
}

#[tokio::test]
async fn unparseable_listing_is_run_state_invalid_naming_the_key() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    put_raw(store, "listing.json", b"{\"users_listed\": \"many\"".to_vec());
    let err = handle(&deps, now(), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
    assert!(err.to_string().contains(&format!("runs/{EXEC}/listing.json")), "{err}");
}

#[tokio::test]
async fn corrupt_batch_result_is_run_state_invalid_not_a_skipped_batch() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    put_raw(store, "results/batch-00001.json", b"not json".to_vec());
    let err = handle(&deps, now(), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
    assert!(err.to_string().contains("results/batch-00001.json"), "{err}");
}

#[tokio::test]
async fn result_of_another_batch_is_run_state_invalid() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    put(store, "results/batch-00001.json", &result(0, vec![], &[], 0));
    let err = handle(&deps, now(), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
    assert!(err.to_string().contains("instead of batch 1"), "{err}");
}

#[tokio::test]
async fn run_in_another_bucket_is_refused_as_invalid_input() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    let mut event = event();
    event["listed"]["run"]["bucket"] = json!("attacker-bucket");
    let err = handle(&deps, now(), event).await.unwrap_err();
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(store.json(&format!("runs/{EXEC}/report.json")).is_none());
}

#[tokio::test]
async fn unreadable_bucket_is_aws_call_failed() {
    let deps = deps(checked_run());
    let store = deps.runs.store();
    *store.broken.lock().unwrap() = true;
    let err = handle(&deps, now(), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
}

#[test]
fn next_step_follows_the_plan_status() {
    assert_eq!(next_step(&PlanStatus::AwaitingApproval), NextStep::RequestApproval);
    assert_eq!(next_step(&PlanStatus::Automatic), NextStep::Deactivate);
    assert_eq!(next_step(&PlanStatus::Empty), NextStep::Done);
    assert_eq!(next_step(&PlanStatus::ReportOnly), NextStep::Done);
    assert_eq!(next_step(&PlanStatus::CapExceeded { planned: 30, cap: 25 }), NextStep::Done);
    let account_cap =
        PlanStatus::AccountCapExceeded { account_id: AccountId::parse("123456789012").unwrap(), planned: 3, cap: 2 };
    assert_eq!(next_step(&account_cap), NextStep::Done);
}

#[tokio::test]
async fn malformed_event_is_invalid_input_not_a_type_name() {
    for bad in [json!({}), json!(null), json!({"listed": {}, "evaluated_at": now()})] {
        let err = handle(&deps(checked_run()), now(), bad.clone()).await.unwrap_err();
        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{bad}");
        assert!(err.to_string().starts_with("invalid ValidateKeysInput event: "), "{err}");
    }
}

#[tokio::test]
async fn every_sample_event_is_handled_or_refused_as_invalid_input() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/validate-keys");
    let mut seen = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // An empty bucket: a valid event decodes, then finds no run state (an organisation run's
        // sample in a deployment of that scope).
        let mut deps = deps(FakeStore::default());
        if name.contains("-org-") {
            deps.settings.scope = Scope::Organization;
        }
        let err = handle(&deps, now(), event).await.unwrap_err();
        if name.starts_with("invalid-") {
            assert_eq!(err.error_name(), errors::INVALID_INPUT, "{name}: {err}");
            seen.1 += 1;
        } else {
            assert_eq!(err.error_name(), errors::RUN_STATE_INVALID, "{name}: {err}");
            seen.0 += 1;
        }
    }
    assert!(seen.0 >= 2 && seen.1 >= 1, "{seen:?}");
}
