//! list-users over in-memory fakes: what it screens, how it batches, what it writes to the run's
//! S3 prefix, and the error names Step Functions sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use keyward_core::config::{Config, MfaScope, Screening};
use keyward_core::contracts::ListUsersOutput;
use keyward_core::contracts::Listing;
use keyward_core::contracts::ScreenReason;
use keyward_core::contracts::{BatchItem, UserBatch};
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeIam, FakeOrganization, FakeStore};
use keyward_core::fixtures::*;
use keyward_core::model::User;
use keyward_core::ports::Iam;
use keyward_core::run_store::RunStore;
use list_users::handler::{Access, Deps, ListUsersError, Output, Settings, handle};
use serde_json::{Value, json};

const BUCKET: &str = "keyward-reports-test";
const EXEC: &str = "keyward-2026-11-21";

fn event() -> Value {
    json!({"execution_name": EXEC, "evaluated_at": now()})
}

/// An account holding `users` whose credential report shows `in_report` (a subset: the others were
/// created after the report was generated).
fn account(users: Vec<User>, in_report: &[User]) -> FakeIam {
    let iam = FakeIam::with_users(users);
    *iam.report.lock().unwrap() = Some(credential_report(in_report).into_bytes());
    iam
}

fn items(store: &FakeStore) -> Vec<BatchItem> {
    serde_json::from_value(store.json(&format!("runs/{EXEC}/batches.json")).expect("batches.json written")).unwrap()
}

/// The batches of `batches.json`, without the report's facts.
fn batches(store: &FakeStore) -> Vec<UserBatch> {
    items(store).iter().map(BatchItem::batch).collect()
}

fn listing(store: &FakeStore) -> Listing {
    serde_json::from_value(store.json(&format!("runs/{EXEC}/listing.json")).expect("listing.json written")).unwrap()
}

fn settings(config: &Config) -> Settings {
    Settings::from_config(&Config { report_bucket: Some(BUCKET.into()), ..config.clone() }).unwrap()
}

type AccountDeps = Deps<FakeIam, FakeStore, FakeOrganization, FakeAccountAccess>;

/// list-users deployed in account scope over `iam` and an empty report bucket, configured by `config`.
fn deps(iam: FakeIam, config: &Config) -> AccountDeps {
    Deps { access: Access::Own(iam), runs: RunStore::new(FakeStore::default(), BUCKET), settings: settings(config) }
}

/// The deployment's own IAM.
fn own(deps: &AccountDeps) -> &FakeIam {
    match &deps.access {
        Access::Own(iam) => iam,
        Access::Members { .. } => panic!("an account-scope deployment"),
    }
}

/// list-users' answer to the sweep of its own account.
async fn list(deps: &AccountDeps, event: Value) -> Result<ListUsersOutput, ListUsersError> {
    handle(deps, now(), event).await.map(|out| match out {
        Output::Listed(listed) => listed,
        other => panic!("not a listing: {other:?}"),
    })
}

fn live(batch_size: u32) -> Config {
    Config { screening: Screening::Live, batch_size, ..Config::default() }
}

#[tokio::test]
async fn report_screening_checks_only_users_the_policy_could_report() {
    // GIVEN a compliant user, a user with a 200-day-old key, a console user without MFA, all in the
    // report, and a user created after the report was generated
    let compliant = with_keys(user("compliant"), vec![key("AKIACOMPLIANT", 10, Some(1))]);
    let old_key = with_keys(user("old-key"), vec![key("AKIAOLD", 200, Some(1))]);
    let no_mfa_console = no_mfa(user("console-no-mfa"), true);
    let newcomer = user("newcomer");
    let in_report = [compliant.clone(), old_key.clone(), no_mfa_console.clone()];
    let iam = account(vec![compliant, old_key, no_mfa_console, newcomer], &in_report);

    // WHEN list-users runs in the default (report) screening
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();

    // THEN exactly the three users the policy could report are candidates, with their reasons
    let listing = listing(deps.runs.store());
    let candidates: Vec<(&str, &[ScreenReason])> =
        listing.candidates.iter().map(|c| (c.user.as_str(), c.reasons.as_slice())).collect();
    assert_eq!(
        candidates,
        vec![
            ("console-no-mfa", &[ScreenReason::NoMfa][..]),
            ("newcomer", &[ScreenReason::MissingFromReport][..]),
            ("old-key", &[ScreenReason::KeyNearAge][..]),
        ]
    );
    assert_eq!(
        batches(deps.runs.store()),
        vec![UserBatch { index: 0, users: vec!["console-no-mfa".into(), "newcomer".into(), "old-key".into()] }]
    );
    assert_eq!(listing.users_listed, 4);
    assert_eq!(listing.screening, Screening::CredentialReport);
    assert_eq!(out.users_listed, 4);
    assert_eq!(out.candidates, 3);
    assert_eq!(out.batches, 1);
    assert!(out.has_candidates);
    // AND no user was read one by one: the report did the screening
    assert_eq!(listing.api_calls.get("iam:ListUsers"), Some(&1));
    assert_eq!(listing.api_calls.get("iam:GetCredentialReport"), Some(&1));
    assert_eq!(listing.api_calls.get("iam:GetUser"), None);
}

