//! The first half of a run over in-memory fakes, as the state machine drives it: list-users, then
//! check-user for every item of `batches.json` (as the Distributed Map does), then validate-keys.
//! The run report's plan must hold exactly the violating keys; deactivate follows where a test
//! takes a plan to its end. The functions share one fake account and one fake bucket, as they
//! share IAM and S3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use keyward_core::config::{Config, ExemptEntry, Mode};
use keyward_core::contracts::{
    BatchItem, CheckUserOutput, DeactivateOutput, ListUsersOutput, NextStep, ValidateKeysOutput,
};
use keyward_core::credential_report::facts::ReportedUser;
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeApprovals, FakeIam, FakeOrganization, FakeStore};
use keyward_core::fixtures::*;
use keyward_core::model::{KeyStatus, KeyUse, Provenance, User};
use keyward_core::policy::{PlanStatus, Rule};
use keyward_core::ports::{Creation, CredentialReport, Iam, ObjectStore, PortError, UserSummary};
use keyward_core::recheck::SkipReason;
use keyward_core::run_report::ActionOutcome;
use keyward_core::run_report::{REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::RunStore;
use serde_json::{Value, json};

const BUCKET: &str = "keyward-reports-test";
const EXEC: &str = "keyward-2026-11-21";

/// An account with one user per case of the policy, its credential report generated before
/// `newcomer` was created.
fn account() -> FakeIam {
    let mut inactive = key("AKIAINACTIVE", 300, None);
    inactive.status = KeyStatus::Inactive;
    let users = vec![
        with_keys(user("compliant"), vec![key("AKIACOMPLIANT", 10, Some(1))]),
        with_keys(user("old-key"), vec![key("AKIAOLD", 200, Some(1)), key("AKIAFRESH", 5, Some(1))]),
        with_keys(user("idle"), vec![key("AKIAIDLE", 60, None)]),
        with_keys(no_mfa(user("console-no-mfa"), true), vec![key("AKIANOMFA", 10, Some(0))]),
        with_keys(user("almost-old"), vec![key("AKIAALMOST", 85, Some(1))]),
        with_keys(user("retired"), vec![inactive]),
        with_keys(user("breakglass"), vec![key("AKIABREAKGLASS", 400, None)]),
        with_keys(user("newcomer"), vec![key("AKIANEWCOMER", 150, Some(1))]),
        user("no-keys"),
    ];
    let in_report: Vec<User> = users.iter().filter(|u| u.name != "newcomer").cloned().collect();
    let iam = FakeIam::with_users(users);
    *iam.report.lock().unwrap() = Some(credential_report(&in_report).into_bytes());
    iam
}

fn config(mode: Mode) -> Config {
    let mut config = Config { report_bucket: Some(BUCKET.into()), batch_size: 2, ..Config::default() };
    config.policy.mode = mode;
    config.policy.unused_key_days = 45;
    config.policy.exempt_users = vec![ExemptEntry::Name("breakglass".into())];
    config
}

/// A port shared by every function of the run: each function's `Deps` owns its ports, and these
/// lend them the one fake account and bucket.
struct Shared<'a, T>(&'a T);

impl Iam for Shared<'_, FakeIam> {
    async fn list_users(&self) -> Result<Vec<UserSummary>, PortError> {
        self.0.list_users().await
    }
    async fn credential_report(&self) -> Result<CredentialReport, PortError> {
        self.0.credential_report().await
    }
    async fn read_user(&self, name: &str) -> Result<Option<User>, PortError> {
        self.0.read_user(name).await
    }
    async fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> Result<Option<User>, PortError> {
        self.0.read_user_with_report(name, reported, generated_at).await
    }
    async fn read_key_status(&self, user_name: &str, access_key_id: &str) -> Result<Option<KeyStatus>, PortError> {
        self.0.read_key_status(user_name, access_key_id).await
    }
    async fn deactivate_key(&self, user_name: &str, access_key_id: &str) -> Result<(), PortError> {
        self.0.deactivate_key(user_name, access_key_id).await
    }
    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.0.api_calls()
    }
}

