//! notify: tells people about a run. One function for every message of the state machine: the
//! clean-account note, the findings digest, the approval request (invoked with a task token, which it
//! stores server-side under a fresh approval id), the rejected and expired notes and the outcome.
//! Every message goes to SNS; to Slack as well when keyward's secret has a
//! `slack_webhook_url`.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`. `main.rs` builds them over the AWS adapters and hands `handle`
//! to `keyward_aws::runtime::serve`. The run it is one step of: (docs/architecture.md, "The flow").

pub mod handler;
