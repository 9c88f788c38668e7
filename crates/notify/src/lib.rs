//! notify: tells people about a run. One function for every message of the state machine: the
//! clean-account note, the findings digest, the approval request (invoked with a task token, which it
//! stores server-side under a fresh approval id), the rejected and expired notes and the outcome.
//! Every message goes to SNS; to Slack as well when `SLACK_WEBHOOK_URL` is set.
//!
//! `main.rs` wires the AWS adapters; [`handler`] holds the logic, generic over keyward-core's ports.

pub mod handler;
