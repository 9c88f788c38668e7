//! Behaviour of the deactivate handler on in-memory fakes: exactly the approved planned keys become
//! inactive, each re-checked live first; forged decisions, missing decisions and non-actionable
//! plans touch nothing; one failure does not stop the others; a key IAM does not show Inactive yet
//! is re-read with backoff, then recorded as not yet visible, never as failed; the report records
//! it all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use deactivate::handler::{DeactivateError, Deps, Settings};
use keyward_core::config::budget::READ_BACK_DELAYS;
use keyward_core::config::{Config, Mode, PolicyConfig, Screening};
use keyward_core::contracts::DeactivateOutput;
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{INVALID_INPUT, NamedError, RUN_STATE_INVALID};
use keyward_core::exemption::{EXEMPT_REASON_TAG, EXEMPT_UNTIL_TAG};
use keyward_core::fakes::{FakeAccountAccess, FakeApprovals, FakeIam, FakeStore};
use keyward_core::fixtures::{days_ago, key, now as evaluated_at};
use keyward_core::journal::{Journal, KeyState, claim_key, done_key};
use keyward_core::model::{AccessKey, KeyRef, KeyStatus, KeyUse, User};
use keyward_core::org::AccountId;
use keyward_core::policy::{PlanStatus, evaluate};
use keyward_core::ports::{DecisionOutcome, Iam, RecordedDecision};
use keyward_core::recheck::SkipReason;
use keyward_core::run_report::{ActionOutcome, REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::{RunStore, RunStoreError};
use serde_json::{Value, json};

const BUCKET: &str = "keyward-reports-123456789012";
const EXECUTION: &str = "keyward-2026-11-21";
const REPORT_KEY: &str = "runs/keyward-2026-11-21/report.json";

/// alice's old, unused key (the id `events/deactivate/approved.json` approves).
const A1: &str = "AKIAALICE1OLDKEY0001";
/// alice's fresh key: never in the plan.
const A2: &str = "AKIAALICE2FRESHKEY02";
/// bob has no MFA and a console password: both his keys are planned.
const B1: &str = "AKIABOB1NOMFAKEY0001";
const B2: &str = "AKIABOB2NOMFAKEY0002";
/// carol's key is older than a year.
const C1: &str = "AKIACAROL1OLDKEY0001";

/// The time of the deactivation (the approver took a while).
fn now() -> DateTime<Utc> {
    evaluated_at() + Duration::hours(3)
}

fn user(name: &str, mfa: bool, console: bool, keys: Vec<AccessKey>) -> User {
    User {
        name: name.into(),
        arn: keyward_core::fixtures::user_arn(name),
        path: "/".into(),
        created: days_ago(800),
        has_console_password: console,
        console_password_source: Default::default(),
        mfa_devices: if mfa { vec![format!("arn:aws:iam::123456789012:mfa/{name}")] } else { vec![] },
        tags: Default::default(),
        access_keys: keys,
    }
}

/// alice: A1 unused for 100 days (planned), A2 fresh; bob: no MFA with a console password (B1, B2
/// planned); carol: C1 created 400 days ago (planned).
fn users() -> Vec<User> {
    vec![
        user("alice", true, false, vec![key(A1, 120, Some(100)), key(A2, 10, Some(1))]),
        user("bob", false, true, vec![key(B1, 30, Some(1)), key(B2, 40, Some(2))]),
        user("carol", true, false, vec![key(C1, 400, Some(1))]),
    ]
}

fn policy(mode: Mode) -> PolicyConfig {
    PolicyConfig { mode, max_key_age_days: 365, unused_key_days: 90, ..PolicyConfig::default() }
}

fn report(mode: Mode) -> RunReport {
    let config = policy(mode);
    let evaluation = evaluate(&users(), &config, evaluated_at());
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: Some(keyward_core::fixtures::account()),
        config,
        screening: Screening::CredentialReport,
        users_listed: 3,
        users_checked: 3,
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        evaluation,
        decision: None,
        actions: vec![],
        api_calls: Default::default(),
        coverage: None,
    }
}

fn store_with(report: &RunReport) -> FakeStore {
    let store = FakeStore::default();
    store.objects.lock().unwrap().insert((BUCKET.into(), REPORT_KEY.into()), serde_json::to_vec(report).unwrap());
    store
}

type TestDeps = Deps<FakeIam, FakeStore, FakeApprovals, FakeAccountAccess>;

/// deactivate over `iam` and `store`, with the configuration unchanged since the run (the stored
/// report's policy, when there is one) and credentials that are no IAM user's key.
fn deps(iam: FakeIam, store: FakeStore) -> TestDeps {
    let stored = store.objects.lock().unwrap().get(&(BUCKET.to_owned(), REPORT_KEY.to_owned())).cloned();
    let policy = stored.and_then(|b| serde_json::from_slice::<RunReport>(&b).ok()).map(|r| r.config);
    deps_in_force(iam, store, policy.unwrap_or_default(), None)
}

/// deactivate over `iam` and `store`, with `policy` in force and running with `own_key`.
fn deps_in_force(iam: FakeIam, store: FakeStore, policy: PolicyConfig, own_key: Option<&str>) -> TestDeps {
    let config = Config { report_bucket: Some(BUCKET.into()), policy, ..Config::default() };
    let settings = Settings::from_config(&config, own_key.map(str::to_owned)).unwrap();
    Deps { iam, members: None, runs: RunStore::new(store, BUCKET), decisions: FakeApprovals::default(), settings }
}

fn run_ref() -> keyward_core::contracts::RunRef {
    keyward_core::contracts::RunRef::new(BUCKET, EXECUTION)
}

/// Records `decision` in the decisions table as the approval function does (outcome approved).
fn record(deps: &TestDeps, decision: &Decision) {
    let recorded = RecordedDecision {
        run: run_ref(),
        approval_id_hash: "ab".repeat(32),
        outcome: DecisionOutcome::Approved,
        decision: decision.clone(),
    };
    deps.decisions.decisions.lock().unwrap().insert(EXECUTION.into(), recorded);
}

/// deactivate itself, as Lambda request `req-1`, with nothing recorded on the test's behalf.
async fn invoke(deps: &TestDeps, now: DateTime<Utc>, event: Value) -> Result<DeactivateOutput, DeactivateError> {
    deactivate::handler::handle(deps, now, "req-1".to_owned(), event).await
}

fn stored_report(store: &FakeStore) -> RunReport {
    serde_json::from_value(store.json(REPORT_KEY).unwrap()).unwrap()
}

