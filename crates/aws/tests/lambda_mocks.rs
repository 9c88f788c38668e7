//! LambdaSelfInvoke over `aws-smithy-mocks`: the request Lambda receives (this function, an Event
//! invocation, the event as its payload) and how a refusal comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::types::error::ServiceException;
use aws_smithy_mocks::{mock, mock_client};
use keyward_aws::lambda::LambdaSelfInvoke;
use keyward_core::ports::{PortError, SelfInvoke};
use serde_json::json;

#[tokio::test]
async fn the_event_is_queued_as_an_event_invocation_of_the_function() {
    let event = json!({"slack_followup": {"body": "payload=%7B%7D"}});
    let expected = serde_json::to_vec(&event).unwrap();
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |req| {
            req.function_name() == Some("keyward-approval")
                && req.invocation_type() == Some(&InvocationType::Event)
                && req.payload().map(|p| p.as_ref()) == Some(expected.as_slice())
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let invoker = LambdaSelfInvoke::from_client(mock_client!(aws_sdk_lambda, [&rule]), "keyward-approval");

    assert_eq!(invoker.invoke_event(&event).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_invoke_is_a_failed_invoke_that_names_no_payload() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .then_error(|| InvokeError::ServiceException(ServiceException::builder().message("Lambda is down").build()));
    let invoker = LambdaSelfInvoke::from_client(mock_client!(aws_sdk_lambda, [&rule]), "keyward-approval");

    let err = invoker.invoke_event(&json!({"slack_followup": {"body": "secret-body"}})).await.unwrap_err();

    assert!(matches!(err, PortError::Failed { operation: "Invoke", .. }), "{err:?}");
    assert!(!err.to_string().contains("secret-body"), "{err}");
}
