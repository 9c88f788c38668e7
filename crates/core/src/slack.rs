//! Slack interactivity: the v0 request signature check, the `application/x-www-form-urlencoded`
//! body decoder, the parts of the `block_actions` payload keyward reads (the Approve all / Reject
//! all / Review buttons), and the approver allowlist.
//!
//! Everything here is a pure function: time is a parameter, nothing reads the clock, nothing logs.
//! Errors and `Debug` output never carry the signing secret, the expected signature, an approval
//! id or a `response_url`.

use std::fmt;

use chrono::{DateTime, Utc};
use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Name of the header carrying the request time in unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Name of the header carrying `v0=` + hex HMAC-SHA256 of the request.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// Largest accepted distance, in seconds and in either direction, between the request timestamp
/// and now. Slack recommends five minutes; it bounds how long a captured request can be replayed.
pub const MAX_REQUEST_AGE_SECONDS: u64 = 300;

/// `action_id` of the "Approve all" button.
pub const ACTION_APPROVE_ALL: &str = "keyward_approve_all";
/// `action_id` of the "Reject all" button.
pub const ACTION_REJECT_ALL: &str = "keyward_reject_all";
/// `action_id` of the "Review" button (opens the confirm page; decides nothing by itself).
pub const ACTION_REVIEW: &str = "keyward_review";

const SIGNATURE_PREFIX: &str = "v0=";
const SIGNATURE_HEX_LEN: usize = 64;
/// Unix seconds have 10 digits until the year 2286; 18 digits always fit in an `i64`.
const MAX_TIMESTAMP_DIGITS: usize = 18;
const PAYLOAD_FIELD: &str = "payload";
const BLOCK_ACTIONS: &str = "block_actions";

/// Why a Slack request was refused. Messages name the header at fault and never contain the
/// signing secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The configured signing secret is empty: every request is refused rather than accepting
    /// signatures anyone could compute.
    #[error("the Slack signing secret is empty; refusing every request")]
    EmptySecret,
    /// No `X-Slack-Request-Timestamp` header.
    #[error("missing X-Slack-Request-Timestamp header")]
    MissingTimestamp,
    /// No `X-Slack-Signature` header.
    #[error("missing X-Slack-Signature header")]
    MissingSignature,
    /// `X-Slack-Request-Timestamp` is not a non-negative integer number of seconds.
    #[error("X-Slack-Request-Timestamp is not unix time in seconds")]
    MalformedTimestamp,
    /// `X-Slack-Signature` is not `v0=` followed by 64 hex digits.
    #[error("X-Slack-Signature is not `v0=` followed by 64 hex digits")]
    MalformedSignature,
    /// The timestamp is more than [`MAX_REQUEST_AGE_SECONDS`] away from now. `age_seconds` is now
    /// minus the timestamp: negative when the timestamp is in the future.
    #[error("X-Slack-Request-Timestamp is {age_seconds} s from now; at most 300 s either way is accepted")]
    Stale {
        /// Now minus the request timestamp, in seconds (negative: in the future).
        age_seconds: i64,
    },
    /// The signature is well-formed and fresh but does not match this body under our secret.
    #[error("X-Slack-Signature does not match the request")]
    Mismatch,
}

