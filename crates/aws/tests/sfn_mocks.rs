//! SfnCallbacks over `aws-smithy-mocks`: what a task-token callback sends, which answers mean the
//! token is gone, and that the token never shows in an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_sfn::operation::send_task_failure::{SendTaskFailureError, SendTaskFailureOutput};
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::error::{TaskDoesNotExist, TaskTimedOut};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use keyward_aws::sfn::{MAX_CAUSE_CHARS, SfnCallbacks};
use keyward_core::ports::{PortError, TaskCallback};
use support::failed_message;

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3tT0k3n";

#[tokio::test]
async fn sfn_failure_on_a_timed_out_task_reads_as_expired_without_the_token() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_failure).then_error(|| {
        SendTaskFailureError::TaskTimedOut(
            TaskTimedOut::builder().message(format!("Task Timed Out: '{TOKEN}'")).build(),
        )
    });
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.fail(TOKEN, "ApprovalRejected", "rejected by alice").await.unwrap_err();

    assert!(
        matches!(&err, PortError::TaskGone { operation: "SendTaskFailure", code } if code == "TaskTimedOut"),
        "{err:?}"
    );
    assert!(!err.to_string().contains(TOKEN));
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn sfn_success_on_an_answered_task_reads_as_expired() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success)
        .then_error(|| SendTaskSuccessError::TaskDoesNotExist(TaskDoesNotExist::builder().build()));
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.succeed(TOKEN, &serde_json::json!({"approved": []})).await.unwrap_err();

    assert!(matches!(err, PortError::TaskGone { .. }), "{err:?}");
}

#[tokio::test]
async fn sfn_other_errors_are_failures_not_expiry_and_never_echo_the_token() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success).then_error(|| {
        SendTaskSuccessError::generic(
            ErrorMetadata::builder().code("AccessDeniedException").message(format!("denied for {TOKEN}")).build(),
        )
    });
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, [&rule]));

    let err = sfn.succeed(TOKEN, &serde_json::json!({})).await.unwrap_err();

    assert!(!matches!(err, PortError::TaskGone { .. }), "{err:?}");
    let message = failed_message(err);
    assert!(message.starts_with("AccessDeniedException"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn sfn_success_sends_the_output_as_json() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|req| {
            req.task_token() == Some(TOKEN)
                && req.output().map(serde_json::from_str::<serde_json::Value>).and_then(Result::ok)
                    == Some(serde_json::json!({"approved": ["AKIAEXAMPLE"], "decided_by": "alice"}))
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]));

    let output = serde_json::json!({"approved": ["AKIAEXAMPLE"], "decided_by": "alice"});
    assert_eq!(sfn.succeed(TOKEN, &output).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn sfn_failure_cuts_a_long_cause_to_the_service_limit() {
    let rule = mock!(aws_sdk_sfn::Client::send_task_failure)
        .match_requests(|req| {
            req.error() == Some("ApprovalRejected") && req.cause().map(|c| c.chars().count()) == Some(MAX_CAUSE_CHARS)
        })
        .then_output(|| SendTaskFailureOutput::builder().build());
    let sfn = SfnCallbacks::from_client(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]));

    let cause = "ü".repeat(MAX_CAUSE_CHARS + 10);
    assert_eq!(sfn.fail(TOKEN, "ApprovalRejected", &cause).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}
