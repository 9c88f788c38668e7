//! The parts of a Slack `block_actions` interaction keyward reads (the Approve all / Reject all /
//! Review buttons), and the approver allowlist.
//!
//! `Debug` output and errors never carry an approval id or a `response_url`.

use std::fmt;

use serde::Deserialize;

use crate::form::{FormError, decode_form_urlencoded};

/// `action_id` of the "Approve all" button.
pub const ACTION_APPROVE_ALL: &str = "keyward_approve_all";
/// `action_id` of the "Reject all" button.
pub const ACTION_REJECT_ALL: &str = "keyward_reject_all";
/// `action_id` of the "Review" button (opens the confirm page; decides nothing by itself).
pub const ACTION_REVIEW: &str = "keyward_review";

const PAYLOAD_FIELD: &str = "payload";
const BLOCK_ACTIONS: &str = "block_actions";

/// Which keyward button was pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackActionKind {
    /// "Approve all": deactivate every key in the plan.
    ApproveAll,
    /// "Reject all": deactivate nothing (SendTaskFailure `ApprovalRejected`).
    RejectAll,
    /// "Review": the approver wants the confirm page; decides nothing.
    Review,
}

impl SlackActionKind {
    /// The `action_id` the message renderer puts on this button.
    pub fn action_id(self) -> &'static str {
        match self {
            Self::ApproveAll => ACTION_APPROVE_ALL,
            Self::RejectAll => ACTION_REJECT_ALL,
            Self::Review => ACTION_REVIEW,
        }
    }

    /// The button for a keyward `action_id`; `None` for any other id.
    pub fn from_action_id(action_id: &str) -> Option<Self> {
        match action_id {
            ACTION_APPROVE_ALL => Some(Self::ApproveAll),
            ACTION_REJECT_ALL => Some(Self::RejectAll),
            ACTION_REVIEW => Some(Self::Review),
            _ => None,
        }
    }
}

/// A button press: which button, and the approval it belongs to (the button's `value`).
///
/// `Debug` redacts `approval_id`: it is the capability in the approval link.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackAction {
    /// Which button.
    pub kind: SlackActionKind,
    /// The approval id text carried in the button's `value`, not yet validated: pass it to
    /// [`crate::approval_id::ApprovalId::parse`] before any lookup.
    pub approval_id: String,
}

impl fmt::Debug for SlackAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackAction").field("kind", &self.kind).field("approval_id", &"<redacted>").finish()
    }
}

/// What keyward needs from a Slack `block_actions` interaction.
///
/// `Debug` redacts the approval id and `response_url` (a webhook URL must not be logged).
#[derive(Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Slack user id of whoever pressed the button (`U…`); check it with [`is_approver`].
    pub user_id: String,
    /// The Slack workspace the click came from (`team.id`, else `user.team_id`; `T…`).
    pub team_id: String,
    /// The button pressed.
    pub action: SlackAction,
    /// Where to post the follow-up that replaces the buttons; `None` if Slack sent none.
    pub response_url: Option<String>,
    /// `ts` of the message holding the buttons (`container.message_ts`, else `message.ts`).
    pub message_ts: Option<String>,
}

impl fmt::Debug for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interaction")
            .field("user_id", &self.user_id)
            .field("team_id", &self.team_id)
            .field("action", &self.action)
            .field("response_url", &self.response_url.as_ref().map(|_| "<redacted>"))
            .field("message_ts", &self.message_ts)
            .finish()
    }
}

/// Why an interaction body is not a keyward button press. Messages never quote the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    /// The body is not valid form-urlencoded text.
    #[error("interaction body: {0}")]
    Form(#[from] FormError),
    /// No `payload` field in the body.
    #[error("interaction body has no `payload` field")]
    MissingPayload,
    /// More than one `payload` field: ambiguous, refused.
    #[error("interaction body has more than one `payload` field")]
    DuplicatePayload,
    /// `payload` is not JSON of the expected shape (position only, so no content is echoed).
    #[error("interaction payload is not the expected JSON (line {line}, column {column})")]
    MalformedJson {
        /// 1-based line of the first problem.
        line: usize,
        /// 1-based column of the first problem.
        column: usize,
    },
    /// The payload `type` is not `block_actions`.
    #[error("interaction type `{kind}` is not handled; only `block_actions` is")]
    UnsupportedType {
        /// The `type` Slack sent.
        kind: String,
    },
    /// `user.id` is empty.
    #[error("interaction has an empty user id")]
    MissingUserId,
    /// Neither `team.id` nor `user.team_id` names the workspace.
    #[error("interaction names no Slack workspace (team id)")]
    MissingTeamId,
    /// The payload carries no action, or more than one.
    #[error("interaction carries {count} actions; exactly one is expected")]
    ActionCount {
        /// How many actions it carries.
        count: usize,
    },
    /// The action id is not one of keyward's buttons.
    #[error("action id `{action_id}` is not a keyward button")]
    UnknownAction {
        /// The `action_id` Slack sent.
        action_id: String,
    },
    /// The button carries no approval id in its `value`.
    #[error("the button carries no approval id")]
    MissingApprovalId,
}