fn decision(keys: &[(&str, &str)]) -> Decision {
    Decision {
        approved: keys
            .iter()
            .map(|(u, k)| KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: (*u).into(),
                access_key_id: (*k).into(),
            })
            .collect(),
        decided_by: Approver::LinkHolder { source_ip: Some("203.0.113.7".into()), user_agent: None },
        decided_at: evaluated_at() + Duration::hours(2),
    }
}

fn event(decision: Option<&Decision>) -> Value {
    let mut e = json!({"run": {"bucket": BUCKET, "execution_name": EXECUTION}});
    if let Some(d) = decision {
        e["decision"] = serde_json::to_value(d).unwrap();
    }
    e
}

fn status(iam: &FakeIam, user: &str, key: &str) -> Option<KeyStatus> {
    iam.key_status(user, key)
}

fn all_keys() -> [(&'static str, &'static str); 5] {
    [("alice", A1), ("alice", A2), ("bob", B1), ("bob", B2), ("carol", C1)]
}

fn assert_nothing_touched(iam: &FakeIam) {
    assert!(iam.deactivations.lock().unwrap().is_empty(), "no UpdateAccessKey call");
    for (u, k) in all_keys() {
        assert_eq!(status(iam, u, k), Some(KeyStatus::Active), "{u}/{k}");
    }
}

fn outcome_of(report: &RunReport, key: &str) -> ActionOutcome {
    report
        .actions
        .iter()
        .find(|a| a.key.access_key_id == key)
        .unwrap_or_else(|| panic!("no action for {key}"))
        .outcome
        .clone()
}

fn counts(deactivated: usize, skipped: usize, failed: usize) -> DeactivateOutput {
    DeactivateOutput { run: run_ref(), deactivated, skipped, failed, already_executed: false }
}

/// Runs deactivate as the state machine does after an approval: the approval function, which
/// accepts only keys of a plan awaiting approval, has recorded the event's decision in the
/// decisions table before calling back.
async fn handle(deps: &TestDeps, now: DateTime<Utc>, event: Value) -> Result<DeactivateOutput, DeactivateError> {
    let store = deps.runs.store();
    let decision = event.get("decision").and_then(|d| serde_json::from_value::<Decision>(d.clone()).ok());
    let stored = store.objects.lock().unwrap().get(&(BUCKET.to_owned(), REPORT_KEY.to_owned())).cloned();
    let report = stored.and_then(|bytes| serde_json::from_slice::<RunReport>(&bytes).ok());
    if let (Some(decision), Some(report)) = (decision, report) {
        let plan = &report.evaluation.plan;
        if plan.status == PlanStatus::AwaitingApproval && decision.approved_in(plan).is_ok() {
            record(deps, &decision);
        }
    }
    invoke(deps, now, event).await
}

#[tokio::test]
async fn a_decision_that_is_not_the_recorded_one_is_refused_and_touches_nothing() {
    // GIVEN a report awaiting approval, and an approver's decision for alice's key recorded
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Approve));
    let deps = deps(iam, store);
    record(&deps, &decision(&[("alice", A1)]));
    // WHEN an invoker brings its own decision, naming more planned keys
    let event = event(Some(&decision(&[("alice", A1), ("carol", C1)])));
    let err = invoke(&deps, now(), event).await.unwrap_err();
    // THEN it is refused whole and nothing is touched
    assert_eq!(err.error_name(), "InvalidInput");
    assert!(err.to_string().contains("not the one recorded in the decisions table"), "{err}");
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn a_decision_written_into_the_run_report_but_not_recorded_acts_on_nothing() {
    // GIVEN a run report into which someone who can write the bucket put a decision, the decisions
    // table holding none for the run
    let d = decision(&[("alice", A1), ("carol", C1)]);
    let forged = RunReport { decision: Some(d.clone()), ..report(Mode::Approve) };
    let deps = deps(FakeIam::with_users(users()), store_with(&forged));
    // WHEN deactivate is invoked with that decision, or with none
    for given in [Some(&d), None] {
        let err = invoke(&deps, now(), event(given)).await.unwrap_err();
        // THEN nothing is touched and nothing is claimed
        assert_eq!(err.error_name(), INVALID_INPUT);
        assert!(err.to_string().contains("holds no decision for this run"), "{err}");
    }
    assert_nothing_touched(&deps.iam);
    assert!(deps.runs.store().json(&claim_key(&run_ref())).is_none());
}

#[tokio::test]
async fn the_recorded_decision_is_acted_on_without_one_in_the_event_and_copied_into_the_report() {
    let deps = deps(FakeIam::with_users(users()), store_with(&report(Mode::Approve)));
    let d = decision(&[("bob", B1)]);
    record(&deps, &d);

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(1, 0, 0));
    assert_eq!(status(&deps.iam, "bob", B1), Some(KeyStatus::Inactive));
    assert_eq!(stored_report(deps.runs.store()).decision, Some(d));
}

#[tokio::test]
async fn a_recorded_rejection_acts_on_nothing() {
    let deps = deps(FakeIam::with_users(users()), store_with(&report(Mode::Approve)));
    record(&deps, &decision(&[]));
    deps.decisions.decisions.lock().unwrap().get_mut(EXECUTION).unwrap().outcome = DecisionOutcome::Rejected;

    let err = invoke(&deps, now(), event(None)).await.unwrap_err();

    assert_eq!(err.error_name(), INVALID_INPUT);
    assert!(err.to_string().contains("rejected"), "{err}");
    assert_nothing_touched(&deps.iam);
}

/// `report` with the plan's key `key_id` moved to account `account`, as a report naming a key of
/// another account than the run's would read.
fn with_planned_key_in(mut report: RunReport, key_id: &str, account: &str) -> RunReport {
    let planned = report.evaluation.plan.keys.iter_mut().find(|k| k.key.access_key_id == key_id).unwrap();
    planned.key.account_id = AccountId::parse(account).unwrap();
    report
}

