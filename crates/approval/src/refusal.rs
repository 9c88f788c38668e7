//! Why a request decides nothing, and how each reason is told: an HTTP status, a heading and one
//! sentence for people (always saying that nothing was decided), a stable error name for the logs.
//! The form path shows it as a page, the Slack path as an ephemeral reply.

use chrono::{DateTime, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::decision::DecisionError;
use keyward_core::errors::{self, NamedError};
use keyward_core::ports::{ApprovalState, PortError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use crate::oidc::SignInError;
use crate::page;
use crate::response::html;

/// Why a request decides nothing. Each becomes a page (or a Slack reply) that says so.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("unknown approval link")]
    UnknownLink,
    #[error("the approval expired")]
    Expired { expires_at: DateTime<Utc> },
    #[error("the approval was already decided")]
    AlreadyDecided { state: Option<ApprovalState> },
    #[error("the form token does not verify")]
    BadFormToken,
    #[error("the request is not a form post")]
    NotAForm,
    #[error("the form is not valid: {0}")]
    BadForm(&'static str),
    #[error(transparent)]
    NotInPlan(#[from] DecisionError),
    #[error("no key was ticked")]
    NoKeyTicked,
    #[error(transparent)]
    Storage(#[from] PortError),
    #[error("the run report cannot be used: {0}")]
    RunState(String),
    #[error("no sign-in session for this approval")]
    SignInRequired,
    #[error("the sign-in failed: {0}")]
    SignInFailed(&'static str),
    #[error("the sign-in failed: {0}")]
    SignInRejected(SignInError),
    #[error("the signed-in person is not in APPROVERS")]
    NotAnApprover { shown: String },
}

impl NamedError for Refusal {
    fn error_name(&self) -> &'static str {
        match self {
            Refusal::Storage(err) => err.error_name(),
            Refusal::RunState(_) => errors::RUN_STATE_INVALID,
            _ => errors::INVALID_INPUT,
        }
    }
}

impl Refusal {
    /// The HTTP status of the refusal's page.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::UnknownLink => StatusCode::NOT_FOUND,
            Refusal::Expired { .. } => StatusCode::GONE,
            Refusal::AlreadyDecided { .. } => StatusCode::CONFLICT,
            Refusal::BadFormToken => StatusCode::FORBIDDEN,
            Refusal::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::BadForm(_) | Refusal::NotInPlan(_) | Refusal::NoKeyTicked => StatusCode::BAD_REQUEST,
            Refusal::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::RunState(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::SignInRequired | Refusal::NotAnApprover { .. } => StatusCode::FORBIDDEN,
            Refusal::SignInFailed(_) | Refusal::SignInRejected(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A heading and one sentence for people; every one says that nothing was decided.
    pub(crate) fn explain(&self) -> (&'static str, String) {
        match self {
            Refusal::UnknownLink => (
                "Unknown link",
                "This approval link is unknown: it may be mistyped, or so old that its record is gone. \
                 Nothing was decided."
                    .to_owned(),
            ),
            Refusal::Expired { expires_at } => (
                "This approval expired",
                format!(
                    "The link expired at {}: nothing was deactivated, and nothing can be decided with it any more. \
                     The next run proposes the keys again if they still break the policy.",
                    page::when(*expires_at)
                ),
            ),
            Refusal::AlreadyDecided { state } => ("Already decided", already_decided_sentence(state.as_ref())),
            Refusal::BadFormToken => (
                "This form is not valid for this approval",
                "Nothing was decided. Open the approval link again and decide on that page.".to_owned(),
            ),
            Refusal::NotAForm => {
                ("Not a form", "Decisions are made with the form of the approval page. Nothing was decided.".to_owned())
            }
            Refusal::BadForm(what) => ("The form could not be read", format!("{what}. Nothing was decided.")),
            Refusal::NotInPlan(err) => (
                "Key not in this run's plan",
                format!("The form names {}. Nothing was decided; open the approval link again.", not_in_plan(err)),
            ),
            Refusal::NoKeyTicked => {
                ("No key ticked", "Tick at least one key or use Reject all. Nothing was decided.".to_owned())
            }
            Refusal::Storage(_) => {
                ("keyward could not reach its storage", "Nothing was decided. Try again in a minute.".to_owned())
            }
            Refusal::RunState(_) => (
                "The run report cannot be read",
                "This approval's run report is missing or unreadable, so nothing can be decided with this link. \
                 Nothing was decided."
                    .to_owned(),
            ),
            Refusal::SignInRequired => (
                "Sign in first",
                "Deciding needs a sign-in with your organisation's account. Open the approval link again to sign in. \
                 Nothing was decided."
                    .to_owned(),
            ),
            Refusal::SignInFailed(_) | Refusal::SignInRejected(_) => (
                "The sign-in did not succeed",
                "The sign-in could not be verified, or it was not started in this browser. Open the approval link \
                 again to sign in. Nothing was decided."
                    .to_owned(),
            ),
            Refusal::NotAnApprover { shown } => (
                "Not an approver",
                format!(
                    "You are signed in as {shown}, who is not among the approvers keyward accepts (APPROVERS). \
                     Nothing was decided."
                ),
            ),
        }
    }
}

fn not_in_plan(err: &DecisionError) -> String {
    match err {
        DecisionError::NotInPlan { entry } => format!("key {entry}, which is not in this run's plan"),
        DecisionError::OtherAccount { entry, planned_in } => {
            format!("key {entry}, whose key id this run planned in account {planned_in}, not the one named")
        }
        DecisionError::Malformed { entry } => {
            format!("{entry:?}, which does not name a key as <12-digit account id>:<access key id>")
        }
        DecisionError::Duplicate(entry) => format!("key {entry} more than once"),
    }
}

fn already_decided_sentence(state: Option<&ApprovalState>) -> String {
    match state {
        Some(ApprovalState::Decided { outcome, decided_at }) => format!(
            "This approval was already decided: {outcome} at {}. A decision is final; this link cannot be used again.",
            page::when(*decided_at)
        ),
        _ => "This approval was already decided. A decision is final; this link cannot be used again.".to_owned(),
    }
}

/// A page for a successful request, or the refusal's page.
pub(crate) fn respond(result: Result<(StatusCode, String), Refusal>) -> Response<Body> {
    match result {
        Ok((status, body)) => html(status, body),
        Err(refusal) => {
            let (heading, sentence) = refusal.explain();
            html(refusal.status(), page::notice(heading, &[sentence], &[]))
        }
    }
}

/// One log line per request: its outcome, or its refusal with the error name and status. The
/// approval id is logged only as a prefix of its hash.
pub(crate) fn log_result<T: std::fmt::Display>(id: &ApprovalId, action: &str, result: Result<T, &Refusal>) {
    let id_hash = id.key_hash();
    let id_hash = id_hash.get(..8).unwrap_or_default();
    match result {
        Ok(outcome) => tracing::info!(id_hash, action, outcome = %outcome, "approval request handled"),
        Err(refusal) => tracing::info!(
            id_hash,
            action,
            refusal = %refusal,
            error = refusal.error_name(),
            status = refusal.status().as_u16(),
            "approval request refused"
        ),
    }
}