/// Only the `type` field, read first so a non-button interaction gets a clear error.
#[derive(Deserialize)]
struct PayloadType {
    #[serde(rename = "type")]
    kind: String,
}

/// The parts of Slack's `block_actions` payload keyward reads; other fields are ignored.
#[derive(Deserialize)]
struct BlockActionsPayload {
    user: PayloadUser,
    team: Option<PayloadTeam>,
    #[serde(default)]
    actions: Vec<PayloadAction>,
    response_url: Option<String>,
    container: Option<PayloadContainer>,
    message: Option<PayloadMessage>,
}

#[derive(Deserialize)]
struct PayloadUser {
    id: String,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct PayloadTeam {
    id: Option<String>,
}

#[derive(Deserialize)]
struct PayloadAction {
    action_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct PayloadContainer {
    message_ts: Option<String>,
}

#[derive(Deserialize)]
struct PayloadMessage {
    ts: Option<String>,
}

/// Parses the raw body of a Slack interactivity request (`payload=<url-encoded JSON>`) into the
/// keyward button that was pressed. Call only after [`crate::slack::verify_signature`] accepted the same bytes.
///
/// Errors ([`InteractionError`]): body not form-urlencoded, `payload` missing or repeated, JSON not
/// of the `block_actions` shape, not exactly one action, an action id other than
/// [`ACTION_APPROVE_ALL`] / [`ACTION_REJECT_ALL`] / [`ACTION_REVIEW`], or an empty button value.
pub fn parse_interaction(raw_body: &[u8]) -> Result<Interaction, InteractionError> {
    let fields = decode_form_urlencoded(raw_body)?;
    let mut payloads = fields.into_iter().filter(|(name, _)| name == PAYLOAD_FIELD).map(|(_, value)| value);
    let payload = payloads.next().ok_or(InteractionError::MissingPayload)?;
    if payloads.next().is_some() {
        return Err(InteractionError::DuplicatePayload);
    }

    let PayloadType { kind } = serde_json::from_str(&payload).map_err(malformed_json)?;
    if kind != BLOCK_ACTIONS {
        return Err(InteractionError::UnsupportedType { kind });
    }
    let parsed: BlockActionsPayload = serde_json::from_str(&payload).map_err(malformed_json)?;

    if parsed.user.id.is_empty() {
        return Err(InteractionError::MissingUserId);
    }
    let count = parsed.actions.len();
    let mut actions = parsed.actions.into_iter();
    let (Some(action), None) = (actions.next(), actions.next()) else {
        return Err(InteractionError::ActionCount { count });
    };
    let kind = SlackActionKind::from_action_id(&action.action_id)
        .ok_or(InteractionError::UnknownAction { action_id: action.action_id })?;
    let approval_id = action.value.filter(|value| !value.is_empty()).ok_or(InteractionError::MissingApprovalId)?;
    // `team.id` is the workspace of the click; `user.team_id` the user's (the same outside
    // Enterprise Grid). An empty one is as good as none.
    let team_id = parsed
        .team
        .and_then(|t| t.id)
        .filter(|id| !id.is_empty())
        .or(parsed.user.team_id.filter(|id| !id.is_empty()))
        .ok_or(InteractionError::MissingTeamId)?;

    let message_ts = parsed.container.and_then(|c| c.message_ts).or_else(|| parsed.message.and_then(|m| m.ts));
    Ok(Interaction {
        user_id: parsed.user.id,
        team_id,
        action: SlackAction { kind, approval_id },
        response_url: parsed.response_url,
        message_ts,
    })
}

fn malformed_json(error: serde_json::Error) -> InteractionError {
    InteractionError::MalformedJson { line: error.line(), column: error.column() }
}

/// Whether `user_id` may decide through Slack: it must be listed, exactly, in `allowlist`
/// (`SlackApproverIds`). Deny by default: an empty allowlist or an empty user id is never allowed.
pub fn is_approver(user_id: &str, allowlist: &[String]) -> bool {
    !user_id.is_empty() && allowlist.iter().any(|approver| approver == user_id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::form::encode_form_component;
    use crate::slack::{sign, verify_signature};
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    // Slack's documented signing secret and timestamp ("Verifying requests from Slack").
    const DOC_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: i64 = 1_531_420_618;

    const APPROVAL_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const RESPONSE_URL: &str = "https://hooks.slack.com/actions/T1DC2JH3J/1234567890/abcDEFghiJKL";

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().unwrap()
    }

    fn payload(action_id: &str, value: &str) -> String {
        serde_json::json!({
            "type": "block_actions",
            "user": { "id": "U2CERLKJA", "username": "roadrunner", "name": "roadrunner", "team_id": "T1DC2JH3J" },
            "api_app_id": "A0123456789",
            "token": "ignored",
            "container": { "type": "message", "message_ts": "1531420618.000200", "channel_id": "C0123" },
            "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
            "team": { "id": "T1DC2JH3J", "domain": "testteamnow" },
            "channel": { "id": "C0123", "name": "iam-hygiene" },
            "message": { "type": "message", "ts": "1531420618.000200", "text": "3 keys to deactivate" },
            "response_url": RESPONSE_URL,
            "actions": [{
                "type": "button",
                "block_id": "keyward_decision",
                "action_id": action_id,
                "text": { "type": "plain_text", "text": "Approve all" },
                "value": value,
                "style": "primary",
                "action_ts": "1531420620.123456"
            }]
        })
        .to_string()
    }

    fn body_of(payload_json: &str) -> Vec<u8> {
        format!("payload={}", encode_form_component(payload_json)).into_bytes()
    }

    #[test]
    fn each_button_parses_to_its_kind_and_approval_id() {
        for (action_id, kind) in [
            (ACTION_APPROVE_ALL, SlackActionKind::ApproveAll),
            (ACTION_REJECT_ALL, SlackActionKind::RejectAll),
            (ACTION_REVIEW, SlackActionKind::Review),
        ] {
            let interaction = parse_interaction(&body_of(&payload(action_id, APPROVAL_ID))).unwrap();
            assert_eq!(
                interaction,
                Interaction {
                    user_id: "U2CERLKJA".to_owned(),
                    team_id: "T1DC2JH3J".to_owned(),
                    action: SlackAction { kind, approval_id: APPROVAL_ID.to_owned() },
                    response_url: Some(RESPONSE_URL.to_owned()),
                    message_ts: Some("1531420618.000200".to_owned()),
                }
            );
            assert_eq!(kind.action_id(), action_id);
            assert_eq!(SlackActionKind::from_action_id(action_id), Some(kind));
        }
    }

    #[test]
    fn a_verified_and_parsed_request_round_trips_through_sign() {
        let body = body_of(&payload(ACTION_APPROVE_ALL, APPROVAL_ID));
        let signature = sign(DOC_SECRET, DOC_TIMESTAMP, &body);
        assert_eq!(
            verify_signature(DOC_SECRET, Some("1531420618"), Some(&signature), &body, at(DOC_TIMESTAMP)),
            Ok(())
        );
        assert_eq!(parse_interaction(&body).unwrap().action.kind, SlackActionKind::ApproveAll);
    }

    #[test]
    fn minimal_payload_without_optional_fields_parses() {
        let json = r#"{"type":"block_actions","user":{"id":"U1","team_id":"T1"},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#;
        let interaction = parse_interaction(&body_of(json)).unwrap();
        assert_eq!(interaction.team_id, "T1");
        assert_eq!(interaction.response_url, None);
        assert_eq!(interaction.message_ts, None);
        assert_eq!(interaction.action.approval_id, "abc");
    }

    #[test]
    fn message_ts_falls_back_to_the_message() {
        let json = r#"{"type":"block_actions","user":{"id":"U1"},"team":{"id":"T1"},"message":{"ts":"1.2"},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#;
        let interaction = parse_interaction(&body_of(json)).unwrap();
        assert_eq!(interaction.message_ts.as_deref(), Some("1.2"));
    }

    #[test]
    fn a_click_that_names_no_workspace_is_refused() {
        for json in [
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#,
            r#"{"type":"block_actions","user":{"id":"U1","team_id":""},"team":{"id":""},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#,
        ] {
            assert_eq!(parse_interaction(&body_of(json)), Err(InteractionError::MissingTeamId), "{json}");
        }
    }

    #[test]
    fn unknown_action_id_is_refused() {
        let result = parse_interaction(&body_of(&payload("delete_everything", APPROVAL_ID)));
        assert_eq!(result, Err(InteractionError::UnknownAction { action_id: "delete_everything".to_owned() }));
    }

    #[test]
    fn button_without_value_is_refused() {
        let json = r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"keyward_approve_all"}]}"#;
        assert_eq!(parse_interaction(&body_of(json)), Err(InteractionError::MissingApprovalId));
        assert_eq!(
            parse_interaction(&body_of(&payload(ACTION_APPROVE_ALL, ""))),
            Err(InteractionError::MissingApprovalId)
        );
    }

    #[test]
    fn zero_or_two_actions_are_refused() {
        let none = r#"{"type":"block_actions","user":{"id":"U1"},"actions":[]}"#;
        assert_eq!(parse_interaction(&body_of(none)), Err(InteractionError::ActionCount { count: 0 }));
        let absent = r#"{"type":"block_actions","user":{"id":"U1"}}"#;
        assert_eq!(parse_interaction(&body_of(absent)), Err(InteractionError::ActionCount { count: 0 }));
        let two = r#"{"type":"block_actions","user":{"id":"U1"},"actions":[
            {"action_id":"keyward_review","value":"a"},{"action_id":"keyward_approve_all","value":"a"}]}"#;
        assert_eq!(parse_interaction(&body_of(two)), Err(InteractionError::ActionCount { count: 2 }));
    }

    #[test]
    fn other_interaction_types_are_refused() {
        let json = r#"{"type":"view_submission","user":{"id":"U1"}}"#;
        assert_eq!(
            parse_interaction(&body_of(json)),
            Err(InteractionError::UnsupportedType { kind: "view_submission".to_owned() })
        );
    }

    #[test]
    fn empty_user_id_is_refused() {
        let json =
            r#"{"type":"block_actions","user":{"id":""},"actions":[{"action_id":"keyward_review","value":"a"}]}"#;
        assert_eq!(parse_interaction(&body_of(json)), Err(InteractionError::MissingUserId));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(
            parse_interaction(b"payload=%7B%zz"),
            Err(InteractionError::Form(FormError::InvalidPercentEscape { offset: 11 }))
        );
        assert_eq!(parse_interaction(b""), Err(InteractionError::MissingPayload));
        assert_eq!(parse_interaction(b"token=abc&type=block_actions"), Err(InteractionError::MissingPayload));
        let twice =
            [body_of(&payload(ACTION_REVIEW, "a")), b"&".to_vec(), body_of(&payload(ACTION_APPROVE_ALL, "a"))].concat();
        assert_eq!(parse_interaction(&twice), Err(InteractionError::DuplicatePayload));
    }

    #[test]
    fn malformed_json_is_refused_without_echoing_it() {
        for json in [
            "{not json",
            "[]",
            r#"{"type":"block_actions"}"#,
            r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"value":"SECRET-VALUE"}]}"#,
        ] {
            let error = parse_interaction(&body_of(json)).unwrap_err();
            assert!(matches!(error, InteractionError::MalformedJson { .. }), "{json}: {error:?}");
            assert!(!error.to_string().contains("SECRET-VALUE"));
        }
    }

    #[test]
    fn debug_of_an_interaction_redacts_approval_id_and_response_url() {
        let interaction = parse_interaction(&body_of(&payload(ACTION_APPROVE_ALL, APPROVAL_ID))).unwrap();
        let debug = format!("{interaction:?}");
        assert!(!debug.contains(APPROVAL_ID), "{debug}");
        assert!(!debug.contains("hooks.slack.com"), "{debug}");
        assert!(debug.contains("U2CERLKJA") && debug.contains("ApproveAll"), "{debug}");
    }

    #[test]
    fn listed_user_is_an_approver() {
        let allowlist = vec!["U1".to_owned(), "U2CERLKJA".to_owned()];
        assert!(is_approver("U2CERLKJA", &allowlist));
    }

    #[test]
    fn unlisted_or_empty_user_is_not_an_approver() {
        let allowlist = vec!["U1".to_owned()];
        assert!(!is_approver("U2", &allowlist));
        assert!(!is_approver("u1", &allowlist));
        assert!(!is_approver("", &allowlist));
        assert!(!is_approver("", &[String::new()]));
    }

    #[test]
    fn empty_allowlist_denies_everyone() {
        assert!(!is_approver("U2CERLKJA", &[]));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_interaction(&body);
        }
    }
}