#[tokio::test]
async fn a_planned_key_of_another_account_is_refused_before_the_claim_and_calls_no_iam() {
    for mode in [Mode::Approve, Mode::Auto] {
        // GIVEN a run of account 123456789012 whose plan names carol's key in account 999999999999,
        // and (approve mode) a recorded decision approving exactly that key
        let moved = with_planned_key_in(report(mode), C1, "999999999999");
        let deps = deps(FakeIam::with_users(users()), store_with(&moved));
        if mode == Mode::Approve {
            let mut d = decision(&[("alice", A1), ("carol", C1)]);
            d.approved[1].account_id = AccountId::parse("999999999999").unwrap();
            record(&deps, &d);
        }
        // WHEN deactivate runs
        let err = invoke(&deps, now(), event(None)).await.unwrap_err();
        // THEN it is refused naming the key and both accounts, before the claim and any IAM call
        assert_eq!(err.error_name(), INVALID_INPUT, "{mode:?}");
        let text = err.to_string();
        assert!(text.contains(C1) && text.contains("999999999999") && text.contains("123456789012"), "{text}");
        assert!(deps.runs.store().json(&claim_key(&run_ref())).is_none(), "{mode:?}: claimed");
        assert!(deps.iam.api_calls().is_empty(), "{mode:?}: {:?}", deps.iam.api_calls());
        assert_nothing_touched(&deps.iam);
    }
}

#[tokio::test]
async fn a_run_report_without_the_runs_account_is_refused_rather_than_guessed() {
    // GIVEN a run started by hand, without an execution ARN: the report names no account
    let unknown = RunReport { account_id: None, ..report(Mode::Auto) };
    let deps = deps(FakeIam::with_users(users()), store_with(&unknown));
    // WHEN deactivate runs THEN it refuses, claims nothing and touches nothing
    let err = invoke(&deps, now(), event(None)).await.unwrap_err();
    assert_eq!(err.error_name(), INVALID_INPUT);
    assert!(err.to_string().contains("does not name the run's account"), "{err}");
    assert!(deps.runs.store().json(&claim_key(&run_ref())).is_none());
    assert!(deps.iam.api_calls().is_empty());
}

#[tokio::test]
async fn a_run_in_another_bucket_is_refused_and_touches_nothing() {
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Auto));
    let event = json!({"run": {"bucket": "attacker-bucket", "execution_name": EXECUTION}});
    let deps = deps(iam, store);
    let err = invoke(&deps, now(), event).await.unwrap_err();
    assert_eq!(err.error_name(), "InvalidInput");
    assert_nothing_touched(&deps.iam);
}

#[test]
fn fixture_plan_holds_a1_b1_b2_c1_and_not_a2() {
    let plan = report(Mode::Approve).evaluation.plan;
    let ids: Vec<&str> = plan.keys.iter().map(|k| k.key.access_key_id.as_str()).collect();
    assert_eq!(ids, [A1, B1, B2, C1]);
    assert_eq!(plan.status, PlanStatus::AwaitingApproval);
}

#[tokio::test]
async fn approving_a_subset_deactivates_exactly_that_subset() {
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Approve));
    let d = decision(&[("alice", A1), ("bob", B2)]);

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&d))).await.unwrap();

    assert_eq!(out, counts(2, 0, 0));
    assert_eq!(status(&deps.iam, "alice", A1), Some(KeyStatus::Inactive));
    assert_eq!(status(&deps.iam, "bob", B2), Some(KeyStatus::Inactive));
    // In the plan but not approved, and not in the plan at all: untouched.
    assert_eq!(status(&deps.iam, "bob", B1), Some(KeyStatus::Active));
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Active));
    assert_eq!(status(&deps.iam, "alice", A2), Some(KeyStatus::Active));
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("alice".into(), A1.into()), ("bob".into(), B2.into())]);
}

#[tokio::test]
async fn report_is_written_back_with_decision_actions_and_api_calls() {
    let iam = FakeIam::with_users(users());
    let before = report(Mode::Approve);
    let store = store_with(&before);
    let d = decision(&[("alice", A1), ("carol", C1)]);
    // A warm instance: calls of an earlier invocation are not this run's.
    iam.read_user("alice").await.unwrap();

    let deps = deps(iam, store);
    handle(&deps, now(), event(Some(&d))).await.unwrap();

    let after = stored_report(deps.runs.store());
    assert_eq!(after.decision, Some(d));
    assert_eq!(after.actions.len(), 2);
    assert!(after.actions.iter().all(|a| a.at == now() && a.outcome == ActionOutcome::Deactivated));
    assert_eq!(after.actions.iter().map(|a| a.key.access_key_id.as_str()).collect::<Vec<_>>(), [A1, C1]);
    // Per key a full re-check, one UpdateAccessKey and a read-back of the key's status alone.
    assert_eq!(after.api_calls.get("iam:UpdateAccessKey"), Some(&2));
    assert_eq!(after.api_calls.get("iam:GetUser"), Some(&2));
    assert_eq!(after.api_calls.get("iam:ListAccessKeys"), Some(&2));
    // The rest of the audit record is kept as it was.
    assert_eq!(after.evaluation, before.evaluation);
    assert_eq!(after.config, before.config);
}

#[tokio::test]
async fn forged_key_in_decision_is_refused_and_nothing_changes() {
    for forged in [
        vec![("alice", A1), ("alice", A2)], // a real key that is not in the plan
        vec![("alice", A1), ("alice", "AKIAFORGED000000001")], // a key that does not exist
        vec![("alice", B1)],                // a planned key attributed to another user
    ] {
        // Even a forged decision that made it into the decisions table acts only on planned keys.
        let iam = FakeIam::with_users(users());
        let before = report(Mode::Approve);
        let store = store_with(&before);

        let event = event(Some(&decision(&forged)));
        let deps = deps(iam, store);
        record(&deps, &decision(&forged));
        let err = invoke(&deps, now(), event).await.unwrap_err();

        assert_eq!(err.error_name(), INVALID_INPUT, "{forged:?}: {err}");
        assert!(err.to_string().contains("not in this run's plan"), "{err}");
        assert_nothing_touched(&deps.iam);
        assert_eq!(stored_report(deps.runs.store()), before, "the report is not rewritten");
    }
}

#[tokio::test]
async fn key_rotated_since_the_plan_is_skipped_as_deleted() {
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().get_mut("alice").unwrap().access_keys.retain(|k| k.id != A1);
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(1, 1, 0));
    assert_eq!(
        outcome_of(&stored_report(deps.runs.store()), A1),
        ActionOutcome::Skipped { reason: SkipReason::KeyDeleted }
    );
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Inactive));
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("carol".into(), C1.into())]);
}

