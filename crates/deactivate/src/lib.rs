//! deactivate: acts on a run's plan. It deactivates exactly the planned keys a human approved (or,
//! in `auto` mode, the whole plan), each held to the configuration in force and re-checked live
//! first, within the blast-radius cap, and verified by reading the key back. It only ever calls
//! `UpdateAccessKey ... Inactive`: it never deletes a key, a user or a login profile. A run is
//! deactivated once (a claim), every key's action is journaled before and after its IAM write, and
//! the run report's actions are rebuilt from that journal.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`; [`act`] the per-key work and its journal. `main.rs` builds them
//! over the AWS adapters and hands `handle` to `keyward_aws::runtime::serve_with_request_id`. The
//! run it is one step of: (docs/architecture.md, "The flow").

pub mod act;
pub mod handler;