impl ObjectStore for Shared<'_, FakeStore> {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), PortError> {
        self.0.put(bucket, key, body).await
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(bucket, key).await
    }
    async fn create(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<Creation, PortError> {
        self.0.create(bucket, key, body).await
    }
}

/// The functions of a run over one fake account and bucket, each invoked as Lambda would.
struct Stack<'a> {
    iam: &'a FakeIam,
    store: &'a FakeStore,
    config: Config,
}

impl<'a> Stack<'a> {
    fn new(iam: &'a FakeIam, store: &'a FakeStore, config: &Config) -> Stack<'a> {
        Stack { iam, store, config: config.clone() }
    }

    fn runs(&self) -> RunStore<Shared<'a, FakeStore>> {
        RunStore::new(Shared(self.store), BUCKET)
    }

    async fn list_users(&self, event: Value) -> Result<ListUsersOutput, list_users::handler::ListUsersError> {
        let settings = list_users::handler::Settings::from_config(&self.config).unwrap();
        let access = list_users::handler::Access::Own(Shared(self.iam));
        let deps: list_users::handler::Deps<_, _, FakeOrganization, FakeAccountAccess> =
            list_users::handler::Deps { access, runs: self.runs(), settings };
        match list_users::handler::handle(&deps, now(), event).await? {
            list_users::handler::Output::Listed(listed) => Ok(listed),
            other => panic!("not a listing: {other:?}"),
        }
    }

    async fn check_user(&self, item: Value) -> Result<CheckUserOutput, check_user::handler::CheckUserError> {
        let settings = check_user::handler::Settings::from_config(&self.config).unwrap();
        let access = check_user::handler::Access::Own(Shared(self.iam));
        let deps: check_user::handler::Deps<_, _, FakeAccountAccess> =
            check_user::handler::Deps { access, runs: self.runs(), settings };
        check_user::handler::handle(&deps, now(), item).await
    }

    async fn validate_keys(
        &self,
        event: Value,
    ) -> Result<ValidateKeysOutput, validate_keys::handler::ValidateKeysError> {
        let settings = validate_keys::handler::Settings::from_config(&self.config).unwrap();
        let deps = validate_keys::handler::Deps { runs: self.runs(), settings };
        validate_keys::handler::handle(&deps, now(), event).await
    }

    async fn deactivate(&self, event: Value) -> Result<DeactivateOutput, deactivate::handler::DeactivateError> {
        let settings = deactivate::handler::Settings::from_config(&self.config, None).unwrap();
        // Auto mode only in these runs: no decision is ever read.
        let decisions = FakeApprovals::default();
        let members = None::<FakeAccountAccess>;
        let deps = deactivate::handler::Deps { iam: Shared(self.iam), members, runs: self.runs(), decisions, settings };
        deactivate::handler::handle(&deps, now(), "pipeline".to_owned(), event).await
    }
}

/// Runs list-users → check-user per batch → validate-keys. A batch whose check fails is left
/// without a result, as the Map leaves it when it tolerates the failure.
async fn run(iam: &FakeIam, store: &FakeStore, config: &Config) -> (ListUsersOutput, ValidateKeysOutput) {
    let stack = Stack::new(iam, store, config);
    // As the state machine starts it: with the execution's ARN, which names the run's account.
    let execution_id = format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{EXEC}");
    let started = json!({"execution_name": EXEC, "execution_id": execution_id, "evaluated_at": now()});
    let listed = stack.list_users(started).await.unwrap();
    let batches: Vec<BatchItem> = serde_json::from_value(store.json(&listed.batches_key).unwrap()).unwrap();
    for batch in batches {
        let item = json!({"run": listed.run, "batch": batch});
        let _tolerated = stack.check_user(item).await;
    }
    let after_map = json!({"listed": listed, "evaluated_at": now()});
    let validated = stack.validate_keys(after_map).await.unwrap();
    (listed, validated)
}

