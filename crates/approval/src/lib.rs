//! approval: the HTTP Lambda function (Lambda Function URL) that receives the approver's decision
//! (docs/architecture.md, "Approval"). It shows the confirm page, accepts the page's form and
//! Slack's buttons, and calls SendTaskSuccess / SendTaskFailure.
//!
//! `handler` routes (start there), after `guard` has refused an oversized body or a POST from
//! another site; `decide` is the single-use decision protocol both ways of deciding share; `form`
//! is the confirm page and its form, `session` the sign-in's browser side (state, cookies,
//! sessions) and `oidc` its OpenID Connect side (discovery, code exchange, ID token verification,
//! `APPROVERS`); `slack` Slack's buttons (answered at once, decided in a follow-up invocation);
//! `refusal` says why a request decides nothing; `response` and `page` build what is sent back.
//! The binary only wires.

mod decide;
mod form;
mod guard;
pub mod handler;
pub mod oidc;
pub mod page;
mod refusal;
mod response;
pub mod session;
pub mod slack;
