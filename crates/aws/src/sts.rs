//! Sessions in member accounts: [`MemberAccounts`] implements `keyward_core::ports::AccountAccess`
//! with STS AssumeRole into `arn:<partition>:iam::<account>:role/<name>`, one session per account
//! and step, and hands back an [`IamAdapter`] over that session's credentials with a rate limiter
//! and counts of its own (IAM's rate is per account).
//!
//! aws-sdk-sts is called directly: aws-config's `AssumeRoleProvider` cannot set `SourceIdentity`,
//! which the write role requires so that the member account's CloudTrail names the approver. The
//! credentials are static for the adapter built over them, and need not be refreshed: see
//! [`SESSION_SECONDS`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_iam::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sts::Client;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use keyward_core::ports::{AccountAccess, AccountSession, PortError};

use crate::error::{describe, sdk_error};
use crate::iam::IamAdapter;

/// How long a session lasts: STS's minimum, 15 minutes, which is also the longest a Lambda
/// function runs (keyward's longest timeouts, check-user's and deactivate's, are 900 s). A session
/// opened when an invocation starts an account's work therefore outlives the invocation, and one
/// that lasted longer would only outlive the function that asked for it. Deactivation, hours after
/// the screening, opens a fresh session of the write role.
pub const SESSION_SECONDS: i32 = 900;

const ASSUME_ROLE: &str = "AssumeRole";

/// STS AssumeRole into keyward's roles in member accounts. Clones share the counts.
#[derive(Debug, Clone)]
pub struct MemberAccounts {
    sts: Client,
    /// The configuration each member account's IAM client is built from, with the session's
    /// credentials instead of the function's own.
    sdk: SdkConfig,
    partition: &'static str,
    iam_rps: f64,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl MemberAccounts {
    /// Sessions opened with the function's own credentials in `sdk`; each member account's IAM
    /// sends at most `iam_rps` requests per second (its own budget: IAM's rate is per account).
    /// The partition of the role ARNs is the one of `sdk`'s region.
    pub fn new(sdk: &SdkConfig, iam_rps: f64) -> MemberAccounts {
        MemberAccounts::from_client(Client::new(sdk), sdk, iam_rps)
    }

    /// Over an existing STS client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(sts: Client, sdk: &SdkConfig, iam_rps: f64) -> MemberAccounts {
        let partition = partition_of(sdk.region().map_or("", |r| r.as_ref()));
        MemberAccounts { sts, sdk: sdk.clone(), partition, iam_rps, calls: Arc::new(Mutex::new(BTreeMap::new())) }
    }

    /// The ARN of `role` in `account`.
    pub fn role_arn(&self, session: &AccountSession) -> String {
        format!("arn:{}:iam::{}:role/{}", self.partition, session.account, session.role)
    }

    /// Sessions asked for so far (`sts:AssumeRole`), refused ones too.
    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl AccountAccess for MemberAccounts {
    type Iam = IamAdapter;

    async fn iam_in(&self, session: &AccountSession) -> Result<IamAdapter, PortError> {
        {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            *calls.entry(format!("sts:{ASSUME_ROLE}")).or_default() += 1;
        }
        let output = self
            .sts
            .assume_role()
            .role_arn(self.role_arn(session))
            .role_session_name(session.name.as_str())
            .duration_seconds(SESSION_SECONDS)
            .set_source_identity(session.source_identity.as_ref().map(|s| s.as_str().to_owned()))
            .send()
            .await
            .map_err(|err| refusal(session, &err))?;
        let Some(credentials) = output.credentials else {
            return Err(PortError::Failed {
                operation: ASSUME_ROLE,
                message: "the response has no Credentials".into(),
            });
        };
        let expiry = SystemTime::try_from(credentials.expiration).map_err(|_| PortError::Failed {
            operation: ASSUME_ROLE,
            message: "the credentials' Expiration is out of range".into(),
        })?;
        let credentials = Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            Some(expiry),
            "keyward-member-session",
        );
        let sdk = self.sdk.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        tracing::info!(
            account = %session.account,
            role = %session.role,
            session = %session.name,
            source_identity = session.source_identity.as_ref().map(|s| s.as_str()),
            "opened a session in a member account"
        );
        Ok(IamAdapter::new(&sdk, self.iam_rps))
    }
}

/// A failed AssumeRole as a [`PortError`]: access denied is [`PortError::MemberRoleRefused`] (the
/// role is missing or does not trust this function: STS does not say which, and neither can
/// keyward); throttling and the rest as every adapter maps them. STS's message names ARNs, never a
/// credential.
fn refusal(session: &AccountSession, err: &SdkError<AssumeRoleError>) -> PortError {
    match err.code() {
        Some("AccessDenied" | "AccessDeniedException") => PortError::MemberRoleRefused {
            account: session.account.clone(),
            role: session.role.clone(),
            message: describe(err),
        },
        _ => sdk_error(ASSUME_ROLE, err),
    }
}

/// The partition of a region's ARNs (`aws`, `aws-cn`, `aws-us-gov`, the isolated ones), by the
/// region's prefix; `aws` for any other region.
fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_follows_the_region() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("", "aws"),
        ] {
            assert_eq!(partition_of(region), partition, "{region}");
        }
    }
}