#[tokio::test]
async fn key_used_since_the_plan_is_skipped_as_no_longer_violating() {
    let iam = FakeIam::with_users(users());
    {
        let mut users = iam.users.lock().unwrap();
        let a1 = users.get_mut("alice").unwrap().access_keys.iter_mut().find(|k| k.id == A1).unwrap();
        a1.last_used = Some(KeyUse { at: now() - Duration::hours(1), service: Some("sts".into()), region: None });
    }
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1)])))).await.unwrap();

    assert_eq!(out, counts(0, 1, 0));
    assert!(matches!(
        outcome_of(&stored_report(deps.runs.store()), A1),
        ActionOutcome::Skipped { reason: SkipReason::NoLongerViolates { .. } }
    ));
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn a_user_tagged_exempt_since_the_plan_is_skipped_but_not_beyond_max_exemption_days() {
    // GIVEN alice tagged keyward:exempt-until today and carol tagged 200 days ahead, after the plan
    let iam = FakeIam::with_users(users());
    {
        let mut users = iam.users.lock().unwrap();
        let today = now().date_naive();
        for (name, until) in [("alice", today), ("carol", today + chrono::Days::new(200))] {
            let tags = &mut users.get_mut(name).unwrap().tags;
            tags.insert(EXEMPT_UNTIL_TAG.into(), until.to_string());
            tags.insert(EXEMPT_REASON_TAG.into(), "INC-42".into());
        }
    }
    let store = store_with(&report(Mode::Approve));

    // WHEN both keys are approved
    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

    // THEN alice's key is skipped as exempt, and carol's tag (over MAX_EXEMPTION_DAYS=90) exempts nothing
    assert_eq!(out, counts(1, 1, 0));
    let report = stored_report(deps.runs.store());
    assert_eq!(outcome_of(&report, A1), ActionOutcome::Skipped { reason: SkipReason::Exempted });
    assert_eq!(outcome_of(&report, C1), ActionOutcome::Deactivated);
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("carol".into(), C1.into())]);
}

#[tokio::test]
async fn deleted_user_is_skipped() {
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().remove("carol");
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(0, 1, 0));
    assert_eq!(
        outcome_of(&stored_report(deps.runs.store()), C1),
        ActionOutcome::Skipped { reason: SkipReason::UserDeleted }
    );
    assert!(deps.iam.deactivations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn mfa_enabled_since_a_no_mfa_plan_skips_the_users_keys() {
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().get_mut("bob").unwrap().mfa_devices.push("arn:aws:iam::123456789012:mfa/bob".into());
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("bob", B1), ("bob", B2)])))).await.unwrap();

    assert_eq!(out, counts(0, 2, 0));
    let after = stored_report(deps.runs.store());
    for k in [B1, B2] {
        assert_eq!(
            outcome_of(&after, k),
            ActionOutcome::Skipped { reason: SkipReason::NoLongerViolates { detail: "the user has MFA now".into() } }
        );
    }
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn already_inactive_key_is_skipped_without_a_call() {
    let iam = FakeIam::with_users(users());
    {
        let mut users = iam.users.lock().unwrap();
        users.get_mut("carol").unwrap().access_keys[0].status = KeyStatus::Inactive;
    }
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(0, 1, 0));
    assert_eq!(
        outcome_of(&stored_report(deps.runs.store()), C1),
        ActionOutcome::Skipped { reason: SkipReason::AlreadyInactive }
    );
    assert!(deps.iam.deactivations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn approvals_over_the_cap_at_deactivate_time_touch_nothing() {
    let iam = FakeIam::with_users(users());
    let mut r = report(Mode::Approve);
    r.config.max_deactivations_per_run = 1;
    let store = store_with(&r);

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(0, 2, 0));
    let after = stored_report(deps.runs.store());
    for k in [A1, C1] {
        assert_eq!(
            outcome_of(&after, k),
            ActionOutcome::Skipped { reason: SkipReason::CapExceeded { approved: 2, cap: 1 } }
        );
    }
    assert_nothing_touched(&deps.iam);
    assert_eq!(deps.iam.api_calls().get("iam:GetUser"), None, "not even a live read");
}

#[tokio::test]
async fn approvals_over_the_account_cap_touch_nothing_and_name_the_account() {
    // GIVEN a run whose per-run cap allows both approved keys but whose per-account cap allows one
    let iam = FakeIam::with_users(users());
    let mut r = report(Mode::Approve);
    r.config.max_deactivations_per_account = 1;
    let store = store_with(&r);

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

    // THEN every key is skipped with the account cap's reason, and IAM is not called at all
    assert_eq!(out, counts(0, 2, 0));
    let after = stored_report(deps.runs.store());
    let reason = SkipReason::AccountCapExceeded { account_id: keyward_core::fixtures::account(), approved: 2, cap: 1 };
    for k in [A1, C1] {
        assert_eq!(outcome_of(&after, k), ActionOutcome::Skipped { reason: reason.clone() });
    }
    assert!(reason.describe().contains("account 123456789012"), "{}", reason.describe());
    assert!(reason.describe().contains("MAX_DEACTIVATIONS_PER_ACCOUNT"), "{}", reason.describe());
    assert_nothing_touched(&deps.iam);
    assert!(deps.iam.api_calls().is_empty(), "not even a live read");
}

#[tokio::test]
async fn a_cap_lowered_since_the_plan_holds_the_approved_set_back() {
    // GIVEN a run planned under the default caps, and caps in force now that allow one key
    for now_config in [
        PolicyConfig { max_deactivations_per_run: 1, ..policy(Mode::Approve) },
        PolicyConfig { max_deactivations_per_account: 1, ..policy(Mode::Approve) },
    ] {
        let deps = deps_in_force(FakeIam::with_users(users()), store_with(&report(Mode::Approve)), now_config, None);

        let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

        assert_eq!(out, counts(0, 2, 0));
        assert_nothing_touched(&deps.iam);
        let after = stored_report(deps.runs.store());
        for action in &after.actions {
            assert!(
                matches!(
                    action.outcome,
                    ActionOutcome::Skipped {
                        reason: SkipReason::CapExceeded { .. } | SkipReason::AccountCapExceeded { .. }
                    }
                ),
                "{:?}",
                action.outcome
            );
        }
    }
}

#[tokio::test]
async fn one_failed_deactivation_does_not_stop_the_others() {
    let iam = FakeIam::with_users(users());
    iam.failing_keys.lock().unwrap().push(A1.into());
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("bob", B1), ("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(2, 0, 1));
    let after = stored_report(deps.runs.store());
    assert!(matches!(outcome_of(&after, A1), ActionOutcome::Failed { error } if error.contains("AccessDenied")));
    assert_eq!(status(&deps.iam, "alice", A1), Some(KeyStatus::Active));
    assert_eq!(status(&deps.iam, "bob", B1), Some(KeyStatus::Inactive));
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Inactive));
    // Never retried blindly: exactly one UpdateAccessKey per approved key.
    assert_eq!(deps.iam.deactivations.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn failed_live_recheck_fails_that_key_only_and_leaves_it_untouched() {
    let iam = FakeIam::with_users(users());
    iam.throttled_users.lock().unwrap().push("alice".into());
    let store = store_with(&report(Mode::Approve));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(Some(&decision(&[("alice", A1), ("carol", C1)])))).await.unwrap();

    assert_eq!(out, counts(1, 0, 1));
    assert!(
        matches!(outcome_of(&stored_report(deps.runs.store()), A1), ActionOutcome::Failed { error } if error.contains("throttled"))
    );
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("carol".into(), C1.into())]);
}

