//! check-user over in-memory fakes: every user of the batch is read live (with the credential
//! report's facts where list-users left them), a deleted user is recorded as gone, any failed read
//! fails the batch (so the Map retries it) without writing, and the event cannot redirect the write
//! to another bucket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use check_user::handler::{Access, Deps, MAX_READS_IN_FLIGHT, Settings, handle};
use chrono::{DateTime, Duration as Days, Utc};
use keyward_core::config::{Config, ConfigError};
use keyward_core::contracts::BatchResult;
use keyward_core::credential_report::facts::{ReportFacts, ReportedKey, ReportedUser};
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeIam, FakeStore};
use keyward_core::fixtures::*;
use keyward_core::identity::SessionName;
use keyward_core::model::User;
use keyward_core::model::{KeyStatus, KeyUse, Provenance};
use keyward_core::org::AccountId;
use keyward_core::ports::{AccountSession, CredentialReport, Iam, PortError, UserSummary};
use keyward_core::run_store::RunStore;
use serde_json::{Value, json};

const BUCKET: &str = "keyward-reports-123456789012";
const EXEC: &str = "keyward-2026-11-21";

fn config() -> Config {
    Config { report_bucket: Some(BUCKET.into()), ..Config::default() }
}

fn event(index: u32, users: &[&str]) -> Value {
    json!({"run": {"bucket": BUCKET, "execution_name": EXEC}, "batch": {"index": index, "users": users}})
}

fn result(store: &FakeStore, index: u32) -> Option<BatchResult> {
    store.json(&format!("runs/{EXEC}/results/batch-{index:05}.json")).map(|v| serde_json::from_value(v).unwrap())
}

/// check-user deployed in account scope over `iam` and an empty report bucket.
fn deps<I: Iam>(iam: I) -> Deps<I, FakeStore, FakeAccountAccess> {
    Deps {
        access: Access::Own(iam),
        runs: RunStore::new(FakeStore::default(), BUCKET),
        settings: Settings::from_config(&config()).unwrap(),
    }
}

/// The deployment's own IAM.
fn own<I>(deps: &Deps<I, FakeStore, FakeAccountAccess>) -> &I {
    match &deps.access {
        Access::Own(iam) => iam,
        Access::Members(_) => panic!("an account-scope deployment"),
    }
}

fn account() -> FakeIam {
    FakeIam::with_users([
        with_keys(no_mfa(user("alice"), true), vec![key("AKIAALICE1", 120, Some(3))]),
        user("bob"),
        with_keys(user("svc-ci"), vec![key("AKIASVC1", 10, None), key("AKIASVC2", 200, Some(100))]),
    ])
}

#[tokio::test]
async fn reads_every_user_of_the_batch_and_writes_the_batch_result() {
    let iam = account();

    let deps = deps(iam);
    let out = handle(&deps, now(), event(0, &["alice", "bob", "svc-ci"])).await.unwrap();

    let written = result(deps.runs.store(), 0).expect("result written");
    let expected: Vec<User> = ["alice", "bob", "svc-ci"].map(|n| own(&deps).users.lock().unwrap()[n].clone()).to_vec();
    assert_eq!(written.users, expected, "the users as read live, in batch order");
    assert_eq!(written.index, 0);
    assert!(written.gone.is_empty());
    assert_eq!(written.api_calls, BTreeMap::from([("iam:GetUser".to_owned(), 3)]));
    assert_eq!(out.index, 0);
    assert_eq!((out.users_checked, out.users_gone), (3, 0));
    assert_eq!(out.result_key, format!("runs/{EXEC}/results/batch-00000.json"));
    let objects = deps.runs.store().objects.lock().unwrap();
    assert_eq!(objects.keys().collect::<Vec<_>>(), vec![&(BUCKET.to_owned(), out.result_key.clone())]);
}

#[tokio::test]
async fn user_deleted_since_listing_is_recorded_as_gone_not_a_failure() {
    let iam = account();

    let deps = deps(iam);
    let out = handle(&deps, now(), event(3, &["alice", "deleted-yesterday", "bob"])).await.unwrap();

    let written = result(deps.runs.store(), 3).unwrap();
    assert_eq!(written.gone, vec!["deleted-yesterday".to_owned()]);
    assert_eq!(written.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), vec!["alice", "bob"]);
    assert_eq!((out.users_checked, out.users_gone), (2, 1));
    assert_eq!(out.result_key, format!("runs/{EXEC}/results/batch-00003.json"));
}

