//! Slack interactivity: the v0 request signature check (`signature`) and the parts of the
//! `block_actions` payload keyward reads, with the approver allowlist (`interaction`). The body is
//! decoded with the strict codec of [`crate::form`].
//!
//! Everything here is a pure function: time is a parameter, nothing reads the clock, nothing logs.
//! Errors and `Debug` output never carry the signing secret, the expected signature, an approval
//! id or a `response_url`.

mod interaction;
mod signature;

pub use interaction::{
    ACTION_APPROVE_ALL, ACTION_REJECT_ALL, ACTION_REVIEW, Interaction, InteractionError, SlackAction, SlackActionKind,
    is_approver, parse_interaction,
};
pub use signature::{
    MAX_REQUEST_AGE_SECONDS, SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, request_digest, sign, verify_signature,
};
