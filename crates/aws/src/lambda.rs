//! Lambda `Invoke` of the running function itself, asynchronously ([`LambdaSelfInvoke`] implements
//! [`SelfInvoke`]): the approval function answers a Slack click at once and does the slow part in
//! the invocation it queues here.
//!
//! `InvocationType=Event`: Lambda accepts the event (HTTP 202) and runs it later, so the caller
//! waits only for the queueing. The event is never part of an error: it carries a signed Slack
//! request.

use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use keyward_core::ports::{PortError, SelfInvoke};

use crate::error::sdk_error;

const OPERATION: &str = "Invoke";

/// Asynchronous invocations of one function (this one: `AWS_LAMBDA_FUNCTION_NAME`).
#[derive(Debug, Clone)]
pub struct LambdaSelfInvoke {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaSelfInvoke {
    /// Invocations of `function_name` over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig, function_name: impl Into<String>) -> LambdaSelfInvoke {
        LambdaSelfInvoke::from_client(aws_sdk_lambda::Client::new(sdk), function_name)
    }

    /// Invocations over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_lambda::Client, function_name: impl Into<String>) -> LambdaSelfInvoke {
        LambdaSelfInvoke { client, function_name: function_name.into() }
    }
}

impl SelfInvoke for LambdaSelfInvoke {
    async fn invoke_event(&self, event: &serde_json::Value) -> Result<(), PortError> {
        let payload = serde_json::to_vec(event).map_err(|e| PortError::Failed {
            operation: OPERATION,
            message: format!("the event is not serializable: {e}"),
        })?;
        self.client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(OPERATION, &e))
    }
}