/// The re-reads after a successful UpdateAccessKey wait on tokio's clock: under `start_paused` it
/// advances only by the sleeps, so the elapsed time is exactly the waits taken.
fn waited_since(start: tokio::time::Instant) -> StdDuration {
    tokio::time::Instant::now() - start
}

#[test]
fn the_read_back_waits_at_most_about_twenty_seconds_per_run() {
    let total: StdDuration = READ_BACK_DELAYS.iter().sum();
    assert_eq!(total, StdDuration::from_millis(15_500));
    assert!(READ_BACK_DELAYS.windows(2).all(|w| w[0] < w[1]), "backoff: each wait longer than the last");
}

#[tokio::test(start_paused = true)]
async fn a_key_visible_after_two_re_reads_is_deactivated() {
    // GIVEN IAM that shows carol's key Active on the first two reads after UpdateAccessKey
    let iam = FakeIam::with_users(users());
    iam.read_lag.lock().unwrap().insert(C1.into(), 2);
    let store = store_with(&report(Mode::Approve));
    let deps = deps(iam, store);
    let start = tokio::time::Instant::now();

    // WHEN it is deactivated
    let out = handle(&deps, now(), event(Some(&decision(&[("carol", C1)])))).await.unwrap();

    // THEN the second re-read sees it Inactive: deactivated, after waiting 0.5 s + 1 s
    assert_eq!(out, counts(1, 0, 0));
    assert_eq!(outcome_of(&stored_report(deps.runs.store()), C1), ActionOutcome::Deactivated);
    assert_eq!(waited_since(start), READ_BACK_DELAYS[0] + READ_BACK_DELAYS[1]);
    // The live re-check (a full read), then the read-back and two re-reads of the key's status
    // alone; UpdateAccessKey once.
    assert_eq!(deps.iam.api_calls().get("iam:GetUser"), Some(&1));
    assert_eq!(deps.iam.api_calls().get("iam:ListAccessKeys"), Some(&3));
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("carol".into(), C1.into())]);
}

#[tokio::test(start_paused = true)]
async fn a_key_not_visible_within_the_bound_is_deactivated_not_yet_visible_never_failed() {
    // GIVEN IAM that keeps showing carol's key Active after UpdateAccessKey succeeded
    let iam = FakeIam::with_users(users());
    iam.read_lag.lock().unwrap().insert(C1.into(), usize::MAX);
    let store = store_with(&report(Mode::Approve));
    let deps = deps(iam, store);
    let start = tokio::time::Instant::now();

    // WHEN it is deactivated
    let out = handle(&deps, now(), event(Some(&decision(&[("carol", C1)])))).await.unwrap();

    // THEN after every re-read of the bound, the outcome is its own kind, not a failure
    assert_eq!(out, counts(1, 0, 0));
    let after = stored_report(deps.runs.store());
    assert_eq!(outcome_of(&after, C1), ActionOutcome::DeactivatedNotYetVisible);
    let counted = after.action_counts();
    assert_eq!((counted.deactivated, counted.not_yet_visible, counted.failed), (0, 1, 0));
    assert_eq!(waited_since(start), READ_BACK_DELAYS.iter().sum::<StdDuration>());
    assert_eq!(deps.iam.api_calls().get("iam:GetUser"), Some(&1));
    assert_eq!(deps.iam.api_calls().get("iam:ListAccessKeys"), Some(&(1 + READ_BACK_DELAYS.len() as u64)));
    // Never retried blindly: one UpdateAccessKey, and the key really is Inactive.
    assert_eq!(deps.iam.deactivations.lock().unwrap().len(), 1);
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Inactive));
}

#[tokio::test(start_paused = true)]
async fn lagging_keys_share_the_runs_read_back_waits_instead_of_each_waiting_them() {
    // GIVEN IAM that keeps showing carol's and both of bob's keys Active after UpdateAccessKey
    let iam = FakeIam::with_users(users());
    for key in [C1, B1, B2] {
        iam.read_lag.lock().unwrap().insert(key.into(), usize::MAX);
    }
    let store = store_with(&report(Mode::Approve));
    let deps = deps(iam, store);
    let start = tokio::time::Instant::now();

    // WHEN the three are deactivated
    let out = handle(&deps, now(), event(Some(&decision(&[("bob", B1), ("bob", B2), ("carol", C1)])))).await.unwrap();

    // THEN the run waited the delays once, not once per key, and re-read each key after each wait
    assert_eq!(out, counts(3, 0, 0));
    assert_eq!(waited_since(start), READ_BACK_DELAYS.iter().sum::<StdDuration>());
    let after = stored_report(deps.runs.store());
    for key in [B1, B2, C1] {
        assert_eq!(outcome_of(&after, key), ActionOutcome::DeactivatedNotYetVisible, "{key}");
    }
    // Per key: the live re-check, the read-back and one re-read of its status after each wait.
    let status_reads_per_key = 1 + READ_BACK_DELAYS.len() as u64;
    assert_eq!(deps.iam.api_calls().get("iam:GetUser"), Some(&3));
    assert_eq!(deps.iam.api_calls().get("iam:ListAccessKeys"), Some(&(3 * status_reads_per_key)));
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_access_key_is_still_a_failure_and_waits_for_nothing() {
    // GIVEN an UpdateAccessKey that fails, on a key IAM would also show Active for a while
    let iam = FakeIam::with_users(users());
    iam.failing_keys.lock().unwrap().push(C1.into());
    iam.read_lag.lock().unwrap().insert(C1.into(), usize::MAX);
    let store = store_with(&report(Mode::Approve));
    let deps = deps(iam, store);
    let start = tokio::time::Instant::now();

    let out = handle(&deps, now(), event(Some(&decision(&[("carol", C1)])))).await.unwrap();

    // THEN it is failed as before, with no read-back and no wait
    assert_eq!(out, counts(0, 0, 1));
    assert!(matches!(
        outcome_of(&stored_report(deps.runs.store()), C1),
        ActionOutcome::Failed { error } if error.contains("AccessDenied")
    ));
    assert_eq!(waited_since(start), StdDuration::ZERO);
    assert_eq!(deps.iam.api_calls().get("iam:GetUser"), Some(&1), "the live re-check only");
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Active));
}

