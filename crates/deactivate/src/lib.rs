//! deactivate: acts on a run's plan. It deactivates exactly the planned keys a human approved (or,
//! in `auto` mode, the whole plan), each re-checked live first, within the blast-radius cap, and
//! verified by reading the key back. It only ever calls `UpdateAccessKey ... Inactive`: it never
//! deletes a key, a user or a login profile. Every action is appended to the run report.
//!
//! [`handler`] holds the function in the shape all six share: `Settings` (what it reads from the
//! configuration, resolved once at init), `Deps` (its ports, generic over keyward-core's traits,
//! and the settings) and `handle`. `main.rs` builds them over the AWS adapters and hands `handle`
//! to `keyward_aws::runtime::serve`. The run it is one step of: (docs/architecture.md, "The flow").

pub mod handler;
