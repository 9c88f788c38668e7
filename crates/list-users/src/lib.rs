//! list-users: the first task of a run. In account scope it lists every IAM user of the account it
//! is deployed in, screens them (credential report, or every user with `SCREENING=live`), and
//! writes the candidates to S3 as the Distributed Map's batches, plus a listing record for the run
//! report. In organisation scope it is three steps of the run: discovery of the organisation's
//! accounts, that same sweep of one account through its read role, and the record of an account
//! that could not be swept.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`; the steps are in the
//! modules `listing`, `discover` and `account`.
//! `main.rs` builds them over the AWS adapters and hands `handle` to `keyward_aws::runtime::serve`.
//! The run it is one step of: (docs/architecture.md, "The flow").

mod account;
mod discover;
pub mod handler;
mod listing;
