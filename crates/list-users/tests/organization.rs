//! list-users deployed in organisation scope, over the organisation fakes: discovery's records and
//! selection, each account swept through its own read session under its own prefix, the record of
//! an account not swept, and every refusal (the other scope, an account the run does not sweep, a
//! refused session) by the name Step Functions sees, with nothing read or written that should not be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use keyward_core::config::{Config, Screening, vars};
use keyward_core::contracts::{AccountItem, DiscoverOutput, Discovery, ListUsersOutput, Listing};
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeIam, FakeOrganization, FakeStore};
use keyward_core::fixtures::*;
use keyward_core::identity::SessionName;
use keyward_core::org::{
    AccountFailure, AccountFilter, AccountId, AccountState, FilterEntry, NotSwept, OrgAccount, OuId, UnmatchedEntry,
};
use keyward_core::ports::{AccountSession, Iam, Organization, PortError};
use keyward_core::run_store::RunStore;
use list_users::handler::{Access, Deps, ListUsersError, Output, Settings, handle};
use serde_json::{Value, json};

/// The samples' bucket and execution (events/list-users/*.json).
const BUCKET: &str = "keyward-reports-123456789012";
const EXEC: &str = "keyward-2026-11-21";
const SWEPT: &str = "111122223333";
const OTHER: &str = "444455556666";
const EXCLUDED: &str = "222233334444";
const SUSPENDED: &str = "333344445555";

type OrgDeps = Deps<FakeIam, FakeStore, FakeOrganization, FakeAccountAccess>;

fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

fn org_account(account: &str, state: AccountState, ous: &[&str]) -> OrgAccount {
    OrgAccount {
        id: id(account),
        name: format!("name-{account}"),
        state,
        ous: ous.iter().map(|ou| OuId::parse(ou).unwrap()).collect(),
    }
}

/// Four accounts, listed out of order: one under an excluded OU, one suspended.
fn organization() -> FakeOrganization {
    FakeOrganization::with_accounts([
        org_account(OTHER, AccountState::Active, &[]),
        org_account(EXCLUDED, AccountState::Active, &["ou-ab12-sandbox1"]),
        org_account(SUSPENDED, AccountState::Suspended, &[]),
        org_account(SWEPT, AccountState::Active, &["ou-ab12-workload"]),
    ])
}

/// `ORG_EXCLUDE` names the sandbox OU and an account outside the organisation.
fn config() -> Config {
    Config {
        report_bucket: Some(BUCKET.into()),
        screening: Screening::Live,
        org_exclude: AccountFilter::parse(vars::ORG_EXCLUDE, Some("ou-ab12-sandbox1,999999999999".into())).unwrap(),
        member_read_role: "audit-read".into(),
        ..Config::default()
    }
}

/// Member accounts with keyward's read role: SWEPT holds alice and bob, OTHER holds carol.
fn members() -> FakeAccountAccess {
    FakeAccountAccess::with_accounts(
        &["audit-read"],
        [(id(SWEPT), vec![user("alice"), user("bob")]), (id(OTHER), vec![user("carol")])],
    )
}

fn deps(organization: FakeOrganization, accounts: FakeAccountAccess) -> OrgDeps {
    Deps {
        access: Access::Members { organization, accounts },
        runs: RunStore::new(FakeStore::default(), BUCKET),
        settings: Settings::from_config(&config()).unwrap(),
    }
}

fn organization_of(deps: &OrgDeps) -> &FakeOrganization {
    match &deps.access {
        Access::Members { organization, .. } => organization,
        Access::Own(_) => panic!("an organisation deployment"),
    }
}

fn accounts_of(deps: &OrgDeps) -> &FakeAccountAccess {
    match &deps.access {
        Access::Members { accounts, .. } => accounts,
        Access::Own(_) => panic!("an organisation deployment"),
    }
}

fn run(account: &str) -> Value {
    json!({"bucket": BUCKET, "execution_name": EXEC, "account_id": account})
}

fn discover_event() -> Value {
    json!({"phase": "discover", "execution_name": EXEC, "evaluated_at": now()})
}

fn account_event(account: &str) -> Value {
    json!({"phase": "account", "run": run(account), "evaluated_at": now()})
}