#[tokio::test]
async fn report_screening_hands_check_user_the_report_facts_in_each_batch_item() {
    // GIVEN a console user without MFA and a user with an old key in a report generated an hour
    // before the run, and a user created since
    let no_mfa_console = no_mfa(user("console-no-mfa"), true);
    let old_key = with_keys(user("old-key"), vec![key("AKIAOLD", 200, Some(30)), key("AKIANEW", 5, None)]);
    let iam = account(vec![no_mfa_console.clone(), old_key.clone(), user("newcomer")], &[no_mfa_console, old_key]);
    let generated_at = now() - chrono::Duration::hours(1);
    *iam.report_generated_at.lock().unwrap() = Some(generated_at);
    let config = Config { batch_size: 2, ..Config::default() };

    // WHEN list-users runs
    let deps = deps(iam, &config);
    list(&deps, event()).await.unwrap();

    // THEN each item carries the facts of its users that have a row, as the report had them
    let items = items(deps.runs.store());
    assert_eq!(items[0].users, vec!["console-no-mfa".to_owned(), "newcomer".to_owned()]);
    let first = items[0].report.as_ref().expect("batch 0 has a user with a row");
    assert_eq!(first.generated_at, generated_at);
    assert_eq!(first.users.keys().collect::<Vec<_>>(), vec!["console-no-mfa"], "newcomer has no row");
    assert!(first.users["console-no-mfa"].password_enabled);
    let old = &items[1].report.as_ref().expect("batch 1: old-key").users["old-key"];
    assert_eq!(old.keys.iter().map(|k| k.created).collect::<Vec<_>>(), vec![days_ago(200), days_ago(5)]);
    assert_eq!(old.keys[0].last_used.as_ref().map(|u| u.at), Some(days_ago(30)));
    assert_eq!(old.keys[1].last_used, None);
    assert_eq!(listing(deps.runs.store()).report_generated_at, Some(generated_at));
}

#[tokio::test]
async fn no_report_facts_without_the_report_generation_time_or_under_live_screening() {
    let no_mfa_console = no_mfa(user("console-no-mfa"), true);
    // IAM did not say when the report was generated: check-user reads everyone fully live
    let iam = account(vec![no_mfa_console.clone()], &[no_mfa_console]);
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();
    assert_eq!(out.candidates, 1);
    assert_eq!(listing(deps.runs.store()).report_generated_at, None);
    assert!(items(deps.runs.store()).iter().all(|i| i.report.is_none()));
    // SCREENING=live never reads the report at all
    *own(&deps).report_generated_at.lock().unwrap() = Some(now());
    let deps = Deps { settings: settings(&live(50)), runs: RunStore::new(FakeStore::default(), BUCKET), ..deps };
    list(&deps, event()).await.unwrap();
    assert!(items(deps.runs.store()).iter().all(|i| i.report.is_none()));
}

#[tokio::test]
async fn mfa_scope_all_makes_programmatic_users_without_mfa_candidates() {
    let svc = no_mfa(with_keys(user("svc-ci"), vec![key("AKIASVC", 5, Some(1))]), false);
    let iam = account(vec![svc.clone()], &[svc]);

    let deps = deps(iam, &Config::default());
    let console_only = list(&deps, event()).await.unwrap();
    assert_eq!(console_only.candidates, 0);

    let mut all = Config::default();
    all.policy.mfa_scope = MfaScope::All;
    let deps = Deps { settings: settings(&all), ..deps };
    let out = list(&deps, event()).await.unwrap();
    assert_eq!(out.candidates, 1);
    assert_eq!(listing(deps.runs.store()).candidates[0].reasons, vec![ScreenReason::NoMfa]);
}

