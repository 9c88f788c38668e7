//! OrganizationsAdapter against aws-smithy-mocks: every page read (an empty page with a token is
//! not the end), a repeated token an error, `State` read and the retired `Status` never, an
//! account the walk did not meet placed with ListParents, and access denied naming what is
//! missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use aws_sdk_organizations::Client;
use aws_sdk_organizations::error::ErrorMetadata;
use aws_sdk_organizations::operation::list_accounts::{ListAccountsError, ListAccountsOutput};
use aws_sdk_organizations::operation::list_children::ListChildrenOutput;
use aws_sdk_organizations::operation::list_parents::ListParentsOutput;
use aws_sdk_organizations::operation::list_roots::ListRootsOutput;
use aws_sdk_organizations::types::error::AccessDeniedException;
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, Child, ChildType, Parent, ParentType, Root};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use keyward_aws::organizations::OrganizationsAdapter;
use keyward_core::errors::{self, NamedError};
use keyward_core::org::{self, OrgAccount};
use keyward_core::ports::{Organization, PortError};

const ROOT: &str = "r-ab12";
const PROD: &str = "ou-ab12-prod0001";
const TEAM: &str = "ou-ab12-team0001";

fn adapter(rules: &[&Rule]) -> OrganizationsAdapter {
    OrganizationsAdapter::from_client(mock_client!(aws_sdk_organizations, RuleMode::MatchAny, rules))
}

fn account(id: &str, state: Option<AccountState>) -> Account {
    // `Status` says ACTIVE throughout: it is retired, and must not decide anything.
    Account::builder().id(id).name(format!("name-{id}")).status(AccountStatus::Active).set_state(state).build()
}

fn accounts_page(ids: &[&str], next: Option<&str>) -> ListAccountsOutput {
    let accounts = ids.iter().map(|id| account(id, Some(AccountState::Active))).collect();
    ListAccountsOutput::builder().set_accounts(Some(accounts)).set_next_token(next.map(str::to_owned)).build()
}

fn children(ids: &[&str]) -> ListChildrenOutput {
    ListChildrenOutput::builder()
        .set_children(Some(ids.iter().map(|id| Child::builder().id(*id).build()).collect()))
        .build()
}

/// The tree ROOT → PROD → TEAM: accounts 1 under the root, 2 under PROD, 3 under TEAM.
fn tree() -> Vec<Rule> {
    let of = |parent: &'static str, kind: ChildType, ids: &'static [&'static str]| {
        mock!(Client::list_children)
            .match_requests(move |r| r.parent_id() == Some(parent) && r.child_type() == Some(&kind))
            .then_output(move || children(ids))
    };
    vec![
        mock!(Client::list_roots)
            .then_output(|| ListRootsOutput::builder().roots(Root::builder().id(ROOT).build()).build()),
        of(ROOT, ChildType::OrganizationalUnit, &[PROD]),
        of(ROOT, ChildType::Account, &["111111111111"]),
        of(PROD, ChildType::OrganizationalUnit, &[TEAM]),
        of(PROD, ChildType::Account, &["222222222222"]),
        of(TEAM, ChildType::OrganizationalUnit, &[]),
        of(TEAM, ChildType::Account, &["333333333333"]),
    ]
}

fn with_tree(first: Vec<Rule>) -> Vec<Rule> {
    first.into_iter().chain(tree()).collect()
}

fn ous(account: &OrgAccount) -> Vec<&str> {
    account.ous.iter().map(|ou| ou.as_str()).collect()
}