fn object<T: serde::de::DeserializeOwned>(deps: &OrgDeps, key: &str) -> T {
    serde_json::from_value(deps.runs.store().json(key).unwrap_or_else(|| panic!("{key} written"))).unwrap()
}

fn keys(deps: &OrgDeps) -> Vec<String> {
    deps.runs.store().objects.lock().unwrap().keys().map(|(_, key)| key.clone()).collect()
}

async fn discover(deps: &OrgDeps) -> DiscoverOutput {
    match handle(deps, now(), discover_event()).await.unwrap() {
        Output::Discovered(out) => out,
        other => panic!("not a discovery: {other:?}"),
    }
}

async fn sweep(deps: &OrgDeps, account: &str) -> Result<ListUsersOutput, ListUsersError> {
    handle(deps, now(), account_event(account)).await.map(|out| match out {
        Output::Listed(listed) => listed,
        other => panic!("not a listing: {other:?}"),
    })
}

#[tokio::test]
async fn discovery_writes_the_selected_accounts_in_order_and_every_other_with_why() {
    // GIVEN an organisation of four accounts, one under an excluded OU and one suspended, and an
    // ORG_EXCLUDE entry naming an account outside the organisation
    let deps = deps(organization(), members());

    // WHEN discovery runs
    let out = discover(&deps).await;

    // THEN accounts.json holds the two swept accounts, by account id, each the run's part for it
    let items: Vec<AccountItem> = object(&deps, &format!("runs/{EXEC}/accounts.json"));
    let whole = out.run.clone();
    assert_eq!(
        items,
        vec![
            AccountItem { run: whole.in_account(id(SWEPT)), account_name: format!("name-{SWEPT}") },
            AccountItem { run: whole.in_account(id(OTHER)), account_name: format!("name-{OTHER}") },
        ]
    );
    // AND discovery.json says why the others are not swept, which filter entry matched nothing,
    // and what Organizations was asked
    let discovery: Discovery = object(&deps, &format!("runs/{EXEC}/discovery.json"));
    let swept: Vec<&str> = discovery.selection.swept.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(swept, [SWEPT, OTHER]);
    let not_swept: Vec<(&str, &NotSwept)> =
        discovery.selection.not_swept.iter().map(|u| (u.account.id.as_str(), &u.why)).collect();
    assert_eq!(
        not_swept,
        [
            (EXCLUDED, &NotSwept::Excluded { by: FilterEntry::Ou(OuId::parse("ou-ab12-sandbox1").unwrap()) }),
            (SUSPENDED, &NotSwept::NotActive { state: AccountState::Suspended }),
        ]
    );
    assert_eq!(
        discovery.selection.unmatched,
        vec![UnmatchedEntry { variable: "ORG_EXCLUDE".into(), entry: FilterEntry::Account(id("999999999999")) }]
    );
    assert_eq!(discovery.api_calls, BTreeMap::from([("organizations:ListAccounts".to_owned(), 1)]));
    // AND the output points the Map at the accounts, with the counts
    assert_eq!(out.run.account_id, None);
    assert_eq!(out.accounts_key, format!("runs/{EXEC}/accounts.json"));
    assert_eq!((out.accounts_discovered, out.accounts_selected, out.has_accounts), (4, 2, true));
    // AND no account was entered
    assert!(accounts_of(&deps).sessions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_organisation_with_nothing_selected_has_no_accounts_and_an_empty_array() {
    let deps = deps(FakeOrganization::with_accounts([org_account(SUSPENDED, AccountState::Suspended, &[])]), members());
    let out = discover(&deps).await;
    assert_eq!((out.accounts_discovered, out.accounts_selected, out.has_accounts), (1, 0, false));
    assert_eq!(deps.runs.store().json(&out.accounts_key), Some(json!([])));
}

#[tokio::test]
async fn organizations_refusing_to_list_the_accounts_fails_the_run_naming_the_fix() {
    // GIVEN a deployment in an account Organizations does not let read the organisation
    let organization = organization();
    *organization.failure.lock().unwrap() = Some(PortError::OrganizationsDenied {
        operation: "ListAccounts",
        message: "AccessDeniedException: You don't have permissions to access this resource.".into(),
    });
    let deps = deps(organization, members());

    // WHEN discovery runs
    let err = handle(&deps, now(), discover_event()).await.unwrap_err();

    // THEN the run fails by name, the message says where keyward must run from, nothing is written
    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
    let message = err.to_string();
    assert!(message.contains("management account") && message.contains("delegated administrator"), "{message}");
    assert!(keys(&deps).is_empty());
}

#[tokio::test]
async fn an_account_scope_event_is_refused_in_organisation_scope_before_any_call() {
    // GIVEN list-users deployed in organisation scope
    let deps = deps(organization(), members());

    // WHEN it is asked to sweep "its own" account, as an account-scope run would
    let event = json!({"execution_name": EXEC, "evaluated_at": now()});
    let err = handle(&deps, now(), event).await.unwrap_err();

    // THEN it refuses by name: no Organizations call, no session, nothing written
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert!(err.to_string().contains("KEYWARD_SCOPE=organization"), "{err}");
    assert!(organization_of(&deps).api_calls().is_empty());
    assert!(accounts_of(&deps).sessions.lock().unwrap().is_empty());
    assert!(keys(&deps).is_empty());
}

#[tokio::test]
async fn an_account_is_swept_through_its_read_session_under_its_own_prefix() {
    // GIVEN a discovered run
    let deps = deps(organization(), members());
    discover(&deps).await;
    let before = keys(&deps);
    // (the session's IAM was used before: only this invocation's calls count)
    accounts_of(&deps).iam(&id(SWEPT)).unwrap().list_users().await.unwrap();

    // WHEN the account step sweeps SWEPT
    let out = sweep(&deps, SWEPT).await.unwrap();

    // THEN one read session was opened in it: MEMBER_READ_ROLE, named after the function and run,
    // without a source identity
    assert_eq!(
        *accounts_of(&deps).sessions.lock().unwrap(),
        vec![AccountSession {
            account: id(SWEPT),
            role: "audit-read".into(),
            name: SessionName::new("list-users", EXEC),
            source_identity: None,
        }]
    );
    // AND its users were listed through it, and land under the account's prefix
    let prefix = format!("runs/{EXEC}/accounts/{SWEPT}/");
    let listing: Listing = object(&deps, &format!("{prefix}listing.json"));
    assert_eq!(listing.account_id, Some(id(SWEPT)));
    assert_eq!(listing.users_listed, 2);
    assert_eq!(listing.candidates.iter().map(|c| c.user.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(listing.api_calls, BTreeMap::from([("iam:ListUsers".to_owned(), 1)]));
    let written: Vec<String> = keys(&deps).into_iter().filter(|k| !before.contains(k)).collect();
    assert_eq!(written, [format!("{prefix}batches.json"), format!("{prefix}listing.json")]);
    // AND the output's run names the account, for the account's Map over batches
    assert_eq!(out.run.account_id, Some(id(SWEPT)));
    assert_eq!(out.batches_key, format!("{prefix}batches.json"));
    assert_eq!((out.users_listed, out.candidates, out.has_candidates), (2, 2, true));
    // AND the other account was not touched
    assert!(accounts_of(&deps).iam(&id(OTHER)).unwrap().api_calls().is_empty());
}

#[tokio::test]
async fn an_account_the_run_does_not_sweep_is_refused_before_any_session() {
    // GIVEN a discovered run, in which EXCLUDED is not swept and 999999999999 is not in the organisation
    let deps = deps(organization(), members());
    discover(&deps).await;
    let before = keys(&deps);

    for account in [EXCLUDED, "999999999999"] {
        // WHEN an account step names it
        let err = sweep(&deps, account).await.unwrap_err();

        // THEN it is refused by name, naming the account and the run's accounts
        assert_eq!(err.error_name(), errors::INVALID_INPUT, "{account}");
        let message = err.to_string();
        assert!(message.contains(account) && message.contains("accounts.json"), "{message}");
    }
    // AND no session was opened, nothing was written
    assert!(accounts_of(&deps).sessions.lock().unwrap().is_empty());
    assert_eq!(keys(&deps), before);
    // AND a run part in another execution is not this run's either
    let elsewhere = json!({"phase": "account", "evaluated_at": now(),
        "run": {"bucket": BUCKET, "execution_name": "another-run", "account_id": SWEPT}});
    let err = handle(&deps, now(), elsewhere).await.unwrap_err();
    assert_eq!(err.error_name(), errors::RUN_STATE_INVALID, "another-run has no accounts.json: {err}");
    assert!(accounts_of(&deps).sessions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_read_session_fails_the_account_as_member_role_refused() {
    // GIVEN a discovered run, and OTHER without keyward's read role
    let accounts = members();
    accounts.accounts.lock().unwrap().remove(&id(OTHER));
    let deps = deps(organization(), accounts);
    discover(&deps).await;
    let before = keys(&deps);

    // WHEN OTHER's account step runs
    let err = sweep(&deps, OTHER).await.unwrap_err();

    // THEN it fails by the name the Map's catch records, naming the account, the role and the fix
    assert_eq!(err.error_name(), errors::MEMBER_ROLE_REFUSED);
    let message = err.to_string();
    assert!(message.contains(OTHER) && message.contains("audit-read") && message.contains("StackSet"), "{message}");
    assert_eq!(keys(&deps), before, "nothing written");
}

#[tokio::test]
async fn a_failed_account_is_recorded_with_the_reason_and_the_fix() {
    // GIVEN a discovered run whose Map caught OTHER's sweep failing on its read role
    let deps = deps(organization(), members());
    discover(&deps).await;
    let cause = json!({"errorType": "MemberRoleRefused", "errorMessage": "cannot assume role audit-read"}).to_string();
    let event = json!({"phase": "account-failed", "run": run(OTHER), "error": "MemberRoleRefused", "cause": cause});

    // WHEN the failure is recorded
    let Output::Recorded(out) = handle(&deps, now(), event).await.unwrap() else { panic!("not a record") };

    // THEN the account's failure.json says what failed and what to do, without opening a session
    let failure: AccountFailure = object(&deps, &format!("runs/{EXEC}/accounts/{OTHER}/failure.json"));
    assert_eq!(failure, AccountFailure::new(id(OTHER), "MemberRoleRefused", &cause, "audit-read"));
    assert_eq!(failure.reason, "cannot assume role audit-read");
    assert!(failure.fix.contains("audit-read") && failure.fix.contains(OTHER), "{}", failure.fix);
    assert_eq!((out.account_id, out.recorded, out.run.account_id), (id(OTHER), true, Some(id(OTHER))));
    assert!(accounts_of(&deps).sessions.lock().unwrap().is_empty());

    // AND a failure of an account the run does not sweep is refused, writing nothing
    let before = keys(&deps);
    let stray = json!({"phase": "account-failed", "run": run(EXCLUDED), "error": "States.Timeout"});
    let err = handle(&deps, now(), stray).await.unwrap_err();
    assert_eq!(err.error_name(), errors::INVALID_INPUT);
    assert_eq!(keys(&deps), before);
}

#[tokio::test]
async fn every_organisation_sample_event_is_handled_in_organisation_scope() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/list-users");
    let mut handled = Vec::new();
    for name in ["discover.json", "account.json", "account-failed.json"] {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let deps = deps(organization(), members());
        if name != "discover.json" {
            discover(&deps).await;
        }
        let out = handle(&deps, now(), event).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        match (name, out) {
            ("discover.json", Output::Discovered(out)) => assert_eq!(out.accounts_selected, 2),
            ("account.json", Output::Listed(out)) => assert_eq!(out.run.account_id, Some(id(SWEPT))),
            ("account-failed.json", Output::Recorded(out)) => {
                let failure: AccountFailure = object(&deps, &format!("runs/{EXEC}/accounts/{SWEPT}/failure.json"));
                assert_eq!(failure.error, "MemberRoleRefused");
                assert!(failure.reason.starts_with("cannot assume role keyward-read"), "{failure:?}");
                assert!(out.recorded);
            }
            (name, out) => panic!("{name}: {out:?}"),
        }
        handled.push(name);
    }
    assert_eq!(handled.len(), 3);
}
