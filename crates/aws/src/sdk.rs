//! The one `SdkConfig` every keyward function builds its AWS clients from: region from the
//! environment, `AWS_ENDPOINT_URL` honoured by aws-config itself (the local stack), adaptive retries
//! and bounded timeouts; the approval function's calls have a shorter bound of their own
//! ([`approval_sdk_config`]).

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use keyward_core::config::budget;

/// The region used when the environment names none.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Attempts per SDK call, the first one included (adaptive retry mode).
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest pause between two attempts. The SDK's default (20 s) lets the exponential, jittered
/// backoff of 10 throttled attempts run past [`OPERATION_TIMEOUT`], and a call cut by that timeout
/// fails as a timeout, not as throttled: a throttling storm would then read as `AwsCallFailed`,
/// which the state machine does not retry, instead of `IamThrottled`, which it does. With 5 s, the
/// nine pauses take at most 1 + 2 + 4 + 7 × 5 = 42 s, and adaptive mode's own client-side rate
/// limiting stays within what is left of the minute.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Bound on one SDK call, every retry included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on one attempt of an SDK call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads the AWS configuration: credentials and region from the environment (region defaults to
/// `us-east-1`), `AWS_ENDPOINT_URL` if set, adaptive retry mode with up to 10 attempts at most 5 s
/// apart, a 60 s operation timeout and a 20 s attempt timeout.
pub async fn sdk_config() -> SdkConfig {
    load(retry_config(), timeout_config()).await
}

async fn load(retry: RetryConfig, timeouts: TimeoutConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(RegionProviderChain::default_provider().or_else(Region::from_static(DEFAULT_REGION)))
        .retry_config(retry)
        .timeout_config(timeouts)
        .load()
        .await
}

/// The access key id of the credentials `sdk` signs with, from its credentials provider (in Lambda
/// the environment the runtime sets: no API call); `None` when it has no provider or gives none.
/// Deactivate never deactivates this key.
pub async fn own_access_key_id(sdk: &SdkConfig) -> Option<String> {
    use aws_sdk_iam::config::ProvideCredentials;
    let credentials = sdk.credentials_provider()?.provide_credentials().await.ok()?;
    Some(credentials.access_key_id().to_owned())
}

/// [`sdk_config`] with the approval function's bounds: [`budget::APPROVAL_MAX_ATTEMPTS`] attempts
/// of at most [`budget::APPROVAL_ATTEMPT_TIMEOUT_SECONDS`] each, within
/// [`budget::APPROVAL_CALL_TIMEOUT_SECONDS`] per call, so that a request's calls all end within the
/// function's timeout (`budget::approval_request_seconds`).
pub async fn approval_sdk_config() -> SdkConfig {
    load(approval_retry_config(), approval_timeout_config()).await
}

/// The approval function's retries: standard mode (a person waits; there is no throttling storm to
/// pace), [`budget::APPROVAL_MAX_ATTEMPTS`] attempts.
pub fn approval_retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(budget::APPROVAL_MAX_ATTEMPTS).with_max_backoff(Duration::from_secs(1))
}

/// The approval function's bounds per call and per attempt.
pub fn approval_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(budget::APPROVAL_CALL_TIMEOUT_SECONDS.into()))
        .operation_attempt_timeout(Duration::from_secs(budget::APPROVAL_ATTEMPT_TIMEOUT_SECONDS.into()))
        .build()
}

/// Adaptive retries (client-side rate limiting on throttling) with [`MAX_ATTEMPTS`] attempts, at
/// most [`MAX_BACKOFF`] apart.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(MAX_BACKOFF)
}

/// [`OPERATION_TIMEOUT`] per call, [`ATTEMPT_TIMEOUT`] per attempt.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).operation_attempt_timeout(ATTEMPT_TIMEOUT).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_own_access_key_id_is_the_configured_credentials_one() {
        let credentials = aws_sdk_iam::config::Credentials::new("AKIAOWNKEY000000TEST", "secret", None, None, "test");
        let sdk = SdkConfig::builder()
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(credentials))
            .build();
        assert_eq!(own_access_key_id(&sdk).await.as_deref(), Some("AKIAOWNKEY000000TEST"));
        assert_eq!(own_access_key_id(&SdkConfig::builder().build()).await, None);
    }

    #[test]
    fn retries_are_adaptive_with_ten_attempts() {
        let retry = retry_config();
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        assert_eq!(retry.max_attempts(), 10);
        assert_eq!(retry.max_backoff(), Duration::from_secs(5));
    }

    #[test]
    fn calls_are_bounded_to_sixty_seconds_and_attempts_to_twenty() {
        let timeouts = timeout_config();
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_secs(20)));
    }

    #[test]
    fn the_approval_functions_calls_keep_to_its_budget() {
        let timeouts = approval_timeout_config();
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_secs(budget::APPROVAL_CALL_TIMEOUT_SECONDS.into()))
        );
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(budget::APPROVAL_ATTEMPT_TIMEOUT_SECONDS.into()))
        );
        assert_eq!(approval_retry_config().max_attempts(), budget::APPROVAL_MAX_ATTEMPTS);
        assert_eq!(crate::slack::TIMEOUT, Duration::from_secs(budget::SLACK_POST_TIMEOUT_SECONDS.into()));
    }
}
