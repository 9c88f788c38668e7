//! The v0 signature of a Slack request ("Verifying requests from Slack"): the check an
//! interactivity request must pass before its body is read, and the signing that tests and the local
//! demo use to play Slack's part.
//!
//! Time is a parameter. Errors never carry the signing secret or the expected signature.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::crypto::hmac_sha256;

/// Name of the header carrying the request time in unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Name of the header carrying `v0=` + hex HMAC-SHA256 of the request.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// Largest accepted distance, in seconds and in either direction, between the request timestamp
/// and now. Slack recommends five minutes; it bounds how long a captured request can be replayed.
pub const MAX_REQUEST_AGE_SECONDS: u64 = 300;

const SIGNATURE_PREFIX: &str = "v0=";
const SIGNATURE_HEX_LEN: usize = 64;
/// Unix seconds have 10 digits until the year 2286; 18 digits always fit in an `i64`.
const MAX_TIMESTAMP_DIGITS: usize = 18;

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

/// What names one signed request among all others, for the record that it was accepted (a replay
/// of it within [`MAX_REQUEST_AGE_SECONDS`] is then refused): the SHA-256, in hex, of its
/// `X-Slack-Signature` in lower case. The signature covers the timestamp and the body, so no two
/// requests share it; the hex digits are lowered because [`verify_signature`] accepts either case,
/// and a replay with upper-case digits is the same request.
pub fn request_digest(signature_header: &str) -> String {
    hex::encode(Sha256::digest(signature_header.to_ascii_lowercase().as_bytes()))
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
    fn a_request_and_its_upper_case_replay_share_one_digest_and_no_other_request_does() {
        let upper = format!("v0={}", DOC_SIGNATURE.trim_start_matches("v0=").to_uppercase());
        assert_eq!(request_digest(DOC_SIGNATURE), request_digest(&upper));
        assert_eq!(request_digest(DOC_SIGNATURE).len(), 64);
        let other = sign(DOC_SECRET, DOC_TIMESTAMP + 1, DOC_BODY.as_bytes());
        assert_ne!(request_digest(DOC_SIGNATURE), request_digest(&other));
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
    }
}
