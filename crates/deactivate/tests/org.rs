//! deactivate over an organisation run (`KEYWARD_SCOPE=organization`) on in-memory fakes: each
//! account's keys are changed through a write session opened in that account with the approver as
//! its source identity; a key in an account the run did not sweep is refused before the claim; a
//! refused session fails that account's keys only; and each scope refuses the other's run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use deactivate::handler::{DeactivateError, Deps, Settings};
use keyward_core::config::{Config, Mode, PolicyConfig, Scope, Screening};
use keyward_core::contracts::{DeactivateOutput, RunRef};
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{INVALID_INPUT, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeApprovals, FakeIam, FakeStore};
use keyward_core::fixtures::{key, now as evaluated_at, user, with_keys};
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::journal::{Journal, KeyState, claim_key};
use keyward_core::model::{KeyRef, KeyStatus, User, UserArn};
use keyward_core::org::{AccountFailure, AccountId};
use keyward_core::policy::evaluate;
use keyward_core::ports::{DecisionOutcome, Iam, RecordedDecision};
use keyward_core::run_report::{
    ActionOutcome, Coverage, FailedAccount, REPORT_SCHEMA_VERSION, RunReport, SweptAccount,
};
use keyward_core::run_store::RunStore;
use serde_json::{Value, json};

const BUCKET: &str = "keyward-reports-123456789012";
const EXECUTION: &str = "keyward-2026-12-01";
const REPORT_KEY: &str = "runs/keyward-2026-12-01/report.json";
const WRITE_ROLE: &str = "keyward-deactivate";
/// Swept: alice, with an old key (planned) and a fresh one.
const A: &str = "111111111111";
/// Swept: bob, with an old key (planned).
const B: &str = "222222222222";
/// Selected, but its sweep failed.
const C: &str = "333333333333";
const ALICE_OLD: &str = "AKIAALICEOLDKEY00001";
const ALICE_FRESH: &str = "AKIAALICEFRESHKEY002";
const BOB_OLD: &str = "AKIABOBOLDKEY0000001";
const CAROL_OLD: &str = "AKIACAROLOLDKEY00001";

fn id(account: &str) -> AccountId {
    AccountId::parse(account).unwrap()
}

fn now() -> DateTime<Utc> {
    evaluated_at() + Duration::hours(3)
}

fn user_in(account: &str, name: &str) -> User {
    User { arn: UserArn::parse(&format!("arn:aws:iam::{account}:user/{name}")).unwrap(), ..user(name) }
}

fn alice() -> User {
    with_keys(user_in(A, "alice"), vec![key(ALICE_OLD, 400, Some(1)), key(ALICE_FRESH, 10, Some(1))])
}

fn bob() -> User {
    with_keys(user_in(B, "bob"), vec![key(BOB_OLD, 400, Some(1))])
}

fn policy(mode: Mode) -> PolicyConfig {
    PolicyConfig { mode, max_key_age_days: 365, unused_key_days: 90, ..PolicyConfig::default() }
}

fn swept(account: &str) -> SweptAccount {
    SweptAccount {
        account_id: id(account),
        name: format!("name-{account}"),
        users_listed: 1,
        users_checked: 1,
        users_not_evaluated: 0,
    }
}

/// The organisation run's report over `users`: A and B swept, C failed.
fn report(mode: Mode, users: &[User]) -> RunReport {
    let config = policy(mode);
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: None,
        evaluation: evaluate(users, &config, evaluated_at()),
        config,
        screening: Screening::CredentialReport,
        users_listed: users.len(),
        users_checked: users.len(),
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        decision: None,
        actions: vec![],
        api_calls: Default::default(),
        coverage: Some(Coverage {
            discovered: 3,
            swept: vec![swept(A), swept(B)],
            skipped: vec![],
            failed: vec![FailedAccount { name: "name-c".into(), failure: AccountFailure::not_recorded(id(C)) }],
            unmatched: vec![],
        }),
    }
}

/// Member accounts A and B, each with keyward's roles and its own users.
fn members() -> FakeAccountAccess {
    let access =
        FakeAccountAccess::with_accounts(&["keyward-read", WRITE_ROLE], [(id(A), vec![alice()]), (id(B), vec![bob()])]);
    *access.write_roles.lock().unwrap() = vec![WRITE_ROLE.into()];
    access
}

type OrgDeps = Deps<FakeIam, FakeStore, FakeApprovals, FakeAccountAccess>;