#[tokio::test]
async fn candidates_are_batched_by_batch_size_with_consecutive_indexes() {
    let users: Vec<User> = (1..=7).map(|n| user(&format!("user-{n}"))).collect();
    let iam = FakeIam::with_users(users);

    let deps = deps(iam, &live(3));
    let out = list(&deps, event()).await.unwrap();

    let names = |ns: &[u32]| ns.iter().map(|n| format!("user-{n}")).collect::<Vec<_>>();
    assert_eq!(
        batches(deps.runs.store()),
        vec![
            UserBatch { index: 0, users: names(&[1, 2, 3]) },
            UserBatch { index: 1, users: names(&[4, 5, 6]) },
            UserBatch { index: 2, users: names(&[7]) },
        ]
    );
    assert_eq!((out.candidates, out.batches), (7, 3));
}

#[tokio::test]
async fn a_batch_size_dividing_the_candidates_leaves_no_empty_batch() {
    let iam = FakeIam::with_users((1..=4).map(|n| user(&format!("u{n}"))));
    let deps = deps(iam, &live(2));
    let out = list(&deps, event()).await.unwrap();
    assert_eq!(out.batches, 2);
    assert!(batches(deps.runs.store()).iter().all(|b| b.users.len() == 2));
}

#[tokio::test]
async fn empty_account_writes_an_empty_batches_array_and_has_no_candidates() {
    let iam = account(vec![], &[]);

    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();

    assert!(!out.has_candidates);
    assert_eq!((out.users_listed, out.candidates, out.batches), (0, 0, 0));
    assert_eq!(deps.runs.store().json(&format!("runs/{EXEC}/batches.json")), Some(json!([])));
    assert_eq!(listing(deps.runs.store()).users_listed, 0);
}

#[tokio::test]
async fn compliant_account_has_no_candidates() {
    let alice = with_keys(user("alice"), vec![key("AKIAALICE", 3, Some(0))]);
    let iam = account(vec![alice.clone()], &[alice]);
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();
    assert!(!out.has_candidates);
    assert_eq!(out.users_listed, 1);
    assert_eq!(batches(deps.runs.store()), vec![]);
}

#[tokio::test]
async fn live_screening_checks_every_user_without_the_credential_report() {
    // GIVEN compliant users and no credential report at all
    let iam = FakeIam::with_users([user("alice"), with_keys(user("bob"), vec![key("AKIABOB", 1, Some(0))])]);

    let deps = deps(iam, &live(50));
    let out = list(&deps, event()).await.unwrap();

    let listing = listing(deps.runs.store());
    assert_eq!(out.candidates, 2);
    assert_eq!(listing.screening, Screening::Live);
    assert!(listing.candidates.iter().all(|c| c.reasons == vec![ScreenReason::Live]));
    assert_eq!(listing.api_calls.get("iam:GetCredentialReport"), None);
}

#[tokio::test]
async fn a_credential_report_not_ready_within_the_wait_screens_the_run_live_and_says_why() {
    // GIVEN report screening, and IAM without the report ready (the fake answers ReportUnavailable)
    let iam = FakeIam::with_users([user("alice"), user("bob")]);

    // WHEN list-users runs
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();

    // THEN the run is not failed: every user is a candidate, read live, and the listing says why
    let listing = listing(deps.runs.store());
    assert_eq!(listing.candidates.iter().map(|c| c.user.as_str()).collect::<Vec<_>>(), vec!["alice", "bob"]);
    assert!(listing.candidates.iter().all(|c| c.reasons == vec![ScreenReason::Live]));
    assert_eq!(listing.screening, Screening::CredentialReport, "the configured screening");
    let why = listing.report_unavailable.as_deref().expect("the reason is recorded");
    assert!(!why.is_empty());
    assert_eq!(listing.report_generated_at, None);
    assert!(items(deps.runs.store()).iter().all(|i| i.report.is_none()), "no report facts");
    assert_eq!((out.candidates, out.has_candidates), (2, true));
}

