//! The organisation ports' fakes as next session's handlers will drive them: discover, select,
//! open a session in each swept account; an account without keyward's role is refused by name
//! and the others are read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use keyward_core::decision::Approver;
use keyward_core::errors::{self, NamedError};
use keyward_core::fakes::{FakeAccountAccess, FakeOrganization};
use keyward_core::fixtures::{key, user, with_keys};
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::org::{AccountFilter, AccountId, AccountState, OrgAccount, select};
use keyward_core::ports::{AccountAccess, AccountSession, Iam, Organization, PortError};

/// The fakes never wait: their futures are ready when first polled (keyward-core has no runtime).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a fake port waited"),
    }
}

fn account(id: &str) -> OrgAccount {
    OrgAccount { id: AccountId::parse(id).unwrap(), name: format!("n{id}"), state: AccountState::Active, ous: vec![] }
}

fn session(account: &AccountId) -> AccountSession {
    AccountSession {
        account: account.clone(),
        role: "keyward-read".into(),
        name: SessionName::new("list-users", "exec-1"),
        source_identity: None,
    }
}

#[test]
fn each_swept_account_is_read_through_its_own_session_and_a_missing_role_is_refused() {
    let with_role = AccountId::parse("111111111111").unwrap();
    let without_role = AccountId::parse("222222222222").unwrap();
    let organization = FakeOrganization::with_accounts([account("111111111111"), account("222222222222")]);
    let access = FakeAccountAccess::with_accounts(
        &["keyward-read"],
        [(with_role.clone(), vec![with_keys(user("alice"), vec![key("AKIA1", 100, None)])])],
    );

    let discovered = ready(organization.accounts()).unwrap();
    let selection = select(discovered, &AccountFilter::none("ORG_INCLUDE"), &AccountFilter::none("ORG_EXCLUDE"));
    assert_eq!(selection.swept.len(), 2);

    let iam = ready(access.iam_in(&session(&with_role))).unwrap();
    let users: Vec<String> = ready(iam.list_users()).unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(users, ["alice"]);
    assert_eq!(iam.api_calls().get("iam:ListUsers"), Some(&1));

    let Err(err) = ready(access.iam_in(&session(&without_role))) else { panic!("the session was opened") };
    assert!(matches!(&err, PortError::MemberRoleRefused { account, .. } if *account == without_role), "{err:?}");
    assert_eq!(err.error_name(), errors::MEMBER_ROLE_REFUSED);
    assert!(err.to_string().contains("account 222222222222"), "{err}");
    assert_eq!(access.sessions.lock().unwrap().len(), 2, "both sessions were asked for");
}

#[test]
fn the_write_role_needs_a_source_identity_and_the_read_role_takes_none() {
    let member = AccountId::parse("111111111111").unwrap();
    let access = FakeAccountAccess::with_accounts(&["keyward-read", "keyward-deactivate"], [(member.clone(), vec![])]);
    *access.write_roles.lock().unwrap() = vec!["keyward-deactivate".into()];
    let approved = Some(SourceIdentity::of(&Approver::Automatic));
    let write =
        |source_identity| AccountSession { role: "keyward-deactivate".into(), source_identity, ..session(&member) };
    let read = |source_identity| AccountSession { source_identity, ..session(&member) };

    assert!(ready(access.iam_in(&write(approved.clone()))).is_ok());
    assert!(ready(access.iam_in(&read(None))).is_ok());
    assert!(matches!(ready(access.iam_in(&write(None))), Err(PortError::MemberRoleRefused { .. })));
    assert!(matches!(ready(access.iam_in(&read(approved))), Err(PortError::MemberRoleRefused { .. })));
}