/// deactivate in `scope` over `report` and `members`; its own IAM holds the same users, so that a
/// change through it would show.
fn deps(scope: Scope, report: &RunReport, members: FakeAccountAccess) -> OrgDeps {
    let store = FakeStore::default();
    store.objects.lock().unwrap().insert((BUCKET.into(), REPORT_KEY.into()), serde_json::to_vec(report).unwrap());
    let config =
        Config { report_bucket: Some(BUCKET.into()), policy: report.config.clone(), scope, ..Config::default() };
    Deps {
        iam: FakeIam::with_users([alice(), bob()]),
        members: Some(members),
        runs: RunStore::new(store, BUCKET),
        decisions: FakeApprovals::default(),
        settings: Settings::from_config(&config, None).unwrap(),
    }
}

fn approver() -> Approver {
    Approver::Oidc {
        issuer: "https://idp.example.com".into(),
        subject: "00u1abc".into(),
        email: Some("Alice.Admin@Example.com".into()),
        source_ip: None,
        user_agent: None,
    }
}

fn key_ref(account: &str, user: &str, key: &str) -> KeyRef {
    KeyRef { account_id: id(account), user_name: user.into(), access_key_id: key.into() }
}

/// Records the approver's decision on `keys` as the approval function does.
fn approve(deps: &OrgDeps, keys: Vec<KeyRef>) {
    let decision = Decision { approved: keys, decided_by: approver(), decided_at: evaluated_at() + Duration::hours(2) };
    let recorded = RecordedDecision {
        run: RunRef::new(BUCKET, EXECUTION),
        approval_id_hash: "ab".repeat(32),
        outcome: DecisionOutcome::Approved,
        decision,
    };
    deps.decisions.decisions.lock().unwrap().insert(EXECUTION.into(), recorded);
}

async fn invoke(deps: &OrgDeps) -> Result<DeactivateOutput, DeactivateError> {
    let event: Value = json!({"run": {"bucket": BUCKET, "execution_name": EXECUTION}});
    deactivate::handler::handle(deps, now(), "req-1".to_owned(), event).await
}

fn member_iam(deps: &OrgDeps, account: &str) -> Arc<FakeIam> {
    deps.members.as_ref().unwrap().iam(&id(account)).unwrap()
}

fn sessions(deps: &OrgDeps) -> Vec<(String, String, String, Option<String>)> {
    let sessions = deps.members.as_ref().unwrap().sessions.lock().unwrap().clone();
    sessions
        .into_iter()
        .map(|s| (s.account.to_string(), s.role, s.name.to_string(), s.source_identity.map(|i| i.to_string())))
        .collect()
}

fn claimed(deps: &OrgDeps) -> bool {
    deps.runs.store().json(&claim_key(&RunRef::new(BUCKET, EXECUTION))).is_some()
}

fn stored_report(deps: &OrgDeps) -> RunReport {
    serde_json::from_value(deps.runs.store().json(REPORT_KEY).unwrap()).unwrap()
}

#[tokio::test]
async fn keys_in_two_accounts_change_in_exactly_those_accounts_each_through_its_own_write_session() {
    let deps = deps(Scope::Organization, &report(Mode::Approve, &[alice(), bob()]), members());
    approve(&deps, vec![key_ref(A, "alice", ALICE_OLD), key_ref(B, "bob", BOB_OLD)]);

    let out = invoke(&deps).await.unwrap();

    assert_eq!((out.deactivated, out.skipped, out.failed), (2, 0, 0), "{out:?}");
    let name = SessionName::new("deactivate", EXECUTION).to_string();
    let who = Some("alice.admin@example.com".to_owned());
    assert_eq!(
        sessions(&deps),
        [(A.into(), WRITE_ROLE.into(), name.clone(), who.clone()), (B.into(), WRITE_ROLE.into(), name, who)],
        "one write session per account, each carrying the approver"
    );
    let (in_a, in_b) = (member_iam(&deps, A), member_iam(&deps, B));
    assert_eq!(*in_a.deactivations.lock().unwrap(), [("alice".to_owned(), ALICE_OLD.to_owned())]);
    assert_eq!(*in_b.deactivations.lock().unwrap(), [("bob".to_owned(), BOB_OLD.to_owned())]);
    assert_eq!(in_a.key_status("alice", ALICE_FRESH), Some(KeyStatus::Active));
    assert!(deps.iam.deactivations.lock().unwrap().is_empty(), "its own credentials changed nothing");
    assert!(deps.iam.api_calls().is_empty(), "its own IAM was never called");
    let report = stored_report(&deps);
    assert!(report.actions.iter().all(|a| a.outcome == ActionOutcome::Deactivated), "{:?}", report.actions);
    assert_eq!(report.api_calls.get("iam:UpdateAccessKey"), Some(&2), "{:?}", report.api_calls);
}