#[tokio::test]
async fn throttled_read_fails_the_batch_as_iam_throttled_and_writes_nothing() {
    // GIVEN bob's live read is throttled past every retry
    let iam = account();
    iam.throttled_users.lock().unwrap().push("bob".into());

    // WHEN the batch is checked
    let deps = deps(iam);
    let err = handle(&deps, now(), event(0, &["alice", "bob", "svc-ci"])).await.unwrap_err();

    // THEN the batch fails by name (the Map retries it) and no result says bob has no MFA or no keys
    assert_eq!(err.error_name(), errors::IAM_THROTTLED);
    assert!(result(deps.runs.store(), 0).is_none());
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn batch_for_another_bucket_is_refused_before_any_read() {
    let iam = account();
    let elsewhere = json!({"run": {"bucket": "attacker-bucket", "execution_name": EXEC}, "batch": {"index": 0, "users": ["alice"]}});

    let deps = deps(iam);
    let err = handle(&deps, now(), elsewhere).await.unwrap_err();

    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(err.to_string().contains("attacker-bucket"), "{err}");
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
    assert!(own(&deps).api_calls().is_empty());
}

#[tokio::test]
async fn unconfigured_report_bucket_stops_the_function_at_init() {
    // keyward_aws::runtime::init_error reports any ConfigError as InvalidConfig.
    let err = Settings::from_config(&Config::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { variable: "KEYWARD_REPORT_BUCKET", .. }), "{err:?}");
    assert!(err.to_string().contains("KEYWARD_REPORT_BUCKET"), "{err}");
}

#[tokio::test]
async fn unwritable_bucket_is_aws_call_failed() {
    let deps = deps(account());
    *deps.runs.store().broken.lock().unwrap() = true;
    let err = handle(&deps, now(), event(0, &["alice"])).await.unwrap_err();
    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
}

#[tokio::test]
async fn api_calls_count_only_this_invocation_on_a_warm_adapter() {
    let iam = account();
    let deps = deps(iam);
    handle(&deps, now(), event(0, &["alice", "bob"])).await.unwrap();
    handle(&deps, now(), event(1, &["svc-ci"])).await.unwrap();
    assert_eq!(result(deps.runs.store(), 1).unwrap().api_calls, BTreeMap::from([("iam:GetUser".to_owned(), 1)]));
}

/// The facts of a report generated three hours before the run about alice and svc-ci. They differ
/// from the fake account on purpose (alice: no password, key last used 40 days ago; svc-ci: keys
/// never used), so a test sees which source each fact came from.
fn report_facts() -> ReportFacts {
    let used = |days| Some(KeyUse { at: days_ago(days), service: Some("s3".into()), region: None });
    ReportFacts {
        generated_at: now() - Days::hours(3),
        users: [
            (
                "alice".to_owned(),
                ReportedUser {
                    password_enabled: false,
                    keys: vec![ReportedKey { created: days_ago(120), last_used: used(40) }],
                },
            ),
            (
                "svc-ci".to_owned(),
                ReportedUser {
                    password_enabled: false,
                    keys: vec![
                        ReportedKey { created: days_ago(10), last_used: None },
                        ReportedKey { created: days_ago(200), last_used: None },
                    ],
                },
            ),
        ]
        .into(),
    }
}

/// The Map item of a batch whose item carries `report`.
fn event_with_report(index: u32, users: &[&str], report: &ReportFacts) -> Value {
    let mut event = event(index, users);
    event["batch"]["report"] = serde_json::to_value(report).unwrap();
    event
}

#[tokio::test]
async fn users_the_report_describes_are_read_with_its_facts_the_others_fully_live() {
    // GIVEN an item carrying the report's facts about alice and svc-ci, and none about bob
    let iam = account();
    let item = event_with_report(0, &["alice", "bob", "svc-ci"], &report_facts());

    // WHEN the batch is checked
    let deps = deps(iam);
    handle(&deps, now(), item).await.unwrap();

    // THEN alice and svc-ci were read with the facts, bob fully live
    assert_eq!(*own(&deps).reads_with_report.lock().unwrap(), vec!["alice".to_owned(), "svc-ci".to_owned()]);
    let written = result(deps.runs.store(), 0).unwrap();
    let from_report = Provenance::CredentialReport { generated_at: now() - Days::hours(3) };
    let [alice, bob, svc] = written.users.as_slice() else { panic!("{:?}", written.users) };
    assert_eq!((alice.has_console_password, alice.console_password_source), (false, from_report));
    assert_eq!(alice.access_keys[0].last_used.as_ref().map(|u| u.at), Some(days_ago(40)));
    assert_eq!(alice.access_keys[0].last_used_source, from_report);
    assert_eq!(alice.mfa_devices, Vec::<String>::new(), "MFA stays live");
    assert_eq!(bob, &own(&deps).users.lock().unwrap()["bob"]);
    assert!(svc.access_keys.iter().all(|k| k.last_used.is_none() && k.last_used_source == from_report));
}