/// Checks a Slack interactivity request, per Slack's "Verifying requests from Slack" (v0).
///
/// Inputs: the app's signing secret, the two header values as received (`None` when absent), the
/// raw body bytes exactly as received (before any decoding), and the current time.
/// Accepts (`Ok(())`) only when both headers are present and well-formed, the timestamp is within
/// [`MAX_REQUEST_AGE_SECONDS`] of `now` (exactly 300 s is accepted), and
/// `HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)` equals the presented signature, compared
/// in constant time. Checks run in the order of the [`SignatureError`] variants.
pub fn verify_signature(
    signing_secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    raw_body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    if signing_secret.is_empty() {
        return Err(SignatureError::EmptySecret);
    }
    let timestamp_text = timestamp_header.ok_or(SignatureError::MissingTimestamp)?;
    let signature_text = signature_header.ok_or(SignatureError::MissingSignature)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    let presented = parse_signature(signature_text)?;

    let age_seconds = now.timestamp().saturating_sub(timestamp);
    if age_seconds.unsigned_abs() > MAX_REQUEST_AGE_SECONDS {
        return Err(SignatureError::Stale { age_seconds });
    }

    // The MAC covers the header text as received, so leading zeros are signed as Slack sent them.
    signature_mac(signing_secret, timestamp_text, raw_body)
        .verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp` (unix seconds):
/// `v0=` + lowercase hex HMAC-SHA256. For tests and the local demo, which play Slack's part.
pub fn sign(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = signature_mac(signing_secret, &timestamp.to_string(), body).finalize().into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

fn signature_mac(signing_secret: &[u8], timestamp_text: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = hmac_sha256(signing_secret);
    mac.update(b"v0:");
    mac.update(timestamp_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// An HMAC-SHA256 instance keyed with `key` of any length.
///
/// The key is brought to one SHA-256 block as RFC 2104 §2 says (hashed when longer than a block,
/// zero-padded when shorter) so that construction is infallible: `new_from_slice` never fails for
/// HMAC but returns a `Result`, which would need an `expect` on the invocation path.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block.iter_mut().zip(digest.iter()).for_each(|(b, d)| *b = *d);
    } else {
        block.iter_mut().zip(key.iter()).for_each(|(b, k)| *b = *k);
    }
    <Hmac<Sha256> as KeyInit>::new(&block)
}

fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    let all_digits = !text.is_empty() && text.len() <= MAX_TIMESTAMP_DIGITS && text.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        return Err(SignatureError::MalformedTimestamp);
    }
    text.parse().map_err(|_| SignatureError::MalformedTimestamp)
}

fn parse_signature(text: &str) -> Result<[u8; 32], SignatureError> {
    let hex_part = text.strip_prefix(SIGNATURE_PREFIX).ok_or(SignatureError::MalformedSignature)?;
    if hex_part.len() != SIGNATURE_HEX_LEN {
        return Err(SignatureError::MalformedSignature);
    }
    let mut tag = [0_u8; 32];
    hex::decode_to_slice(hex_part, &mut tag).map_err(|_| SignatureError::MalformedSignature)?;
    Ok(tag)
}

/// Why an `application/x-www-form-urlencoded` body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent escape at byte {offset} of the form body")]
    InvalidPercentEscape {
        /// Byte offset of the `%` in the raw body.
        offset: usize,
    },
    /// A name or value is not UTF-8 once decoded.
    #[error("a form field is not valid UTF-8 once decoded")]
    NotUtf8,
}

/// Decodes an `application/x-www-form-urlencoded` body into `(name, value)` pairs, in order.
///
/// Follows the WHATWG URL standard's parser: pairs split on `&` (empty pairs skipped), name and
/// value split on the first `=` (a pair without `=` has an empty value), `+` becomes a space,
/// `%XX` becomes the byte `0xXX`. Stricter than the standard on purpose: an invalid percent escape
/// or a result that is not UTF-8 is an error rather than being passed through or replaced.
/// Repeated names are all returned; the caller decides what a duplicate means.
pub fn decode_form_urlencoded(raw: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut fields = Vec::new();
    let mut pair_offset = 0;
    for pair in raw.split(|&b| b == b'&') {
        if !pair.is_empty() {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            let value_offset = pair_offset + name.len() + 1;
            fields.push((percent_decode(name, pair_offset)?, percent_decode(value, value_offset)?));
        }
        pair_offset += pair.len() + 1;
    }
    Ok(fields)
}

/// Encodes one name or value for an `application/x-www-form-urlencoded` body: ASCII letters,
/// digits and `*-._` stay, a space becomes `+`, every other byte becomes `%XX` (uppercase hex).
/// The inverse of the decoding in [`decode_form_urlencoded`]; used by tests and the local demo to
/// build the body Slack would send (`payload=` + encoded JSON).
pub fn encode_form_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn percent_decode(bytes: &[u8], base_offset: usize) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_value);
                let low = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(FormError::InvalidPercentEscape { offset: base_offset + i });
                };
                out.push(high << 4 | low);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

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
    /// Their Slack handle (`user.username`, else `user.name`), for "decided by"; `None` if absent.
    pub user_name: Option<String>,
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
            .field("user_name", &self.user_name)
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
    #[serde(default)]
    actions: Vec<PayloadAction>,
    response_url: Option<String>,
    container: Option<PayloadContainer>,
    message: Option<PayloadMessage>,
}

#[derive(Deserialize)]
struct PayloadUser {
    id: String,
    username: Option<String>,
    name: Option<String>,
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
/// keyward button that was pressed. Call only after [`verify_signature`] accepted the same bytes.
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

    let user_name = parsed.user.username.filter(|n| !n.is_empty()).or(parsed.user.name.filter(|n| !n.is_empty()));
    let message_ts = parsed.container.and_then(|c| c.message_ts).or_else(|| parsed.message.and_then(|m| m.ts));
    Ok(Interaction {
        user_id: parsed.user.id,
        user_name,
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
    use chrono::TimeZone;
    use proptest::prelude::*;

    // Slack's documented example ("Verifying requests from Slack").
    const DOC_SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: i64 = 1_531_420_618;
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    const APPROVAL_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const RESPONSE_URL: &str = "https://hooks.slack.com/actions/T1DC2JH3J/1234567890/abcDEFghiJKL";

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().unwrap()
    }

    fn verify_doc(
        secret: &[u8],
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_signature(secret, timestamp, signature, body.as_bytes(), at(now))
    }

    #[test]
    fn sign_matches_slacks_documented_example() {
        assert_eq!(sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.as_bytes()), DOC_SIGNATURE);
    }

    #[test]
    fn slacks_documented_example_is_accepted() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP + 10);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn uppercase_hex_signature_is_accepted() {
        let upper = format!("v0={}", DOC_SIGNATURE.trim_start_matches("v0=").to_uppercase());
        assert_eq!(verify_doc(DOC_SECRET, Some("1531420618"), Some(&upper), DOC_BODY, DOC_TIMESTAMP), Ok(()));
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let tampered = DOC_BODY.replace("roadrunner", "coyote");
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), &tampered, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::Mismatch));
    }

    #[test]
    fn one_extra_byte_of_body_is_a_mismatch() {
        let longer = format!("{DOC_BODY} ");
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), &longer, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::Mismatch));
    }

    #[test]
    fn signature_for_another_timestamp_is_a_mismatch() {
        // GIVEN a signature made at T WHEN it is replayed with the header changed to T+1
        let result = verify_doc(DOC_SECRET, Some("1531420619"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP);
        // THEN it does not verify
        assert_eq!(result, Err(SignatureError::Mismatch));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let result = verify_doc(b"another-secret", Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::Mismatch));
    }

    #[test]
    fn empty_secret_refuses_even_a_matching_signature() {
        let signature = sign(b"", DOC_TIMESTAMP, DOC_BODY.as_bytes());
        let result = verify_doc(b"", Some("1531420618"), Some(&signature), DOC_BODY, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::EmptySecret));
    }

    #[test]
    fn request_exactly_300_s_old_is_accepted() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP + 300);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn request_exactly_300_s_in_the_future_is_accepted() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP - 300);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn request_301_s_old_is_stale() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP + 301);
        assert_eq!(result, Err(SignatureError::Stale { age_seconds: 301 }));
    }

    #[test]
    fn request_301_s_in_the_future_is_stale() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP - 301);
        assert_eq!(result, Err(SignatureError::Stale { age_seconds: -301 }));
    }

    #[test]
    fn huge_timestamp_is_stale_without_overflow() {
        let result = verify_doc(DOC_SECRET, Some("999999999999999999"), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP);
        assert!(matches!(result, Err(SignatureError::Stale { age_seconds }) if age_seconds < 0));
    }

    #[test]
    fn missing_timestamp_header_is_refused() {
        let result = verify_doc(DOC_SECRET, None, Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::MissingTimestamp));
    }

    #[test]
    fn missing_signature_header_is_refused() {
        let result = verify_doc(DOC_SECRET, Some("1531420618"), None, DOC_BODY, DOC_TIMESTAMP);
        assert_eq!(result, Err(SignatureError::MissingSignature));
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for timestamp in
            ["", "abc", "-1531420618", "+1531420618", " 1531420618", "1531420618.5", "1e9", "9999999999999999999"]
        {
            let result = verify_doc(DOC_SECRET, Some(timestamp), Some(DOC_SIGNATURE), DOC_BODY, DOC_TIMESTAMP);
            assert_eq!(result, Err(SignatureError::MalformedTimestamp), "timestamp {timestamp:?}");
        }
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let hex = DOC_SIGNATURE.trim_start_matches("v0=");
        let cases = [
            hex.to_owned(),                 // no v0=
            format!("v1={hex}"),            // another version
            format!("V0={hex}"),            // prefix is case-sensitive
            format!("v0={}", &hex[..62]),   // too short
            format!("v0={hex}00"),          // too long
            format!("v0={}zz", &hex[..62]), // not hex
            "v0=".to_owned(),               // empty
            String::new(),
        ];
        for signature in cases {
            let result = verify_doc(DOC_SECRET, Some("1531420618"), Some(&signature), DOC_BODY, DOC_TIMESTAMP);
            assert_eq!(result, Err(SignatureError::MalformedSignature), "signature {signature:?}");
        }
    }

    #[test]
    fn error_messages_never_contain_the_secret_or_the_expected_signature() {
        let secret = "s3cr3t-signing-secret";
        let expected = sign(secret.as_bytes(), DOC_TIMESTAMP, b"body");
        let errors = [
            SignatureError::EmptySecret,
            SignatureError::MissingTimestamp,
            SignatureError::MissingSignature,
            SignatureError::MalformedTimestamp,
            SignatureError::MalformedSignature,
            verify_signature(secret.as_bytes(), Some("1"), Some(&expected), b"body", at(DOC_TIMESTAMP)).unwrap_err(),
            verify_signature(
                secret.as_bytes(),
                Some("1531420618"),
                Some(&sign(b"other", DOC_TIMESTAMP, b"body")),
                b"body",
                at(DOC_TIMESTAMP),
            )
            .unwrap_err(),
        ];
        for error in errors {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(secret), "{text}");
                assert!(!text.contains(expected.trim_start_matches("v0=")), "{text}");
            }
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_for_short_and_longer_than_block_keys() {
        let short = hmac_sha256(b"Jefe").chain_update(b"what do ya want for nothing?").finalize().into_bytes();
        assert_eq!(hex::encode(short), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long = hmac_sha256(&[0xaa; 131])
            .chain_update(b"Test Using Larger Than Block-Size Key - Hash Key First")
            .finalize()
            .into_bytes();
        assert_eq!(hex::encode(long), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn form_decoding_handles_plus_percent_and_empty_pairs() {
        let fields = decode_form_urlencoded(b"a=1+2&&b=%2Fx%2fy&flag&c=&=v&d=a=b&").unwrap();
        let expected = [("a", "1 2"), ("b", "/x/y"), ("flag", ""), ("c", ""), ("", "v"), ("d", "a=b")];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(fields, expected);
    }

    #[test]
    fn form_decoding_of_an_empty_body_is_empty() {
        assert_eq!(decode_form_urlencoded(b"").unwrap(), Vec::new());
    }

    #[test]
    fn form_decoding_reads_multibyte_utf8() {
        let fields = decode_form_urlencoded(b"name=Ren%C3%A9e").unwrap();
        assert_eq!(fields, vec![("name".to_owned(), "Renée".to_owned())]);
    }

    #[test]
    fn invalid_percent_escapes_are_errors_with_their_offset() {
        let cases: [(&[u8], usize); 5] =
            [(b"a=%", 2), (b"a=%4", 2), (b"a=%zz", 2), (b"ok=1&b%g1=2", 6), (b"a=1&b=x%2", 7)];
        for (body, offset) in cases {
            assert_eq!(decode_form_urlencoded(body), Err(FormError::InvalidPercentEscape { offset }), "{body:?}");
        }
    }

    #[test]
    fn form_fields_that_are_not_utf8_are_errors() {
        assert_eq!(decode_form_urlencoded(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(decode_form_urlencoded(b"a=\xff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode_form_component("aZ09*-._ /&=+%é"), "aZ09*-._+%2F%26%3D%2B%25%C3%A9");
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
                    user_name: Some("roadrunner".to_owned()),
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
        let json = r#"{"type":"block_actions","user":{"id":"U1","name":"wile"},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#;
        let interaction = parse_interaction(&body_of(json)).unwrap();
        assert_eq!(interaction.user_name.as_deref(), Some("wile"));
        assert_eq!(interaction.response_url, None);
        assert_eq!(interaction.message_ts, None);
        assert_eq!(interaction.action.approval_id, "abc");
    }

    #[test]
    fn message_ts_falls_back_to_the_message() {
        let json = r#"{"type":"block_actions","user":{"id":"U1"},"message":{"ts":"1.2"},"actions":[{"action_id":"keyward_review","value":"abc"}]}"#;
        let interaction = parse_interaction(&body_of(json)).unwrap();
        assert_eq!(interaction.message_ts.as_deref(), Some("1.2"));
        assert_eq!(interaction.user_name, None);
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
        fn signed_requests_verify_within_the_window(
            secret in proptest::collection::vec(any::<u8>(), 1..200),
            body in proptest::collection::vec(any::<u8>(), 0..500),
            timestamp in 0_i64..4_000_000_000,
            skew in -300_i64..=300,
        ) {
            let signature = sign(&secret, timestamp, &body);
            let header = timestamp.to_string();
            prop_assert_eq!(
                verify_signature(&secret, Some(&header), Some(&signature), &body, at(timestamp + skew)),
                Ok(())
            );
        }

        #[test]
        fn form_encoding_round_trips(name in ".*", value in ".*") {
            let body = format!("{}={}", encode_form_component(&name), encode_form_component(&value));
            prop_assert_eq!(decode_form_urlencoded(body.as_bytes()), Ok(vec![(name, value)]));
        }

        #[test]
        fn decoding_and_parsing_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_form_urlencoded(&body);
            let _ = parse_interaction(&body);
        }
    }
}
