//! validate-keys: after the Map. Gathers the run's live-checked users from S3, evaluates the policy
//! at the execution's start time, writes the run report, and tells the state machine what comes
//! next (approval, deactivation, or nothing).
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`; `org` reads an organisation run, account by account. `main.rs`
//! builds them over the AWS adapters and hands `handle` to `keyward_aws::runtime::serve`. The run it is one step of: (docs/architecture.md, "The flow").

pub mod handler;
mod org;