fn report(store: &FakeStore) -> RunReport {
    serde_json::from_value(store.json(&format!("runs/{EXEC}/report.json")).expect("report written")).unwrap()
}

fn planned(report: &RunReport) -> BTreeSet<&str> {
    report.evaluation.plan.keys.iter().map(|k| k.key.access_key_id.as_str()).collect()
}

#[tokio::test]
async fn plan_holds_exactly_the_violating_keys() {
    let iam = account();
    let store = FakeStore::default();

    let (listed, out) = run(&iam, &store, &config(Mode::Approve)).await;

    let report = report(&store);
    // too old; never used for 60 days (limit 45); no MFA with a console password; created since
    // the report and too old
    assert_eq!(planned(&report), BTreeSet::from(["AKIANOMFA", "AKIAOLD", "AKIAIDLE", "AKIANEWCOMER"]));
    let old = report.evaluation.plan.keys.iter().find(|k| k.key.access_key_id == "AKIAOLD").unwrap();
    assert_eq!((old.key.user_name.as_str(), old.rules.as_slice()), ("old-key", &[Rule::KeyTooOld][..]));
    // the fresh second key of the same user is not touched
    assert!(!report.evaluation.plan.contains("old-key", "AKIAFRESH"));
    // near the limit: a warning, not an action; exempt: honoured and reported
    assert!(report.evaluation.warnings.iter().any(|w| w.key.access_key_id == "AKIAALMOST"));
    assert_eq!(report.evaluation.exemptions.iter().map(|e| e.user_name.as_str()).collect::<Vec<_>>(), ["breakglass"]);
    assert_eq!(report.evaluation.plan.status, PlanStatus::AwaitingApproval);

    assert_eq!(out.status, PlanStatus::AwaitingApproval);
    assert_eq!(out.next, NextStep::RequestApproval);
    assert_eq!(out.planned, 4);
    assert_eq!(out.findings, report.evaluation.findings.len());
    assert_eq!(out.warnings, report.evaluation.warnings.len());
    assert_eq!(out.users_not_evaluated, 0);
    assert_eq!(out.report_key, format!("runs/{EXEC}/report.json"));
    assert_eq!(out.run, listed.run);

    assert_eq!(report.schema_version, REPORT_SCHEMA_VERSION);
    assert_eq!(report.execution_name, EXEC);
    assert_eq!(report.evaluated_at(), now());
    assert_eq!(report.config, config(Mode::Approve).policy);
    assert_eq!(report.users_listed, 9);
    assert_eq!(report.users_checked, listed.candidates);
    assert!(report.decision.is_none() && report.actions.is_empty());
    // screening kept compliant and no-keys users away from the live reads
    assert_eq!(report.api_calls.get("iam:ListUsers"), Some(&1));
    assert_eq!(report.api_calls.get("iam:GetCredentialReport"), Some(&1));
    assert_eq!(report.api_calls.get("iam:GetUser"), Some(&(listed.candidates as u64)));
    assert!(listed.candidates < 9, "{listed:?}");
}

