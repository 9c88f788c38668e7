//! The one mapping from an SDK error to [`PortError`] shared by the adapters: which codes mean
//! "throttled", and how a failure is described (service code and message, never the request).

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_core::ports::PortError;

/// Error codes AWS services use for throttling: the SDK's own list (`aws-runtime`'s
/// `THROTTLING_ERRORS`). The SDK retries these; once retries are spent the call is
/// throttled (IAM: [`PortError::IamThrottled`]; other services: [`PortError::AwsThrottled`]), never an
/// ordinary failure.
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

/// Maps an S3/SNS/SFN/DynamoDB SDK error to [`PortError`]: a throttling code becomes
/// [`PortError::AwsThrottled`]; anything
/// else [`PortError::Failed`] with the service's error code and message (or, when no response came
/// back, the failure kind and its cause chain). The request itself is never part of the message.
pub(crate) fn sdk_error<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let Some(service) = err.as_service_error() {
        if service.code().is_some_and(is_throttling_code) {
            return PortError::AwsThrottled { operation };
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
        return PortError::Failed { operation, message };
    }
    if let Some(status) = err.raw_response().map(|r| r.status().as_u16()) {
        if status == 429 {
            return PortError::AwsThrottled { operation };
        }
        return PortError::Failed { operation, message: format!("unreadable response (HTTP {status})") };
    }
    PortError::Failed { operation, message: error_chain(err) }
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
