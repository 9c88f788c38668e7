//! MemberAccounts against aws-smithy-mocks: the AssumeRole request (role ARN in the region's
//! partition, session name, 900 s, the source identity when there is one), a refusal as
//! MemberRoleRefused naming the account, the role and the fix, throttling, and no credential in
//! what the adapter prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::Client;
use aws_sdk_sts::error::ErrorMetadata;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::types::Credentials;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;
use keyward_aws::sts::{MemberAccounts, SESSION_SECONDS};
use keyward_core::decision::Approver;
use keyward_core::errors::{self, NamedError};
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::org::AccountId;
use keyward_core::ports::{AccountAccess, AccountSession, Iam, PortError};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

fn access(rules: &[&Rule], region: &'static str) -> MemberAccounts {
    let client = mock_client!(aws_sdk_sts, RuleMode::MatchAny, rules, |c| {
        c.retry_config(
            RetryConfig::standard().with_max_attempts(3).with_initial_backoff(std::time::Duration::from_millis(1)),
        )
    });
    let sdk =
        SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::from_static(region)).build();
    MemberAccounts::from_client(client, &sdk, 10.0)
}

fn session(source_identity: Option<SourceIdentity>) -> AccountSession {
    AccountSession {
        account: AccountId::parse("111122223333").unwrap(),
        role: "keyward-deactivate".to_owned(),
        name: SessionName::new("deactivate", "keyward-2026-12-01"),
        source_identity,
    }
}

fn assumed() -> AssumeRoleOutput {
    let credentials = Credentials::builder()
        .access_key_id("ASIAEXAMPLESESSION01")
        .secret_access_key(SECRET)
        .session_token(TOKEN)
        .expiration(aws_smithy_types::DateTime::from_secs(1_900_000_000))
        .build()
        .unwrap();
    AssumeRoleOutput::builder().credentials(credentials).build()
}

#[tokio::test(start_paused = true)]
async fn the_session_names_the_role_the_run_and_the_approver_for_fifteen_minutes() {
    let rule = mock!(Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some("arn:aws:iam::111122223333:role/keyward-deactivate")
                && r.role_session_name() == Some("deactivate.keyward-2026-12-01")
                && r.duration_seconds() == Some(900)
                && r.source_identity() == Some("alice@example.com")
        })
        .then_output(assumed);
    let access = access(&[&rule], "eu-west-1");
    let approver = Approver::Oidc {
        issuer: "https://idp.example.com".into(),
        subject: "00u1".into(),
        email: Some("Alice@Example.com".into()),
        source_ip: None,
        user_agent: None,
    };

    let iam = access.iam_in(&session(Some(SourceIdentity::of(&approver)))).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(SESSION_SECONDS, 900);
    assert!(iam.api_calls().is_empty(), "a fresh adapter with counts of its own");
    let printed = format!("{iam:?} {access:?}");
    assert!(!printed.contains(SECRET) && !printed.contains(TOKEN), "a credential was printed: {printed}");
}

#[tokio::test(start_paused = true)]
async fn a_read_session_carries_no_source_identity_and_the_arn_follows_the_partition() {
    let rule = mock!(Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some("arn:aws-us-gov:iam::111122223333:role/keyward-deactivate")
                && r.source_identity().is_none()
        })
        .then_output(assumed);
    let access = access(&[&rule], "us-gov-west-1");

    access.iam_in(&session(None)).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_names_the_account_the_role_and_the_fix() {
    let rule = mock!(Client::assume_role).then_error(|| {
        AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("User: arn:aws:sts::999988887777:assumed-role/keyward-deactivate-fn/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/keyward-deactivate")
                .build(),
        )
    });
    let access = access(&[&rule], "us-east-1");

    let err = access.iam_in(&session(None)).await.unwrap_err();

    assert!(
        matches!(&err, PortError::MemberRoleRefused { account, role, .. }
        if account.as_str() == "111122223333" && role == "keyward-deactivate"),
        "{err:?}"
    );
    assert_eq!(err.error_name(), errors::MEMBER_ROLE_REFUSED);
    let text = err.to_string();
    for part in [
        "account 111122223333",
        "role keyward-deactivate missing or not trusting this function",
        "the StackSet of member/keyward-member.yaml does not cover account 111122223333",
        "AccessDenied",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    assert_eq!(access.api_calls().get("sts:AssumeRole"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn throttling_past_every_retry_is_throttled_not_refused() {
    let rule = mock!(Client::assume_role)
        .sequence()
        .error(|| {
            AssumeRoleError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build())
        })
        .times(3)
        .build();
    let access = access(&[&rule], "us-east-1");

    let err = access.iam_in(&session(None)).await.unwrap_err();

    assert_eq!(err, PortError::AwsThrottled { operation: "AssumeRole" });
}

#[tokio::test(start_paused = true)]
async fn an_answer_without_credentials_is_an_error() {
    let rule = mock!(Client::assume_role).then_output(|| AssumeRoleOutput::builder().build());
    let access = access(&[&rule], "us-east-1");

    let err = access.iam_in(&session(None)).await.unwrap_err();

    assert!(matches!(&err, PortError::Failed { operation: "AssumeRole", message } if message.contains("Credentials")));
}