#[tokio::test]
async fn unreadable_report_row_names_line_and_column_and_its_user_is_checked_live() {
    // GIVEN a report whose row for alice has an empty ARN
    let alice = user("alice");
    let iam = FakeIam::with_users([alice.clone()]);
    let report = credential_report(&[alice]).replace("alice,arn:aws:iam::123456789012:user/alice,", "alice,,");
    *iam.report.lock().unwrap() = Some(report.into_bytes());

    // WHEN list-users runs
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();

    // THEN the run goes on: the row is named in the listing, and alice is read live
    let listing = listing(deps.runs.store());
    let [row] = listing.unreadable_report_rows.as_slice() else { panic!("{listing:?}") };
    assert_eq!((row.line, row.user.as_deref()), (3, Some("alice")));
    let message = &row.reason;
    assert!(message.contains("line 3") && message.contains("column arn"), "{message}");
    assert_eq!(listing.candidates[0].reasons, vec![ScreenReason::UnreadableReportRow]);
    assert_eq!(out.candidates, 1);
    assert_eq!(items(deps.runs.store())[0].report, None, "no report facts about alice");
}

#[tokio::test]
async fn a_comma_in_a_user_name_written_unquoted_costs_a_live_check_not_the_run() {
    // GIVEN an account with a user named `smith,john`, whose report row is written without quotes
    // (moto 5.2.5 does: shared/credreports/moto-5.2.5-comma-user-unquoted.csv), so it has 24 fields
    let compliant = with_keys(user("compliant"), vec![key("AKIACOMPLIANT", 10, Some(1))]);
    let smith = with_keys(user("smith,john"), vec![key("AKIASMITH", 10, Some(1))]);
    let old_key = with_keys(user("old-key"), vec![key("AKIAOLD", 200, Some(1))]);
    let iam = account(vec![compliant.clone(), smith.clone(), old_key.clone()], &[compliant, smith, old_key]);
    *iam.report_generated_at.lock().unwrap() = Some(now() - chrono::Duration::hours(1));

    // WHEN list-users screens with the report
    let deps = deps(iam, &Config::default());
    let out = list(&deps, event()).await.unwrap();

    // THEN the other rows screen as before, and smith,john is a candidate read fully live
    let listing = listing(deps.runs.store());
    let candidates: Vec<(&str, &[ScreenReason])> =
        listing.candidates.iter().map(|c| (c.user.as_str(), c.reasons.as_slice())).collect();
    assert_eq!(
        candidates,
        vec![("old-key", &[ScreenReason::KeyNearAge][..]), ("smith,john", &[ScreenReason::UnreadableReportRow][..])]
    );
    assert_eq!(out.candidates, 2);
    // AND the listing names the row, its user and why
    let [row] = listing.unreadable_report_rows.as_slice() else { panic!("{listing:?}") };
    assert_eq!((row.line, row.user.as_deref()), (4, Some("smith,john")));
    assert_eq!(row.reason, "credential report line 4: 24 fields, but the header has 22");
    // AND check-user gets the report's facts about old-key, none about smith,john
    let items = items(deps.runs.store());
    let facts = items[0].report.as_ref().expect("old-key has a row");
    assert_eq!(facts.users.keys().collect::<Vec<_>>(), vec!["old-key"]);
}

