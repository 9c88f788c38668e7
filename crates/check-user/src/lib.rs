//! check-user: one item of the Distributed Map. Reads a batch of candidate users live from IAM
//! (MFA devices, login profile, keys, key last use, tags) and writes the batch's result to S3; the
//! Map collects only a small summary. In organisation scope the batch is of one member account,
//! read through a session of its read role.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`. `main.rs` builds them over the AWS adapters and hands `handle`
//! to `keyward_aws::runtime::serve`. The run it is one step of: (docs/architecture.md, "The flow").

pub mod handler;