#[tokio::test]
async fn report_facts_about_a_user_outside_the_batch_are_invalid_input_and_nothing_is_read() {
    let iam = account();
    let item = event_with_report(0, &["alice"], &report_facts());

    let deps = deps(iam);
    let err = handle(&deps, now(), item).await.unwrap_err();

    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(err.to_string().contains("\"svc-ci\", which is not in batch.users"), "{err}");
    assert!(own(&deps).api_calls().is_empty() && deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_report_facts_are_invalid_input_not_a_fully_live_read() {
    let iam = account();
    let mut item = event_with_report(0, &["alice", "svc-ci"], &report_facts());
    item["batch"]["report"]["users"]["alice"]["keys"][0]["created"] = json!("last spring");

    let deps = deps(iam);
    let err = handle(&deps, now(), item).await.unwrap_err();

    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(own(&deps).api_calls().is_empty());
}

/// IAM whose reads take longer for earlier users, recording how many were in flight at once.
struct SlowIam {
    inner: FakeIam,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    slow_user: Option<String>,
}

impl Iam for SlowIam {
    async fn list_users(&self) -> Result<Vec<UserSummary>, PortError> {
        self.inner.list_users().await
    }
    async fn credential_report(&self) -> Result<CredentialReport, PortError> {
        self.inner.credential_report().await
    }
    async fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> Result<Option<User>, PortError> {
        self.inner.read_user_with_report(name, reported, generated_at).await
    }
    async fn read_user(&self, name: &str) -> Result<Option<User>, PortError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let n: u64 = name.trim_start_matches("user-").parse().unwrap();
        let pause = if self.slow_user.as_deref() == Some(name) { 5_000 } else { 30 - n };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.read_user(name).await
    }
    async fn read_key_status(&self, user_name: &str, access_key_id: &str) -> Result<Option<KeyStatus>, PortError> {
        self.inner.read_key_status(user_name, access_key_id).await
    }
    async fn deactivate_key(&self, user_name: &str, access_key_id: &str) -> Result<(), PortError> {
        self.inner.deactivate_key(user_name, access_key_id).await
    }
    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.inner.api_calls()
    }
}

fn slow_account(n: u32, slow_user: Option<&str>) -> (SlowIam, Vec<String>) {
    let names: Vec<String> = (1..=n).map(|i| format!("user-{i}")).collect();
    let iam = SlowIam {
        inner: FakeIam::with_users(names.iter().map(|n| user(n))),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
        slow_user: slow_user.map(str::to_owned),
    };
    (iam, names)
}

#[tokio::test]
async fn reads_run_concurrently_but_never_more_than_four_and_keep_batch_order() {
    let (iam, names) = slow_account(13, None);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();

    let deps = deps(iam);
    handle(&deps, now(), event(0, &refs)).await.unwrap();

    let most = own(&deps).most_in_flight.load(Ordering::SeqCst);
    assert!(most > 1 && most <= MAX_READS_IN_FLIGHT, "at most {MAX_READS_IN_FLIGHT} in flight, saw {most}");
    assert_eq!(MAX_READS_IN_FLIGHT, 4);
    let written = result(deps.runs.store(), 0).unwrap();
    assert_eq!(written.users.iter().map(|u| u.name.clone()).collect::<Vec<_>>(), names);
}

#[tokio::test]
async fn a_failed_read_does_not_wait_for_slow_reads_in_flight() {
    // GIVEN one read that would take 5 s and another that is throttled
    let (iam, names) = slow_account(3, Some("user-1"));
    iam.inner.throttled_users.lock().unwrap().push("user-2".into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();

    let started = std::time::Instant::now();
    let deps = deps(iam);
    let err = handle(&deps, now(), event(0, &refs)).await.unwrap_err();

    assert_eq!(err.error_name(), errors::IAM_THROTTLED);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn malformed_event_is_invalid_input_not_a_type_name() {
    for bad in [
        json!({}),
        json!([1, 2]),
        json!({"run": {"bucket": BUCKET, "execution_name": "a/b"}, "batch": {"index": 0, "users": []}}),
    ] {
        let deps = deps(account());
        let err = handle(&deps, now(), bad.clone()).await.unwrap_err();
        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{bad}");
        assert!(err.to_string().starts_with("invalid CheckUserInput event: "), "{err}");
    }
}

#[tokio::test]
async fn every_sample_event_is_handled_or_refused_as_invalid_input() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/check-user");
    let mut seen = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let deps = deps(account());
        let result = handle(&deps, now(), event).await;
        if name.starts_with("invalid-") {
            assert_eq!(result.unwrap_err().error_name(), errors::INVALID_INPUT, "{name}");
            assert!(deps.runs.store().objects.lock().unwrap().is_empty(), "{name}");
            seen.1 += 1;
        } else {
            let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(deps.runs.store().json(&out.result_key).is_some(), "{name}");
            seen.0 += 1;
        }
    }
    assert!(seen.0 >= 1 && seen.1 >= 1, "{seen:?}");
}

