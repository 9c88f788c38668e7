//! The report bucket over S3 ([`S3Store`] implements [`ObjectStore`]), and the one mapping from an
//! SDK error to [`AwsError`] that every adapter of this crate uses ([`sdk_error`]).

use std::error::Error as StdError;

use aws_config::SdkConfig;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_core::ports::{AwsError, ObjectStore};

/// Error codes AWS services use for throttling: the SDK's own list (`aws-runtime`'s
/// `THROTTLING_ERRORS`). The SDK retries these; once retries are spent the call is
/// [`AwsError::Throttled`], never an ordinary failure.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether an AWS error code means "throttled".
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// Maps an SDK error to [`AwsError`]: a throttling code becomes [`AwsError::Throttled`]; anything
/// else [`AwsError::Failed`] with the service's error code and message (or, when no response came
/// back, the failure kind and its cause chain). The request itself is never part of the message.
pub(crate) fn sdk_error<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let Some(service) = err.as_service_error() {
        if service.code().is_some_and(is_throttling_code) {
            return AwsError::Throttled { operation };
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let described = match (service.code(), service.message()) {
            (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
            (Some(code), _) => code.to_owned(),
            // A modeled error without metadata (or an unparseable body): its Display names it.
            (None, _) => service.to_string(),
        };
        let message = match status {
            Some(status) => format!("{described} (HTTP {status})"),
            None => described,
        };
        return AwsError::Failed { operation, message };
    }
    if let Some(status) = err.raw_response().map(|r| r.status().as_u16()) {
        if status == 429 {
            return AwsError::Throttled { operation };
        }
        return AwsError::Failed { operation, message: format!("unreadable response (HTTP {status})") };
    }
    AwsError::Failed { operation, message: error_chain(err) }
}

/// An error and its causes, one after the other (`dispatch failure: io error: …`).
pub(crate) fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The report bucket over S3. Objects are written as `application/json`; encryption at rest is the
/// bucket's default (the template sets it), so no per-object encryption header is sent.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    /// An S3 store over the shared SDK configuration. When the configuration points at a custom
    /// endpoint (`AWS_ENDPOINT_URL`: the local emulator), path-style addressing is used, since
    /// `<bucket>.<host>` names do not resolve there.
    pub fn new(sdk: &SdkConfig) -> S3Store {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        S3Store { client: aws_sdk_s3::Client::from_conf(config) }
    }

    /// An S3 store over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_s3::Client) -> S3Store {
        S3Store { client }
    }
}

/// Whether a GetObject error means "there is no such object".
fn is_missing(err: &SdkError<GetObjectError, HttpResponse>) -> bool {
    match err.as_service_error() {
        Some(GetObjectError::NoSuchKey(_)) => true,
        Some(other) => matches!(other.code(), Some("NoSuchKey" | "NotFound")),
        None => false,
    }
}

impl ObjectStore for S3Store {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("PutObject", &e))?;
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let output = match self.client.get_object().bucket(bucket).key(key).send().await {
            Ok(output) => output,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_error("GetObject", &e)),
        };
        let body = output.body.collect().await.map_err(|e| AwsError::Failed {
            operation: "GetObject",
            message: format!("reading the object body failed: {}", error_chain(&e)),
        })?;
        Ok(Some(body.into_bytes().to_vec()))
    }
}
