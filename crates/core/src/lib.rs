//! keyward-core: the domain of keyward, with no AWS SDK. Types of the IAM facts, the policy (a pure
//! function of users, configuration and evaluation time), the plan and its cap, the decision and the
//! live re-check, the credential-report parser, screening and the report facts handed to
//! check-user, the state contracts between Step Functions states, the run report, error names,
//! message rendering (plain text and Slack Block Kit), approval ids and the Slack request signature
//! check.

pub mod approval_id;
pub mod config;
pub mod contracts;
pub mod credential_report;
pub mod decision;
pub mod errors;
pub mod exemption;
#[cfg(feature = "fakes")]
pub mod fakes;
#[cfg(feature = "fakes")]
pub mod fixtures;
pub mod message;
pub mod model;
pub mod policy;
pub mod ports;
pub mod recheck;
pub mod run_report;
pub mod run_store;
pub mod screening;
pub mod slack;
