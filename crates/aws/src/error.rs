//! What every adapter makes of a failed SDK call: which codes mean "throttled", and how the failure
//! is described ([`describe`]: the service's code and message, never the request). The S3, SNS, SFN
//! and DynamoDB adapters map it to [`PortError`] with [`sdk_error`], and so do the Organizations
//! and STS adapters once they have picked out access denied (which names what is missing); IAM's
//! `iam::call_error` keeps the code a little longer (NoSuchEntity and the credential-report states
//! steer the adapter) and describes the failure with the same [`describe`].

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

/// Maps an S3/SNS/SFN/DynamoDB/Organizations/STS SDK error to [`PortError`]: a throttling code (or, when no service
/// error could be read, HTTP 429) becomes [`PortError::AwsThrottled`]; anything else
/// [`PortError::Failed`] with the [`describe`]d failure. (IAM's `CallError` classifies with the
/// same codes and describes with the same function.)
pub(crate) fn sdk_error<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let throttled = match err.as_service_error() {
        Some(service) => service.code().is_some_and(is_throttling_code),
        None => http_status(err) == Some(429),
    };
    if throttled {
        return PortError::AwsThrottled { operation };
    }
    PortError::Failed { operation, message: describe(err) }
}

/// The HTTP status of the response, when one came back.
pub(crate) fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|response| response.status().as_u16())
}

/// How a failed SDK call reads in an error, for every service: `Code: message` (or `Code` alone)
/// when the service answered with an error code; otherwise the failure and its cause chain, with
/// the HTTP status when a response came back. The request itself is never part of it.
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
        (Some(code), _) => code.to_owned(),
        (None, _) => {
            let chain = error_chain(err);
            match http_status(err) {
                Some(status) => format!("{chain} (HTTP {status})"),
                None => chain,
            }
        }
    }
}

/// An error and its causes, one after the other (`dispatch failure: io error: …`).
pub fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
