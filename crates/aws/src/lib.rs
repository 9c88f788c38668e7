//! keyward-aws: the adapters behind `keyward-core`'s ports, one module per service, and what the
//! six functions share to reach AWS and the Lambda runtime (its place among the crates:
//! docs/architecture.md, "Crate graph").
//!
//! - Adapters: [`iam`] (`IamAdapter`: users, keys, the credential report; paging, rate limiting
//!   and call counts inside), [`s3`] (the report bucket), [`sns`] (the notification topic),
//!   [`sfn`] (task-token callbacks), [`dynamodb`] (the approvals table and the decisions table), [`tokens`] (short-lived
//!   single-use items beside the approvals), [`lambda`] (the approval
//!   function's asynchronous invocation of itself), [`secrets`] (keyward's secret in Secrets
//!   Manager, read at init), [`slack`] (the incoming webhook), [`oidc`] (the OpenID provider's
//!   endpoints, for the approval function's sign-in), [`os_random`] (approval ids),
//!   [`organizations`] (an organisation's accounts and where each sits) and [`sts`] (sessions in
//!   member accounts, each with an `IamAdapter` of its own).
//! - Shared: [`sdk`] (the one `SdkConfig`: retries, timeouts), [`rate_limit`] (the token bucket
//!   the IAM adapter spaces its requests with), `error` (how a failed SDK call becomes a
//!   `PortError`) and [`runtime`] (the Lambda runtime glue).
//! - `testing` (feature `moto`, tests only): a moto server per test.

pub mod dynamodb;
mod error;
pub mod iam;
pub mod lambda;
pub mod oidc;
pub mod organizations;
pub mod os_random;
pub mod rate_limit;
pub mod runtime;
pub mod s3;
pub mod sdk;
pub mod secrets;
pub mod sfn;
pub mod slack;
pub mod sns;
pub mod sts;
#[cfg(feature = "moto")]
pub mod testing;
pub mod tokens;

pub use error::error_chain;