const MEMBER: &str = "111122223333";

fn member_id() -> AccountId {
    AccountId::parse(MEMBER).unwrap()
}

/// check-user deployed in organisation scope: MEMBER has keyward's read role (`audit-read`) and
/// the users of [`account`].
fn org_deps() -> Deps<FakeIam, FakeStore, FakeAccountAccess> {
    let accounts = FakeAccountAccess::with_accounts(&["audit-read"], [(member_id(), Vec::new())]);
    *accounts.iam(&member_id()).unwrap().users.lock().unwrap() = account().users.lock().unwrap().clone();
    let config = Config { member_read_role: "audit-read".into(), ..config() };
    Deps {
        access: Access::Members(accounts),
        runs: RunStore::new(FakeStore::default(), BUCKET),
        settings: Settings::from_config(&config).unwrap(),
    }
}

fn members(deps: &Deps<FakeIam, FakeStore, FakeAccountAccess>) -> &FakeAccountAccess {
    match &deps.access {
        Access::Members(accounts) => accounts,
        Access::Own(_) => panic!("an organisation deployment"),
    }
}

/// A batch of MEMBER's part of the run.
fn member_event(index: u32, users: &[&str]) -> Value {
    let mut event = event(index, users);
    event["run"]["account_id"] = json!(MEMBER);
    event
}

#[tokio::test]
async fn a_member_accounts_batch_is_read_through_one_read_session_and_lands_under_its_prefix() {
    // GIVEN check-user deployed in organisation scope
    let deps = org_deps();

    // WHEN it checks a batch of MEMBER's part of the run
    let out = handle(&deps, now(), member_event(2, &["alice", "bob", "gone"])).await.unwrap();

    // THEN one read session was opened in MEMBER for the whole batch, named after the function and run
    assert_eq!(
        *members(&deps).sessions.lock().unwrap(),
        vec![AccountSession {
            account: member_id(),
            role: "audit-read".into(),
            name: SessionName::new("check-user", EXEC),
            source_identity: None,
        }]
    );
    // AND the users were read through it, and the result is under the account's prefix
    assert_eq!(out.result_key, format!("runs/{EXEC}/accounts/{MEMBER}/results/batch-00002.json"));
    let written: BatchResult = serde_json::from_value(deps.runs.store().json(&out.result_key).unwrap()).unwrap();
    assert_eq!(written.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(written.gone, ["gone"]);
    assert_eq!(written.api_calls, BTreeMap::from([("iam:GetUser".to_owned(), 3)]));
    assert_eq!(members(&deps).iam(&member_id()).unwrap().api_calls(), written.api_calls);
}

#[tokio::test]
async fn a_refused_read_session_fails_the_batch_as_member_role_refused() {
    // GIVEN a member account without keyward's read role
    let deps = org_deps();
    members(&deps).roles.lock().unwrap().clear();

    // WHEN its batch is checked
    let err = handle(&deps, now(), member_event(0, &["alice"])).await.unwrap_err();

    // THEN the batch fails by name and nothing is written
    assert_eq!(err.error_name(), errors::MEMBER_ROLE_REFUSED);
    assert!(err.to_string().contains(MEMBER), "{err}");
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_batch_of_the_other_scope_is_refused_before_any_call() {
    // GIVEN an account-scope deployment, a batch naming a member account, is refused
    let own_deps = deps(account());
    let err = handle(&own_deps, now(), member_event(0, &["alice"])).await.unwrap_err();
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(err.to_string().contains("KEYWARD_SCOPE=account"), "{err}");
    assert!(own(&own_deps).api_calls().is_empty());
    assert!(own_deps.runs.store().objects.lock().unwrap().is_empty());

    // AND an organisation deployment, a batch naming no account, is refused without a session
    let org = org_deps();
    let err = handle(&org, now(), event(0, &["alice"])).await.unwrap_err();
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(err.to_string().contains("KEYWARD_SCOPE=organization"), "{err}");
    assert!(members(&org).sessions.lock().unwrap().is_empty());
    assert!(org.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_member_batch_for_another_bucket_is_refused_before_any_session() {
    let deps = org_deps();
    let mut elsewhere = member_event(0, &["alice"]);
    elsewhere["run"]["bucket"] = json!("attacker-bucket");
    let err = handle(&deps, now(), elsewhere).await.unwrap_err();
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(members(&deps).sessions.lock().unwrap().is_empty());
}