#[tokio::test]
async fn with_the_report_facts_the_plan_is_the_same_and_candidates_are_read_with_them() {
    // GIVEN the account's credential report was generated two hours before the run
    let iam = account();
    let generated_at = now() - Duration::hours(2);
    *iam.report_generated_at.lock().unwrap() = Some(generated_at);
    let store = FakeStore::default();

    let (listed, _) = run(&iam, &store, &config(Mode::Approve)).await;

    // THEN every candidate with a report row was read with its facts, the newcomer fully live
    let with_facts = iam.reads_with_report.lock().unwrap().clone();
    assert_eq!(with_facts.len(), listed.candidates - 1);
    assert!(!with_facts.contains(&"newcomer".to_owned()));
    // AND the plan is the one the fully live reads give, its report-based facts labelled as such
    let report = report(&store);
    assert_eq!(planned(&report), BTreeSet::from(["AKIANOMFA", "AKIAOLD", "AKIAIDLE", "AKIANEWCOMER"]));
    let idle = report.evaluation.plan.keys.iter().find(|k| k.key.access_key_id == "AKIAIDLE").unwrap();
    assert_eq!(idle.evidence.last_used_source, Provenance::CredentialReport { generated_at });
    let newcomer = report.evaluation.plan.keys.iter().find(|k| k.key.access_key_id == "AKIANEWCOMER").unwrap();
    assert!(newcomer.evidence.last_used_source.is_live());
    let unused = report.evaluation.findings.iter().find(|f| f.rule == Rule::KeyUnused).unwrap();
    assert!(unused.evidence.summary.contains("as of the credential report of"), "{}", unused.evidence.summary);
}

#[tokio::test]
async fn a_key_used_since_the_report_may_be_planned_but_is_never_deactivated() {
    // GIVEN a report two hours old that saw AKIAIDLE never used, and a use of it an hour ago
    let iam = account();
    *iam.report_generated_at.lock().unwrap() = Some(now() - Duration::hours(2));
    let used_since = KeyUse { at: now() - Duration::hours(1), service: Some("s3".into()), region: None };
    iam.users.lock().unwrap().get_mut("idle").unwrap().access_keys[0].last_used = Some(used_since);
    let store = FakeStore::default();

    // WHEN an automatic run plans and deactivates
    let (listed, out) = run(&iam, &store, &config(Mode::Auto)).await;
    assert_eq!(out.next, NextStep::Deactivate);
    assert!(planned(&report(&store)).contains("AKIAIDLE"), "the report's facts are as of two hours ago");
    let stack = Stack::new(&iam, &store, &config(Mode::Auto));
    let done = stack.deactivate(json!({"run": listed.run})).await.unwrap();

    // THEN the live re-check skips AKIAIDLE and it stays active; the other planned keys are deactivated
    assert_eq!(iam.key_status("idle", "AKIAIDLE"), Some(KeyStatus::Active));
    let report = report(&store);
    let idle = report.actions.iter().find(|a| a.key.access_key_id == "AKIAIDLE").unwrap();
    assert!(
        matches!(&idle.outcome, ActionOutcome::Skipped { reason: SkipReason::NoLongerViolates { .. } }),
        "{:?}",
        idle.outcome
    );
    assert_eq!((done.deactivated, done.skipped, done.failed), (3, 1, 0));
    assert!(!iam.deactivations.lock().unwrap().iter().any(|(_, key)| key == "AKIAIDLE"));
}

#[tokio::test]
async fn missing_batch_result_leaves_its_users_not_evaluated_and_out_of_the_plan() {
    // GIVEN the live read of old-key keeps being throttled, so its batch never writes a result
    let iam = account();
    iam.throttled_users.lock().unwrap().push("old-key".into());
    let store = FakeStore::default();

    let (listed, out) = run(&iam, &store, &config(Mode::Approve)).await;

    // THEN the report names every user of that batch, and the plan holds none of their keys
    let batches: Vec<BatchItem> = serde_json::from_value(store.json(&listed.batches_key).unwrap()).unwrap();
    let failed = batches.iter().find(|b| b.users.contains(&"old-key".to_owned())).unwrap();
    let report = report(&store);
    assert_eq!(report.users_not_evaluated, failed.users);
    assert_eq!(out.users_not_evaluated, failed.users.len());
    for name in &failed.users {
        assert!(report.evaluation.plan.keys.iter().all(|k| &k.key.user_name != name), "{name} is in the plan");
    }
    assert_eq!(failed.users, ["newcomer", "old-key"], "candidates are batched in name order, two by two");
    // AND the other batches are still judged: their violating keys stay in the plan
    assert_eq!(planned(&report), BTreeSet::from(["AKIANOMFA", "AKIAIDLE"]));
    assert_eq!(report.users_checked + failed.users.len(), listed.candidates);
}

