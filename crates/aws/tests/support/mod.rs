//! What the adapter tests over `aws-smithy-mocks` and the local Slack server share.

use keyward_core::ports::PortError;

/// The message of a [`PortError::Failed`]; any other error fails the test.
pub fn failed_message(err: PortError) -> String {
    match err {
        PortError::Failed { message, .. } => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}
