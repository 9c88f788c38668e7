//! Step Functions task-token callbacks ([`SfnCallbacks`] implements [`TaskCallback`]).
//!
//! A token that Step Functions no longer accepts (`TaskTimedOut`, `TaskDoesNotExist`,
//! `InvalidToken`: the wait timed out, the task was already answered, or the token is not one)
//! comes back as [`PortError::TaskGone`]; the approval function shows an "expired" page for it. The
//! token itself never appears in an error.

use aws_config::SdkConfig;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_core::ports::{PortError, TaskCallback};

use crate::error::sdk_error;

/// The longest `error` SendTaskFailure accepts, in characters.
pub const MAX_ERROR_CHARS: usize = 256;
/// The longest `cause` SendTaskFailure accepts, in characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// Step Functions callbacks.
#[derive(Debug, Clone)]
pub struct SfnCallbacks {
    client: aws_sdk_sfn::Client,
}

impl SfnCallbacks {
    /// Callbacks over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig) -> SfnCallbacks {
        SfnCallbacks { client: aws_sdk_sfn::Client::new(sdk) }
    }

    /// Callbacks over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_sfn::Client) -> SfnCallbacks {
        SfnCallbacks { client }
    }
}

/// The first `max` characters of `s`, cut on a character boundary.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// The [`PortError`] of a failed callback: [`PortError::TaskGone`] for a stale token
/// (`stale` names the code), otherwise the usual mapping with the token scrubbed from the service's
/// message, should a service or emulator ever echo it.
fn callback_error(operation: &'static str, stale: Option<&str>, mapped: PortError, task_token: &str) -> PortError {
    if let Some(code) = stale {
        return PortError::TaskGone { operation, code: code.to_owned() };
    }
    match mapped {
        PortError::Failed { operation, message } if !task_token.is_empty() && message.contains(task_token) => {
            PortError::Failed { operation, message: message.replace(task_token, "<task token>") }
        }
        other => other,
    }
}

/// The codes of a token Step Functions no longer accepts.
const STALE_TOKEN_CODES: [&str; 3] = ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];

/// The stale-token code of a service error, if it is one (by modeled variant, else by code).
fn stale_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
    variant: Option<&'static str>,
) -> Option<&'static str> {
    variant.or_else(|| {
        let code = err.as_service_error()?.code()?;
        STALE_TOKEN_CODES.into_iter().find(|c| *c == code)
    })
}

fn success_stale(err: &SdkError<SendTaskSuccessError, HttpResponse>) -> Option<&'static str> {
    let variant = match err.as_service_error() {
        Some(SendTaskSuccessError::TaskTimedOut(_)) => Some("TaskTimedOut"),
        Some(SendTaskSuccessError::TaskDoesNotExist(_)) => Some("TaskDoesNotExist"),
        Some(SendTaskSuccessError::InvalidToken(_)) => Some("InvalidToken"),
        _ => None,
    };
    stale_code(err, variant)
}

fn failure_stale(err: &SdkError<SendTaskFailureError, HttpResponse>) -> Option<&'static str> {
    let variant = match err.as_service_error() {
        Some(SendTaskFailureError::TaskTimedOut(_)) => Some("TaskTimedOut"),
        Some(SendTaskFailureError::TaskDoesNotExist(_)) => Some("TaskDoesNotExist"),
        Some(SendTaskFailureError::InvalidToken(_)) => Some("InvalidToken"),
        _ => None,
    };
    stale_code(err, variant)
}

impl TaskCallback for SfnCallbacks {
    async fn succeed(&self, task_token: &str, output: &serde_json::Value) -> Result<(), PortError> {
        let output = serde_json::to_string(output).map_err(|e| PortError::Failed {
            operation: "SendTaskSuccess",
            message: format!("the output is not serializable: {e}"),
        })?;
        match self.client.send_task_success().task_token(task_token).output(output).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                Err(callback_error("SendTaskSuccess", success_stale(&e), sdk_error("SendTaskSuccess", &e), task_token))
            }
        }
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), PortError> {
        let request = self
            .client
            .send_task_failure()
            .task_token(task_token)
            .error(truncate_chars(error, MAX_ERROR_CHARS))
            .cause(truncate_chars(cause, MAX_CAUSE_CHARS));
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                Err(callback_error("SendTaskFailure", failure_stale(&e), sdk_error("SendTaskFailure", &e), task_token))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 10), "abc");
        assert_eq!(truncate_chars("", 0), "");
    }

    #[test]
    fn a_token_echoed_in_a_message_is_scrubbed() {
        let mapped = PortError::Failed { operation: "SendTaskSuccess", message: "Bad token AAAA-secret".into() };
        let err = callback_error("SendTaskSuccess", None, mapped, "AAAA-secret");
        assert_eq!(err, PortError::Failed { operation: "SendTaskSuccess", message: "Bad token <task token>".into() });
    }

    #[test]
    fn an_expired_token_is_recognisable() {
        let mapped =
            PortError::Failed { operation: "SendTaskFailure", message: "TaskTimedOut: late (HTTP 400)".into() };
        let err = callback_error("SendTaskFailure", Some("TaskTimedOut"), mapped, "tok");
        assert_eq!(err, PortError::TaskGone { operation: "SendTaskFailure", code: "TaskTimedOut".into() });
        assert_eq!(
            err.to_string(),
            "SendTaskFailure failed: the task token is no longer accepted (expired, already answered or unknown) \
             (TaskTimedOut)"
        );
    }
}
