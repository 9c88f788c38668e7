//! keyward-core: the domain of keyward, with no AWS SDK. Pure code, time a parameter; the AWS side
//! lives behind the traits of [`ports`]. The modules, from the bottom up (each uses only those
//! above it; docs/architecture.md, "Core module map", draws the graph):
//!
//! - [`model`]: the IAM facts (users, keys, their last use and where a fact came from) and
//!   [`model::KeyRef`], the one identity of a key; [`org`]: an AWS Organization's accounts, the
//!   `ORG_INCLUDE` / `ORG_EXCLUDE` filters and which accounts a run sweeps; [`config`]: the typed configuration; [`errors`]:
//!   the error names the state machine sees; [`secrets`]: keyward's secret (Slack's webhook and
//!   signing secret), read from Secrets Manager at init.
//! - [`exemption`]: who is exempt and why; [`policy`]: the policy as a pure function of users,
//!   configuration and evaluation time (findings, warnings, the plan and its cap);
//!   [`decision`]: the approver's decision and the keys it lets deactivate act on; [`recheck`]: the
//!   live re-check before a deactivation; [`identity`]: the source identity (who approved) and
//!   the session name a session in a member account carries.
//! - [`credential_report`]: the credential-report parser and the facts from it handed to
//!   check-user; [`contracts`]: the payloads between Step Functions states; [`screening`]: which
//!   users to check live, and the items of `batches.json`; [`run_report`]: the audit record of a
//!   run.
//! - [`ports`]: the traits the AWS adapters implement, and `PortError`; [`journal`]: a run's
//!   deactivation claim and write-ahead journal in the report bucket.
//! - [`form`]: the strict form-urlencoded codec; [`slack`]: the Slack request signature and button
//!   presses; [`approval_id`]: approval ids and the confirm-page form token (both keyed with the
//!   HMAC of the private `crypto`).
//! - [`message`]: the messages of a run, as plain text (SNS) and Slack Block Kit.
//! - `fakes` and `fixtures` (feature `fakes`): in-memory ports and test builders.

pub mod approval_id;
pub mod config;
pub mod contracts;
pub mod credential_report;
mod crypto;
pub mod decision;
pub mod errors;
pub mod exemption;
#[cfg(feature = "fakes")]
pub mod fakes;
#[cfg(feature = "fakes")]
pub mod fixtures;
pub mod form;
pub mod identity;
pub mod journal;
pub mod message;
pub mod model;
pub mod org;
pub mod policy;
pub mod ports;
pub mod recheck;
pub mod run_report;
pub mod run_store;
pub mod screening;
pub mod secrets;
pub mod slack;