#[tokio::test]
async fn auto_mode_without_decision_deactivates_the_whole_plan() {
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Auto));

    let deps = deps(iam, store);
    let out = handle(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(4, 0, 0));
    for (u, k) in [("alice", A1), ("bob", B1), ("bob", B2), ("carol", C1)] {
        assert_eq!(status(&deps.iam, u, k), Some(KeyStatus::Inactive), "{u}/{k}");
    }
    assert_eq!(status(&deps.iam, "alice", A2), Some(KeyStatus::Active), "not in the plan");
    let recorded = stored_report(deps.runs.store()).decision.unwrap();
    assert_eq!(recorded.decided_by, Approver::Automatic);
    assert_eq!(recorded.decided_at, now());
    assert_eq!(recorded.approved.len(), 4);
}

#[tokio::test]
async fn approve_mode_without_decision_is_refused_and_touches_nothing() {
    let iam = FakeIam::with_users(users());
    let before = report(Mode::Approve);
    let store = store_with(&before);

    let deps = deps(iam, store);
    let err = handle(&deps, now(), event(None)).await.unwrap_err();

    assert_eq!(err.error_name(), INVALID_INPUT);
    assert!(err.to_string().contains("no decision"), "{err}");
    assert_nothing_touched(&deps.iam);
    assert_eq!(stored_report(deps.runs.store()), before);
}

#[tokio::test]
async fn report_mode_deactivates_nothing_with_or_without_decision() {
    for d in [None, Some(decision(&[("alice", A1)]))] {
        let iam = FakeIam::with_users(users());
        let before = report(Mode::ReportOnly);
        assert_eq!(before.evaluation.plan.status, PlanStatus::ReportOnly);
        let store = store_with(&before);

        let deps = deps(iam, store);
        let err = handle(&deps, now(), event(d.as_ref())).await.unwrap_err();

        assert_eq!(err.error_name(), INVALID_INPUT);
        assert!(err.to_string().contains("report-only"), "{err}");
        assert_nothing_touched(&deps.iam);
        assert_eq!(stored_report(deps.runs.store()), before);
    }
}

#[tokio::test]
async fn plan_over_the_cap_deactivates_nothing_even_in_auto_mode() {
    let iam = FakeIam::with_users(users());
    let mut config = policy(Mode::Auto);
    config.max_deactivations_per_run = 3;
    let mut r = report(Mode::Auto);
    r.evaluation = evaluate(&users(), &config, evaluated_at());
    r.config = config;
    assert_eq!(r.evaluation.plan.status, PlanStatus::CapExceeded { planned: 4, cap: 3 });
    let store = store_with(&r);

    let deps = deps(iam, store);
    let err = handle(&deps, now(), event(None)).await.unwrap_err();

    assert_eq!(err.error_name(), INVALID_INPUT);
    assert!(err.to_string().contains("over the cap"), "{err}");
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn decision_on_an_automatic_plan_is_refused() {
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Auto));

    let deps = deps(iam, store);
    let err = handle(&deps, now(), event(Some(&decision(&[("alice", A1)])))).await.unwrap_err();

    assert_eq!(err.error_name(), INVALID_INPUT);
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn missing_or_unreadable_report_is_run_state_invalid_naming_the_key() {
    let missing = FakeStore::default();
    let garbage = FakeStore::default();
    garbage.objects.lock().unwrap().insert((BUCKET.into(), REPORT_KEY.into()), b"{not json".to_vec());
    let mut other = report(Mode::Approve);
    other.execution_name = "another-run".into();
    let misplaced = store_with(&other);

    for store in [missing, garbage, misplaced] {
        let deps = deps(FakeIam::with_users(users()), store);
        let err = handle(&deps, now(), event(Some(&decision(&[("alice", A1)])))).await.unwrap_err();
        assert_eq!(err.error_name(), RUN_STATE_INVALID, "{err}");
        assert!(err.to_string().contains(REPORT_KEY), "{err}");
        assert!(matches!(err, DeactivateError::Runs(RunStoreError::Invalid { .. })));
        assert_nothing_touched(&deps.iam);
    }
}

#[tokio::test]
async fn broken_bucket_is_an_aws_error_and_touches_nothing() {
    let iam = FakeIam::with_users(users());
    let store = store_with(&report(Mode::Approve));
    *store.broken.lock().unwrap() = true;

    let deps = deps(iam, store);
    let err = handle(&deps, now(), event(Some(&decision(&[("alice", A1)])))).await.unwrap_err();

    assert_eq!(err.error_name(), keyward_core::errors::AWS_CALL_FAILED);
    assert_nothing_touched(&deps.iam);
}

/// Every sample in `events/deactivate/`: `approved.json` against a run awaiting approval, `auto.json`
/// against an automatic run, and every `invalid-*` refused before anything is read.
#[tokio::test]
async fn every_sample_event_behaves() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/deactivate");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sample: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let iam = FakeIam::with_users(users());
        let mode = if sample.get("decision").is_some() { Mode::Approve } else { Mode::Auto };
        let store = store_with(&report(mode));

        let deps = deps(iam, store);
        let result = handle(&deps, now(), sample).await;

        if name.starts_with("invalid-") {
            let err = result.err().unwrap_or_else(|| panic!("{name} was accepted"));
            assert_eq!(err.error_name(), INVALID_INPUT, "{name}: {err}");
            assert_nothing_touched(&deps.iam);
        } else {
            let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out.deactivated > 0 && out.failed == 0, "{name}: {out:?}");
            assert_eq!(stored_report(deps.runs.store()).actions.len(), out.deactivated + out.skipped, "{name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 3);
}

/// The run's journal as stored.
async fn journal(deps: &TestDeps) -> Journal {
    Journal::read(&deps.runs, &run_ref()).await.unwrap().expect("a claimed run")
}

fn ids<'a>(keys: impl IntoIterator<Item = &'a keyward_core::journal::KeyJournal>) -> Vec<&'a str> {
    keys.into_iter().map(|k| k.key.access_key_id.as_str()).collect()
}

fn reactivate(iam: &FakeIam, user: &str, key: &str) {
    let mut users = iam.users.lock().unwrap();
    let k = users.get_mut(user).unwrap().access_keys.iter_mut().find(|k| k.id == key).unwrap();
    k.status = KeyStatus::Active;
}

