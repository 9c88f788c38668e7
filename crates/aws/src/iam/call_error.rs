//! [`CallError`]: a failed IAM request, classified, before it becomes a [`PortError`]. It keeps IAM's
//! error code so that the adapter can tell the answers it expects (`NoSuchEntity`, the
//! credential-report states) from failures; how the failure reads is `crate::error::describe`, the
//! same for every service.

use std::error::Error as StdError;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use keyward_core::ports::PortError;

use crate::error::{describe, http_status, is_throttling_code};

/// A failed IAM request, classified.
#[derive(Debug)]
pub(super) struct CallError {
    pub(super) operation: &'static str,
    /// IAM's error code, when the service answered with one.
    pub(super) code: Option<String>,
    pub(super) message: String,
    /// A throttling code, or HTTP 429 whatever the code: IAM's throttling is retried by the state
    /// machine (`IamThrottled`), so a 429 is never read as an ordinary failure.
    pub(super) throttled: bool,
}

impl CallError {
    /// The error of a request that failed after the SDK's retries.
    pub(super) fn from_sdk<E>(operation: &'static str, err: &SdkError<E>) -> CallError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let code = err.code().map(str::to_owned);
        let throttled = code.as_deref().is_some_and(is_throttling_code) || http_status(err) == Some(429);
        CallError { operation, code, message: describe(err), throttled }
    }

    /// A response IAM sent that keyward cannot use.
    pub(super) fn invalid(operation: &'static str, message: impl Into<String>) -> CallError {
        CallError { operation, code: None, message: message.into(), throttled: false }
    }

    /// Whether IAM answered with this error code.
    pub(super) fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl From<CallError> for PortError {
    fn from(err: CallError) -> PortError {
        if err.throttled {
            PortError::IamThrottled { operation: err.operation }
        } else {
            PortError::Failed { operation: err.operation, message: err.message }
        }
    }
}