#[tokio::test]
async fn user_deleted_between_listing_and_check_is_reported_as_gone() {
    let iam = account();
    let store = FakeStore::default();
    let config = config(Mode::Approve);
    let stack = Stack::new(&iam, &store, &config);
    // As the state machine starts it: with the execution's ARN, which names the run's account.
    let execution_id = format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{EXEC}");
    let started = json!({"execution_name": EXEC, "execution_id": execution_id, "evaluated_at": now()});
    let listed = stack.list_users(started).await.unwrap();
    iam.users.lock().unwrap().remove("old-key");
    let batches: Vec<BatchItem> = serde_json::from_value(store.json(&listed.batches_key).unwrap()).unwrap();
    for batch in batches {
        stack.check_user(json!({"run": listed.run, "batch": batch})).await.unwrap();
    }
    stack.validate_keys(json!({"listed": listed, "evaluated_at": now()})).await.unwrap();

    let report = report(&store);
    assert_eq!(report.users_gone, vec!["old-key".to_owned()]);
    assert!(!planned(&report).contains("AKIAOLD"));
    assert!(report.users_not_evaluated.is_empty());
}

#[tokio::test]
async fn report_mode_computes_the_plan_and_is_done() {
    let store = FakeStore::default();
    let (_, out) = run(&account(), &store, &config(Mode::ReportOnly)).await;
    assert_eq!(out.status, PlanStatus::ReportOnly);
    assert_eq!(out.next, NextStep::Done);
    assert_eq!(out.planned, 4);
    assert_eq!(planned(&report(&store)).len(), 4);
}

#[tokio::test]
async fn plan_over_the_cap_is_done_with_cap_exceeded() {
    let mut config = config(Mode::Auto);
    config.policy.max_deactivations_per_run = 3;
    let (_, out) = run(&account(), &FakeStore::default(), &config).await;
    assert_eq!(out.status, PlanStatus::CapExceeded { planned: 4, cap: 3 });
    assert_eq!(out.next, NextStep::Done);
}

#[tokio::test]
async fn auto_mode_within_the_cap_goes_to_deactivate() {
    let (_, out) = run(&account(), &FakeStore::default(), &config(Mode::Auto)).await;
    assert_eq!(out.status, PlanStatus::Automatic);
    assert_eq!(out.next, NextStep::Deactivate);
}

#[tokio::test]
async fn compliant_account_has_an_empty_plan_and_is_done() {
    let alice = with_keys(user("alice"), vec![key("AKIAALICE", 3, Some(0))]);
    let iam = FakeIam::with_users([alice.clone(), user("newcomer")]);
    *iam.report.lock().unwrap() = Some(credential_report(&[alice]).into_bytes());
    let store = FakeStore::default();

    let (listed, out) = run(&iam, &store, &config(Mode::Auto)).await;

    assert_eq!(listed.candidates, 1, "the newcomer is checked live");
    assert_eq!(out.status, PlanStatus::Empty);
    assert_eq!(out.next, NextStep::Done);
    assert_eq!((out.findings, out.planned), (0, 0));
}

#[tokio::test]
async fn failed_batch_check_error_is_the_name_the_map_retries() {
    let iam = account();
    iam.throttled_users.lock().unwrap().push("idle".into());
    let store = FakeStore::default();
    let item = json!({"run": {"bucket": BUCKET, "execution_name": EXEC}, "batch": {"index": 0, "users": ["idle"]}});
    let err = Stack::new(&iam, &store, &config(Mode::Approve)).check_user(item).await.unwrap_err();
    assert_eq!(err.error_name(), errors::IAM_THROTTLED);
}
