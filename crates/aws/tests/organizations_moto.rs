//! An organisation against a real moto server (`.venv/bin/moto_server`): OrganizationsAdapter
//! discovers the accounts with their states and OUs, `select` picks the ones to sweep, and
//! MemberAccounts opens a session in a member account whose IamAdapter lists that account's users,
//! not the management account's (moto acts in the account whose role was assumed). A missing moto
//! fails these tests; it never skips them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::types::OrganizationFeatureSet;
use keyward_aws::iam::IamAdapter;
use keyward_aws::organizations::OrganizationsAdapter;
use keyward_aws::sts::MemberAccounts;
use keyward_aws::testing::MotoServer;
use keyward_core::identity::SessionName;
use keyward_core::org::{AccountFilter, AccountId, AccountState, NotSwept, OuId, select};
use keyward_core::ports::{AccountAccess, AccountSession, Iam, Organization};

/// moto's default account, which creates the organisation: its management account.
const MANAGEMENT: &str = "123456789012";
/// keyward-read's trust as the member template writes it, less the organisation condition.
const READ_ROLE_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

async fn create_account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    let status = org
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap();
    status.account_id.expect("moto creates the account at once")
}

async fn create_ou(org: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    let ou = org.create_organizational_unit().parent_id(parent).name(name).send().await.unwrap();
    ou.organizational_unit.unwrap().id.unwrap()
}

async fn move_account(org: &aws_sdk_organizations::Client, account: &str, from: &str, to: &str) {
    org.move_account().account_id(account).source_parent_id(from).destination_parent_id(to).send().await.unwrap();
}

/// IAM in `account` as an administrator there: through OrganizationAccountAccessRole, which
/// Organizations creates in every account it creates (and moto does too).
async fn admin_iam(sdk: &SdkConfig, account: &str) -> aws_sdk_iam::Client {
    let assumed = aws_sdk_sts::Client::new(sdk)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"))
        .role_session_name("seed")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials.unwrap();
    let credentials = aws_sdk_iam::config::Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        None,
        "seed",
    );
    let admin = sdk.to_builder().credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(credentials));
    aws_sdk_iam::Client::new(&admin.build())
}

/// A new member account `name` with keyward-read, as the StackSet would deploy it, and one user,
/// `<name>-user`.
async fn member_with_read_role(org: &aws_sdk_organizations::Client, sdk: &SdkConfig, name: &str) -> String {
    let account = create_account(org, name).await;
    let admin = admin_iam(sdk, &account).await;
    admin.create_role().role_name("keyward-read").assume_role_policy_document(READ_ROLE_TRUST).send().await.unwrap();
    admin.create_user().user_name(format!("{name}-user")).send().await.unwrap();
    account
}

fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisation_is_discovered_with_states_and_ous_and_selected() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let org = aws_sdk_organizations::Client::new(&sdk);
    org.create_organization().feature_set(OrganizationFeatureSet::All).send().await.unwrap();
    let root = org.list_roots().send().await.unwrap().roots.unwrap()[0].id.clone().unwrap();
    let prod = create_ou(&org, &root, "prod").await;
    let team = create_ou(&org, &prod, "team").await;
    let alpha = create_account(&org, "alpha").await;
    let beta = create_account(&org, "beta").await;
    let gamma = create_account(&org, "gamma").await;
    let delta = create_account(&org, "delta").await;
    move_account(&org, &alpha, &root, &prod).await;
    move_account(&org, &beta, &root, &team).await;
    move_account(&org, &delta, &root, &team).await;
    org.close_account().account_id(&delta).send().await.unwrap();

    let adapter = OrganizationsAdapter::new(&sdk);
    let accounts = adapter.accounts().await.unwrap();

    let found: BTreeMap<String, (String, AccountState, Vec<String>)> = accounts
        .iter()
        .map(|a| {
            let ous = a.ous.iter().map(|ou| ou.as_str().to_owned()).collect();
            (a.id.as_str().to_owned(), (a.name.clone(), a.state.clone(), ous))
        })
        .collect();
    let expected = BTreeMap::from([
        (MANAGEMENT.to_owned(), ("master".to_owned(), AccountState::Active, vec![])),
        (alpha.clone(), ("alpha".to_owned(), AccountState::Active, vec![prod.clone()])),
        (beta.clone(), ("beta".to_owned(), AccountState::Active, vec![team.clone(), prod.clone()])),
        (gamma.clone(), ("gamma".to_owned(), AccountState::Active, vec![])),
        (delta.clone(), ("delta".to_owned(), AccountState::Suspended, vec![team.clone(), prod.clone()])),
    ]);
    assert_eq!(found, expected);
    // One ListAccounts page; the walk: ListRoots, and two ListChildren for the root and each OU.
    let calls = adapter.api_calls();
    assert_eq!(
        calls,
        BTreeMap::from([
            ("organizations:ListAccounts".to_owned(), 1),
            ("organizations:ListChildren".to_owned(), 6),
            ("organizations:ListRoots".to_owned(), 1),
        ])
    );

    // ORG_INCLUDE the prod OU, ORG_EXCLUDE beta: alpha is swept; delta, under prod, is suspended.
    let include = AccountFilter::parse("ORG_INCLUDE", Some(prod.clone())).unwrap();
    let exclude = AccountFilter::parse("ORG_EXCLUDE", Some(beta.clone())).unwrap();
    let selection = select(accounts, &include, &exclude);
    let swept: Vec<&str> = selection.swept.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(swept, [alpha.as_str()]);
    let why: BTreeMap<&str, &NotSwept> = selection.not_swept.iter().map(|u| (u.account.id.as_str(), &u.why)).collect();
    assert_eq!(
        why,
        BTreeMap::from([
            (MANAGEMENT, &NotSwept::NotIncluded),
            (beta.as_str(), &NotSwept::Excluded { by: keyward_core::org::FilterEntry::Account(id(&beta)) }),
            (gamma.as_str(), &NotSwept::NotIncluded),
            (delta.as_str(), &NotSwept::NotActive { state: AccountState::Suspended }),
        ])
    );
    assert!(selection.unmatched.is_empty());
    assert!(OuId::parse(&prod).is_some(), "moto's OU ids follow the API's pattern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_a_member_account_reads_that_accounts_iam_only() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let org = aws_sdk_organizations::Client::new(&sdk);
    org.create_organization().feature_set(OrganizationFeatureSet::All).send().await.unwrap();
    // The member account holds keyward-read (as the StackSet would deploy it) and one user; the
    // management account a user of its own, which the session must not see.
    let member = member_with_read_role(&org, &sdk, "member").await;
    aws_sdk_iam::Client::new(&sdk).create_user().user_name("management-user").send().await.unwrap();

    let access = MemberAccounts::new(&sdk, 50.0);
    let session = AccountSession {
        account: id(&member),
        role: "keyward-read".to_owned(),
        name: SessionName::new("list-users", "keyward-2026-12-01T06-00"),
        // A read session: keyward-read's trust does not allow sts:SetSourceIdentity.
        source_identity: None,
    };
    assert_eq!(access.role_arn(&session), format!("arn:aws:iam::{member}:role/keyward-read"));
    let iam: IamAdapter = access.iam_in(&session).await.unwrap();

    let users: Vec<String> = iam.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(users, ["member-user"]);
    assert_eq!(iam.api_calls(), BTreeMap::from([("iam:ListUsers".to_owned(), 1)]), "its own counts");
    assert_eq!(access.api_calls(), BTreeMap::from([("sts:AssumeRole".to_owned(), 1)]));

    // A second session (another step) is another AssumeRole, with an adapter of its own.
    let again = access.iam_in(&session).await.unwrap();
    assert!(again.api_calls().is_empty());
    assert_eq!(access.api_calls(), BTreeMap::from([("sts:AssumeRole".to_owned(), 2)]));

    // A session in another member account reads that account, not the one opened before it (the
    // credentials of one session never serve another).
    let other = member_with_read_role(&org, &sdk, "other").await;
    let other_iam = access.iam_in(&AccountSession { account: id(&other), ..session.clone() }).await.unwrap();
    let users: Vec<String> = other_iam.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(users, ["other-user"]);
    let users: Vec<String> = iam.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(users, ["member-user"], "the first session still reads its own account");

    // Plain moto does not refuse AssumeRole into a role that is missing or does not trust the
    // caller, so the refusal (PortError::MemberRoleRefused) is proven against aws-smithy-mocks in
    // sts_mocks.rs, and against the strict emulator of the local stack by the organisation e2e
    // test ("a member without the role: the other accounts proceed, the coverage section names
    // it"), which the sweep across accounts brings.
}