#[tokio::test]
async fn a_planned_key_in_an_account_not_swept_is_refused_before_the_claim() {
    let carol = with_keys(user_in(C, "carol"), vec![key(CAROL_OLD, 400, Some(1))]);
    let deps = deps(Scope::Organization, &report(Mode::Approve, &[alice(), bob(), carol]), members());
    approve(&deps, vec![key_ref(A, "alice", ALICE_OLD)]);

    let err = invoke(&deps).await.unwrap_err();

    assert_eq!(err.error_name(), INVALID_INPUT);
    assert!(err.to_string().contains(&format!("{CAROL_OLD} of user carol is in account {C}")), "{err}");
    assert!(err.to_string().contains("did not sweep"), "{err}");
    assert!(!claimed(&deps), "refused before the claim");
    assert!(sessions(&deps).is_empty(), "no session opened");
    assert!(member_iam(&deps, A).deactivations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_write_session_fails_that_accounts_keys_only() {
    // B's stack of member/keyward-member.yaml is gone since the sweep: its session is refused.
    let access = members();
    let in_b = access.accounts.lock().unwrap().remove(&id(B)).unwrap();
    let deps = deps(Scope::Organization, &report(Mode::Approve, &[alice(), bob()]), access);
    approve(&deps, vec![key_ref(A, "alice", ALICE_OLD), key_ref(B, "bob", BOB_OLD)]);

    let out = invoke(&deps).await.unwrap();

    assert_eq!((out.deactivated, out.skipped, out.failed), (1, 0, 1), "{out:?}");
    assert_eq!(member_iam(&deps, A).key_status("alice", ALICE_OLD), Some(KeyStatus::Inactive));
    assert_eq!(in_b.key_status("bob", BOB_OLD), Some(KeyStatus::Active));
    let report = stored_report(&deps);
    let bobs = report.actions.iter().find(|a| a.key.access_key_id == BOB_OLD).unwrap();
    let ActionOutcome::Failed { error } = &bobs.outcome else { panic!("{:?}", bobs.outcome) };
    assert!(error.contains(&format!("no session in account {B}, key not touched")), "{error}");
    assert!(error.contains("cannot assume role keyward-deactivate"), "{error}");
    let journal = Journal::read(&deps.runs, &RunRef::new(BUCKET, EXECUTION)).await.unwrap().unwrap();
    let state = |key: &str| journal.keys.iter().find(|k| k.key.access_key_id == key).unwrap().state();
    assert_eq!((state(ALICE_OLD), state(BOB_OLD)), (KeyState::Changed, KeyState::NotTouched));
}

#[tokio::test]
async fn an_automatic_decision_opens_its_sessions_as_keyward_auto() {
    let deps = deps(Scope::Organization, &report(Mode::Auto, &[alice(), bob()]), members());

    let out = invoke(&deps).await.unwrap();

    assert_eq!(out.deactivated, 2, "{out:?}");
    let identities: Vec<_> = sessions(&deps).into_iter().map(|s| s.3).collect();
    let auto = SourceIdentity::of(&Approver::Automatic).to_string();
    assert_eq!(auto, "keyward-auto");
    assert_eq!(identities, [Some(auto.clone()), Some(auto)]);
}

#[tokio::test]
async fn each_scope_refuses_a_run_of_the_other_before_the_claim() {
    let organisation = report(Mode::Auto, &[alice(), bob()]);
    let in_account_scope = deps(Scope::Account, &organisation, members());
    let mut one_account = report(Mode::Auto, &[alice()]);
    one_account.coverage = None;
    one_account.account_id = Some(id(A));
    let in_organisation_scope = deps(Scope::Organization, &one_account, members());

    for (deps, says) in
        [(&in_account_scope, "KEYWARD_SCOPE=account"), (&in_organisation_scope, "KEYWARD_SCOPE=organization")]
    {
        let err = invoke(deps).await.unwrap_err();

        assert_eq!(err.error_name(), INVALID_INPUT);
        assert!(err.to_string().contains(says), "{err}");
        assert!(!claimed(deps), "refused before the claim");
        assert!(sessions(deps).is_empty(), "no session opened");
        assert!(deps.iam.deactivations.lock().unwrap().is_empty());
    }
}