#[tokio::test]
async fn invoked_again_with_the_runs_decision_a_re_enabled_key_stays_active() {
    // GIVEN a run whose approved key was deactivated, and re-enabled by someone since
    let deps = deps(FakeIam::with_users(users()), store_with(&report(Mode::Approve)));
    let d = decision(&[("alice", A1)]);
    let first = handle(&deps, now(), event(Some(&d))).await.unwrap();
    assert_eq!(first, counts(1, 0, 0));
    reactivate(&deps.iam, "alice", A1);
    let calls = deps.iam.api_calls();

    // WHEN deactivate is invoked again with that run's recorded decision (a retry, a redrive)
    let again = invoke(&deps, now() + Duration::hours(1), event(Some(&d))).await.unwrap();

    // THEN it answers with the first invocation's outcome, and calls nothing in IAM
    assert_eq!(again, DeactivateOutput { already_executed: true, ..counts(1, 0, 0) });
    assert_eq!(status(&deps.iam, "alice", A1), Some(KeyStatus::Active), "the re-enabled key stays Active");
    assert_eq!(deps.iam.deactivations.lock().unwrap().len(), 1, "one UpdateAccessKey, the first run's");
    assert_eq!(deps.iam.api_calls(), calls, "no IAM call at all");
}

#[tokio::test]
async fn the_claim_names_what_who_when_and_the_request_before_any_iam_write() {
    let deps = deps(FakeIam::with_users(users()), store_with(&report(Mode::Approve)));
    let d = decision(&[("carol", C1), ("alice", A1)]);
    handle(&deps, now(), event(Some(&d))).await.unwrap();

    let claim = deps.runs.store().json(&claim_key(&run_ref())).unwrap();
    assert_eq!(claim["keys"][0]["access_key_id"], A1, "plan order");
    assert_eq!(claim["keys"][1]["access_key_id"], C1);
    assert_eq!(claim["decided_by"]["kind"], "link-holder");
    assert_eq!(claim["claimed_at"], json!(now()));
    assert_eq!(claim["request_id"], "req-1");
}

#[tokio::test]
async fn the_journal_records_each_key_before_and_after_and_the_report_actions_are_rebuilt_from_it() {
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().get_mut("bob").unwrap().access_keys.retain(|k| k.id != B1);
    let deps = deps(iam, store_with(&report(Mode::Auto)));

    handle(&deps, now(), event(None)).await.unwrap();

    let journal = journal(&deps).await;
    assert!(journal.done.is_some());
    assert_eq!(ids(journal.in_state(KeyState::Changed)), [A1, B2, C1]);
    assert_eq!(ids(journal.in_state(KeyState::NotTouched)), [B1], "skipped: rotated away");
    let b1 = &journal.keys[1];
    assert_eq!(b1.intent_at, None, "no intent for a key never written");
    assert!(journal.keys.iter().filter(|k| k.key.access_key_id != B1).all(|k| k.intent_at == Some(now())));
    assert_eq!(stored_report(deps.runs.store()).actions, journal.actions());
}

#[tokio::test]
async fn killed_after_a_key_changed_unrecorded_the_journal_says_which_and_a_retry_does_nothing() {
    // GIVEN the result entry of the second key cannot be written (a crash right after its
    // UpdateAccessKey, as far as the journal can tell)
    let store = store_with(&report(Mode::Auto));
    store.failing_writes.lock().unwrap().push(format!("0001-{B1}-result"));
    let deps = deps(FakeIam::with_users(users()), store);

    // WHEN deactivate runs
    let err = invoke(&deps, now(), event(None)).await.unwrap_err();

    // THEN it stops there: the first key changed, the second may have, the rest were not touched
    assert_eq!(err.error_name(), keyward_core::errors::AWS_CALL_FAILED, "{err}");
    let journal = journal(&deps).await;
    assert_eq!(journal.done, None);
    assert_eq!(ids(journal.in_state(KeyState::Changed)), [A1]);
    assert_eq!(ids(journal.in_state(KeyState::PossiblyChanged)), [B1]);
    assert_eq!(ids(journal.in_state(KeyState::NotTouched)), [B2, C1]);
    assert_eq!(status(&deps.iam, "bob", B2), Some(KeyStatus::Active));
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Active));

    // AND a retry, with the bucket healed, acts on nothing and says the run is incomplete
    deps.runs.store().failing_writes.lock().unwrap().clear();
    let retry = invoke(&deps, now(), event(None)).await.unwrap_err();
    assert_eq!(retry.error_name(), keyward_core::errors::DEACTIVATION_INCOMPLETE, "{retry}");
    assert!(retry.to_string().contains("req-1"), "{retry}");
    assert_eq!(deps.iam.deactivations.lock().unwrap().len(), 2, "no UpdateAccessKey since");
}

#[tokio::test]
async fn a_journal_intent_that_cannot_be_written_leaves_its_key_untouched() {
    let store = store_with(&report(Mode::Auto));
    store.failing_writes.lock().unwrap().push(format!("0000-{A1}-intent"));
    let deps = deps(FakeIam::with_users(users()), store);

    let err = invoke(&deps, now(), event(None)).await.unwrap_err();

    assert_eq!(err.error_name(), keyward_core::errors::AWS_CALL_FAILED);
    assert_nothing_touched(&deps.iam);
    assert_eq!(ids(journal(&deps).await.in_state(KeyState::NotTouched)), [A1, B1, B2, C1]);
}

#[tokio::test]
async fn a_failed_report_write_loses_nothing_and_the_retry_writes_the_report_from_the_journal() {
    let before = report(Mode::Auto);
    let store = store_with(&before);
    store.failing_writes.lock().unwrap().push(REPORT_KEY.to_owned());
    let deps = deps(FakeIam::with_users(users()), store);

    let err = invoke(&deps, now(), event(None)).await.unwrap_err();
    assert_eq!(err.error_name(), keyward_core::errors::AWS_CALL_FAILED);
    assert_eq!(stored_report(deps.runs.store()), before, "the report write failed");
    assert_eq!(ids(journal(&deps).await.in_state(KeyState::Changed)), [A1, B1, B2, C1]);

    deps.runs.store().failing_writes.lock().unwrap().clear();
    let retry = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(retry, DeactivateOutput { already_executed: true, ..counts(4, 0, 0) });
    assert_eq!(deps.iam.deactivations.lock().unwrap().len(), 4);
    let healed = stored_report(deps.runs.store());
    assert_eq!(healed.actions, journal(&deps).await.actions());
    assert_eq!(healed.decision.unwrap().decided_by, Approver::Automatic);
}

