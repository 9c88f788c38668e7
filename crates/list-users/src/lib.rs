//! list-users: the first task of a run. Lists every IAM user, screens them (credential report, or
//! every user with `SCREENING=live`), and writes the candidates to S3 as the Distributed Map's
//! batches, plus a listing record for the run report.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`. `main.rs` builds them over the AWS adapters and hands `handle`
//! to `keyward_aws::runtime::serve`. The run it is one step of: (docs/architecture.md, "The flow").

pub mod handler;