#[tokio::test]
async fn every_page_is_read_and_each_account_placed_under_its_ous() {
    let rules = with_tree(vec![
        mock!(Client::list_accounts)
            .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(20))
            .then_output(|| accounts_page(&["111111111111"], Some("t1"))),
        // Organizations may answer an empty page while more follow.
        mock!(Client::list_accounts)
            .match_requests(|r| r.next_token() == Some("t1"))
            .then_output(|| accounts_page(&[], Some("t2"))),
        mock!(Client::list_accounts)
            .match_requests(|r| r.next_token() == Some("t2"))
            .then_output(|| accounts_page(&["222222222222", "333333333333"], None)),
    ]);
    let adapter = adapter(&rules.iter().collect::<Vec<_>>());

    let accounts = adapter.accounts().await.unwrap();

    let placed: Vec<(&str, Vec<&str>)> = accounts.iter().map(|a| (a.id.as_str(), ous(a))).collect();
    assert_eq!(placed, [("111111111111", vec![]), ("222222222222", vec![PROD]), ("333333333333", vec![TEAM, PROD])]);
    assert!(accounts.iter().all(|a| a.state == org::AccountState::Active));
    assert_eq!(
        adapter.api_calls(),
        BTreeMap::from([
            ("organizations:ListAccounts".to_owned(), 3),
            ("organizations:ListChildren".to_owned(), 6),
            ("organizations:ListRoots".to_owned(), 1),
        ])
    );
}

#[tokio::test]
async fn a_repeated_token_is_an_error_not_the_end() {
    let rules = with_tree(vec![
        mock!(Client::list_accounts)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| accounts_page(&["111111111111"], Some("t1"))),
        mock!(Client::list_accounts)
            .match_requests(|r| r.next_token() == Some("t1"))
            .then_output(|| accounts_page(&["222222222222"], Some("t1"))),
    ]);
    let adapter = adapter(&rules.iter().collect::<Vec<_>>());

    let err = adapter.accounts().await.unwrap_err();

    assert!(
        matches!(&err, PortError::Failed { operation: "ListAccounts", message } if message.contains("repeated")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_state_decides_and_the_retired_status_is_never_read() {
    let rules = with_tree(vec![mock!(Client::list_accounts).then_output(|| {
        ListAccountsOutput::builder()
            .accounts(account("111111111111", Some(AccountState::Suspended)))
            .accounts(account("222222222222", None))
            .build()
    })]);
    let adapter = adapter(&rules.iter().collect::<Vec<_>>());

    let accounts = adapter.accounts().await.unwrap();

    let states: Vec<&str> = accounts.iter().map(|a| a.state.as_str()).collect();
    assert_eq!(states, ["SUSPENDED", "UNKNOWN"], "Status says ACTIVE for both");
    let selection =
        org::select(accounts, &org::AccountFilter::none("ORG_INCLUDE"), &org::AccountFilter::none("ORG_EXCLUDE"));
    assert!(selection.swept.is_empty());
    assert_eq!(selection.not_swept.len(), 2);
}

#[tokio::test]
async fn an_account_the_walk_did_not_meet_is_placed_with_list_parents() {
    // 444444444444 was moved into TEAM after the walk passed it: ListParents finds TEAM, whose
    // own chain the walk knows.
    let rules = with_tree(vec![
        mock!(Client::list_accounts).then_output(|| accounts_page(&["111111111111", "444444444444"], None)),
        mock!(Client::list_parents).match_requests(|r| r.child_id() == Some("444444444444")).then_output(|| {
            ListParentsOutput::builder()
                .parents(Parent::builder().id(TEAM).r#type(ParentType::OrganizationalUnit).build())
                .build()
        }),
    ]);
    let adapter = adapter(&rules.iter().collect::<Vec<_>>());

    let accounts = adapter.accounts().await.unwrap();

    let moved = accounts.iter().find(|a| a.id.as_str() == "444444444444").unwrap();
    assert_eq!(ous(moved), [TEAM, PROD]);
    assert_eq!(adapter.api_calls().get("organizations:ListParents"), Some(&1));
}

#[tokio::test]
async fn access_denied_names_the_permissions_and_the_delegated_administrator_policy() {
    let rule = mock!(Client::list_accounts).then_error(|| {
        ListAccountsError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("You don't have permissions to access this resource.")
                .meta(
                    ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("You don't have permissions to access this resource.")
                        .build(),
                )
                .build(),
        )
    });
    let adapter = adapter(&[&rule]);

    let err = adapter.accounts().await.unwrap_err();

    assert!(matches!(err, PortError::OrganizationsDenied { operation: "ListAccounts", .. }), "{err:?}");
    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
    let text = err.to_string();
    for part in [
        "ListAccounts was denied (AccessDeniedException",
        "organizations:ListAccounts, organizations:ListRoots, organizations:ListChildren and organizations:ListParents",
        "delegated administrator policy",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}