#[tokio::test]
async fn keyward_mode_report_since_the_plan_touches_nothing_and_calls_no_iam() {
    for (mode, d) in [(Mode::Auto, None), (Mode::Approve, Some(decision(&[("alice", A1), ("carol", C1)])))] {
        // GIVEN a run made in `mode`, and KEYWARD_MODE=report in force now (the kill switch)
        let now_config = PolicyConfig { mode: Mode::ReportOnly, ..policy(mode) };
        let deps = deps_in_force(FakeIam::with_users(users()), store_with(&report(mode)), now_config, None);

        let out = handle(&deps, now(), event(d.as_ref())).await.unwrap();

        assert_eq!((out.deactivated, out.failed), (0, 0), "{mode:?}");
        assert_nothing_touched(&deps.iam);
        assert!(deps.iam.api_calls().is_empty(), "not even a read");
        let report = stored_report(deps.runs.store());
        assert!(!report.actions.is_empty());
        for action in &report.actions {
            assert_eq!(
                action.outcome,
                ActionOutcome::Skipped { reason: SkipReason::ModeChanged { mode: Mode::ReportOnly } }
            );
        }
    }
}

#[tokio::test]
async fn an_automatic_plan_with_approve_in_force_now_waits_for_a_human() {
    let now_config = policy(Mode::Approve);
    let deps = deps_in_force(FakeIam::with_users(users()), store_with(&report(Mode::Auto)), now_config, None);

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(0, 4, 0));
    assert_nothing_touched(&deps.iam);
}

#[tokio::test]
async fn a_user_exempted_in_the_current_configuration_is_skipped() {
    // GIVEN bob listed in EXEMPT_USERS since, and carol tagged 60 days ahead: too far for the run's
    // MAX_EXEMPTION_DAYS (30), within the current one (90)
    let run_config = PolicyConfig { max_exemption_days: 30, ..policy(Mode::Auto) };
    let mut r = report(Mode::Auto);
    r.config = run_config.clone();
    let iam = FakeIam::with_users(users());
    let until = now().date_naive() + chrono::Days::new(60);
    iam.users.lock().unwrap().get_mut("carol").unwrap().tags.insert(EXEMPT_UNTIL_TAG.into(), until.to_string());
    let now_config = PolicyConfig {
        exempt_users: vec![keyward_core::config::ExemptEntry::Name("bob".into())],
        max_exemption_days: 90,
        ..run_config
    };
    let deps = deps_in_force(iam, store_with(&r), now_config, None);

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(1, 3, 0));
    let report = stored_report(deps.runs.store());
    for key in [B1, B2, C1] {
        assert_eq!(outcome_of(&report, key), ActionOutcome::Skipped { reason: SkipReason::Exempted }, "{key}");
    }
    assert_eq!(status(&deps.iam, "alice", A1), Some(KeyStatus::Inactive));
}

#[tokio::test]
async fn a_protection_of_this_account_holds_a_key_back_and_one_of_another_account_does_not() {
    // GIVEN bob protected in the run's account and carol (path /ops/) protected in another account only
    use keyward_core::config::ExemptEntry;
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().get_mut("carol").unwrap().path = "/ops/".into();
    let elsewhere = AccountId::parse("210987654321").unwrap();
    let now_config = PolicyConfig {
        protected_users: vec![
            ExemptEntry::AccountName { account_id: keyward_core::fixtures::account(), name: "bob".into() },
            ExemptEntry::AccountPathPrefix { account_id: elsewhere, prefix: "/ops/".into() },
        ],
        ..policy(Mode::Auto)
    };
    let deps = deps_in_force(iam, store_with(&report(Mode::Auto)), now_config, None);

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    // THEN bob's keys are skipped as protected, and alice's and carol's are deactivated
    assert_eq!(out, counts(2, 2, 0));
    let report = stored_report(deps.runs.store());
    let protected = ActionOutcome::Skipped { reason: SkipReason::Protected { entry: "123456789012:bob".into() } };
    assert_eq!(outcome_of(&report, B1), protected);
    assert_eq!(outcome_of(&report, B2), protected);
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("alice".into(), A1.into()), ("carol".into(), C1.into())]);
}

#[tokio::test]
async fn protected_users_are_never_deactivated_whatever_the_plan_says() {
    // GIVEN bob protected by name and carol by her path, both in the plan
    let iam = FakeIam::with_users(users());
    iam.users.lock().unwrap().get_mut("carol").unwrap().path = "/ops/".into();
    use keyward_core::config::ExemptEntry;
    let now_config = PolicyConfig {
        protected_users: vec![ExemptEntry::Name("bob".into()), ExemptEntry::PathPrefix("/ops/".into())],
        ..policy(Mode::Auto)
    };
    let deps = deps_in_force(iam, store_with(&report(Mode::Auto)), now_config, None);

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(1, 3, 0));
    let report = stored_report(deps.runs.store());
    let protected = |entry: &str| ActionOutcome::Skipped { reason: SkipReason::Protected { entry: entry.into() } };
    assert_eq!(outcome_of(&report, B1), protected("bob"));
    assert_eq!(outcome_of(&report, B2), protected("bob"));
    assert_eq!(outcome_of(&report, C1), protected("/ops/"));
    assert_eq!(*deps.iam.deactivations.lock().unwrap(), vec![("alice".into(), A1.into())]);
}

#[tokio::test]
async fn the_key_deactivate_runs_with_is_never_deactivated() {
    let deps =
        deps_in_force(FakeIam::with_users(users()), store_with(&report(Mode::Auto)), policy(Mode::Auto), Some(C1));

    let out = invoke(&deps, now(), event(None)).await.unwrap();

    assert_eq!(out, counts(3, 1, 0));
    let report = stored_report(deps.runs.store());
    assert_eq!(outcome_of(&report, C1), ActionOutcome::Skipped { reason: SkipReason::OwnKey });
    assert_eq!(status(&deps.iam, "carol", C1), Some(KeyStatus::Active));
    assert!(SkipReason::OwnKey.describe().contains("keyward itself runs with"));
}

#[tokio::test]
async fn a_claim_that_cannot_be_written_touches_nothing() {
    let store = store_with(&report(Mode::Auto));
    store.failing_writes.lock().unwrap().push("deactivation/claim.json".into());
    let deps = deps(FakeIam::with_users(users()), store);

    let err = invoke(&deps, now(), event(None)).await.unwrap_err();

    assert_eq!(err.error_name(), keyward_core::errors::AWS_CALL_FAILED);
    assert_nothing_touched(&deps.iam);
    assert!(deps.runs.store().json(&done_key(&run_ref())).is_none());
}
