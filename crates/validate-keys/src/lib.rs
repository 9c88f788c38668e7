//! validate-keys: after the Map. Gathers the run's live-checked users from S3, evaluates the policy
//! at the execution's start time, writes the run report, and tells the state machine what comes
//! next (approval, deactivation, or nothing). The binary wires it to the Lambda runtime.

pub mod handler;
