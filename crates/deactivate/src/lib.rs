//! deactivate: acts on a run's plan. It deactivates exactly the planned keys a human approved (or,
//! in `auto` mode, the whole plan), each re-checked live first, within the blast-radius cap, and
//! verified by reading the key back. It only ever calls `UpdateAccessKey ... Inactive`: it never
//! deletes a key, a user or a login profile. Every action is appended to the run report.
//!
//! `main.rs` wires the AWS adapters; [`handler`] holds the logic, generic over keyward-core's ports.

pub mod handler;