#[tokio::test]
async fn a_report_header_without_a_required_column_still_fails_the_run() {
    let alice = user("alice");
    let iam = FakeIam::with_users([alice.clone()]);
    let report = credential_report(&[alice]).replace(",mfa_active,", ",mfa,");
    *iam.report.lock().unwrap() = Some(report.into_bytes());

    let deps = deps(iam, &Config::default());
    let err = list(&deps, event()).await.unwrap_err();

    assert_eq!(err.error_name(), errors::CREDENTIAL_REPORT_INVALID);
    assert_eq!(err.to_string(), "credential report line 1: required column mfa_active is missing from the header");
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn report_that_is_not_a_credential_report_is_invalid() {
    let iam = FakeIam::with_users([user("alice")]);
    *iam.report.lock().unwrap() = Some(b"<html>Service Unavailable</html>\n".to_vec());
    let err = list(&deps(iam, &Config::default()), event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::CREDENTIAL_REPORT_INVALID);
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[tokio::test]
async fn unwritable_bucket_is_aws_call_failed() {
    let iam = FakeIam::with_users([user("alice")]);
    let deps = deps(iam, &live(50));
    *deps.runs.store().broken.lock().unwrap() = true;
    let err = list(&deps, event()).await.unwrap_err();
    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
}

#[tokio::test]
async fn run_points_at_the_configured_bucket_and_execution() {
    let iam = FakeIam::with_users([user("alice")]);
    let deps = deps(iam, &live(50));
    let out = list(&deps, event()).await.unwrap();
    assert_eq!(out.run.bucket, BUCKET);
    assert_eq!(out.run.execution_name, EXEC);
    assert_eq!(out.batches_key, format!("runs/{EXEC}/batches.json"));
    let objects = deps.runs.store().objects.lock().unwrap();
    assert!(objects.keys().all(|(bucket, key)| bucket == BUCKET && key.starts_with(&format!("runs/{EXEC}/"))));
}

#[tokio::test]
async fn api_calls_count_only_this_invocation_on_a_warm_adapter() {
    let iam = FakeIam::with_users([user("alice")]);
    let deps = deps(iam, &live(50));
    list(&deps, event()).await.unwrap();
    list(&deps, event()).await.unwrap();
    assert_eq!(listing(deps.runs.store()).api_calls.get("iam:ListUsers"), Some(&1));
}

#[tokio::test]
async fn malformed_event_is_invalid_input_not_a_type_name() {
    let iam = FakeIam::with_users([user("alice")]);
    let deps = deps(iam, &live(50));
    for bad in [json!({}), json!("scheduled"), json!({"execution_name": EXEC, "evaluated_at": "yesterday"})] {
        let err = list(&deps, bad.clone()).await.unwrap_err();
        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{bad}");
        assert!(err.to_string().starts_with("invalid ListUsersEvent event: "), "{err}");
    }
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn every_sample_event_is_handled_or_refused_as_invalid_input() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/list-users");
    let mut seen = (0, 0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let iam = account(vec![user("alice")], &[user("alice")]);
        let deps = deps(iam, &Config::default());
        let organisation_step = event.get("phase").is_some();
        let result = list(&deps, event).await;
        if name.starts_with("invalid-") || organisation_step {
            // An organisation run's steps are refused here, in account scope (tests/organization.rs
            // handles them in organisation scope)
            let err = result.unwrap_err();
            assert_eq!(err.error_name(), errors::INVALID_INPUT, "{name}");
            assert!(deps.runs.store().objects.lock().unwrap().is_empty(), "{name}");
            assert!(own(&deps).api_calls().is_empty(), "{name}");
            if organisation_step { seen.2 += 1 } else { seen.1 += 1 }
        } else {
            let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.users_listed, 1, "{name}");
            seen.0 += 1;
        }
    }
    assert!(seen.0 >= 1 && seen.1 >= 1 && seen.2 == 3, "{seen:?}");
}

#[tokio::test]
async fn an_organisation_step_is_refused_in_account_scope_before_any_call() {
    // GIVEN list-users deployed in account scope (KEYWARD_SCOPE=account)
    let deps = deps(account(vec![user("alice")], &[user("alice")]), &Config::default());
    let run = json!({"bucket": BUCKET, "execution_name": EXEC, "account_id": "111122223333"});
    for event in [
        json!({"phase": "discover", "execution_name": EXEC, "evaluated_at": now()}),
        json!({"phase": "account", "run": run, "evaluated_at": now()}),
        json!({"phase": "account-failed", "run": run, "error": "MemberRoleRefused"}),
    ] {
        // WHEN it is asked a step of an organisation run
        let err = list(&deps, event.clone()).await.unwrap_err();

        // THEN it refuses by name, having read and written nothing
        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{event}");
        assert!(err.to_string().contains("KEYWARD_SCOPE=account"), "{err}");
    }
    assert!(own(&deps).api_calls().is_empty());
    assert!(deps.runs.store().objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_account_swept_is_recorded_in_the_listing() {
    // GIVEN the execution's ARN ($$.Execution.Id), which names the account
    let iam = account(vec![user("alice")], &[]);
    let arn = format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{EXEC}");
    let event = json!({"execution_name": EXEC, "execution_id": arn, "evaluated_at": now()});

    // WHEN list-users runs
    let deps = deps(iam, &Config::default());
    list(&deps, event).await.unwrap();

    // THEN the listing names it, for the run report, the messages and the approval page
    assert_eq!(listing(deps.runs.store()).account_id.map(String::from).as_deref(), Some("123456789012"));
}
