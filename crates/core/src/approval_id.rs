//! Approval ids and the confirm-page form token (docs/architecture.md, "Approval").
//!
//! An approval id is a fresh 256-bit random value, written as 64 lowercase hex characters. It is the
//! capability in the approval link `{ApprovalBaseUrl}/approvals/{id}` and in the Slack buttons'
//! `value`: whoever holds it can decide. So it is stored nowhere: the `approvals` table is keyed by
//! [`ApprovalId::key_hash`] (SHA-256 of the id), `Debug` shows only a prefix of that hash, and there
//! is no `Display` or `Serialize`, so the id reaches text only through [`ApprovalId::link`] or
//! [`ApprovalId::expose_secret`]. The Step Functions task token is not derived from or stored in the
//! id; it stays in the table record.
//!
//! This module does not generate randomness: the caller passes 32 bytes from the OS
//! (`keyward-aws`), so everything here is deterministic and testable.

use std::fmt;

use hmac::Mac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::hmac_sha256;

/// Length of an approval id's text: 32 random bytes as lowercase hex.
pub const APPROVAL_ID_LEN: usize = 64;
/// Length of the hex `Debug` shows of [`ApprovalId::key_hash`]: enough to correlate, not to look up.
const DEBUG_HASH_PREFIX_LEN: usize = 8;
/// Domain separation for [`form_token`], so the tag can never equal an HMAC made for another use.
const FORM_TOKEN_CONTEXT: &[u8] = b"keyward-form:";

/// Why a text is not an approval id. Messages never quote the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalIdError {
    /// Not exactly [`APPROVAL_ID_LEN`] bytes long.
    #[error("an approval id has 64 characters, this one has {length}")]
    WrongLength {
        /// Length in bytes of the text presented.
        length: usize,
    },
    /// Right length, but a character other than `0-9` / `a-f`.
    #[error("an approval id is lowercase hexadecimal (0-9, a-f)")]
    NotLowercaseHex,
}

/// A 256-bit approval id, as 64 lowercase hex characters (URL-safe as is).
///
/// Equality is constant-time. `Debug` prints `ApprovalId(hash 1a2b3c4d…)`, never the id.
#[derive(Clone)]
pub struct ApprovalId(String);

impl ApprovalId {
    /// A new id from 32 bytes of OS randomness (the caller supplies them; this crate has no RNG).
    pub fn from_random_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }

    /// Validates an id presented by a client (the `{id}` path segment, a Slack button value).
    /// Accepts exactly 64 characters of `0-9a-f`; anything else, uppercase included, is an error.
    /// Run it before any lookup, so no arbitrary text reaches the table or a log.
    pub fn parse(text: &str) -> Result<Self, ApprovalIdError> {
        if text.len() != APPROVAL_ID_LEN {
            return Err(ApprovalIdError::WrongLength { length: text.len() });
        }
        if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ApprovalIdError::NotLowercaseHex);
        }
        Ok(Self(text.to_owned()))
    }

    /// The id text, for the one place that must carry it (a Slack button `value`). Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Lowercase hex SHA-256 of the id text: the `approvals` table key. Storing only this means a
    /// reader of the table cannot rebuild a link.
    pub fn key_hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The approval link, `{base_url}/approvals/{id}`; trailing `/` on `base_url` are dropped so
    /// `https://x/` and `https://x` give the same link.
    pub fn link(&self, base_url: &str) -> String {
        format!("{}/approvals/{}", base_url.trim_end_matches('/'), self.0)
    }
}

impl PartialEq for ApprovalId {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for ApprovalId {}

impl fmt::Debug for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = self.key_hash();
        write!(f, "ApprovalId(hash {}…)", hash.get(..DEBUG_HASH_PREFIX_LEN).unwrap_or_default())
    }
}

/// The hidden-field token of the confirm page's form: lowercase hex
/// HMAC-SHA256(key = the approval id text, message = `"keyward-form:" + record_nonce`).
///
/// `record_nonce` is a random value the notify function stores in the approval record (e.g. 16
/// random bytes as hex) and that only the GET of the confirm page turns into this token.
///
/// Why this and not a classic CSRF token:
/// - There is no session or cookie: the capability is the id in the URL, so a cross-site page
///   cannot borrow an approver's ambient authority. What remains to guard is "a POST made by
///   something that only has the link" (a replay, a crafted request, a tool that auto-submits),
///   so the POST must carry a value that only a rendered confirm page of this record contains.
/// - Keying with the id means the token needs both halves: the id (in the link, never stored) and
///   the nonce (in the record, never in the link). A reader of the table, which holds the nonce but
///   only the id's hash, cannot forge a token, and a blind POST to the link carries none. Whoever
///   can GET the page can read the token, though: a tool that renders the page and submits its
///   form is stopped only by the form itself (its default button rejects), not by this token.
/// - No extra server secret to provision, rotate or leak; the token dies with the record (TTL).
pub fn form_token(id: &ApprovalId, record_nonce: &str) -> String {
    let mut mac = hmac_sha256(id.0.as_bytes());
    mac.update(FORM_TOKEN_CONTEXT);
    mac.update(record_nonce.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` (the form's hidden field) is [`form_token`]`(id, record_nonce)`, compared in
/// constant time. Fails closed: an empty `record_nonce` (a record written without one) never
/// verifies, nor does any text other than the exact lowercase hex token.
pub fn verify_form_token(id: &ApprovalId, record_nonce: &str, presented: &str) -> bool {
    if record_nonce.is_empty() {
        return false;
    }
    let expected = form_token(id, record_nonce);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BYTES: [u8; 32] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xf0, 0xe1,
        0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0xff,
    ];
    const TEXT: &str = "000102030405060708090a0b0c0d0e0ff0e1d2c3b4a5968778695a4b3c2d1eff";

    fn id() -> ApprovalId {
        ApprovalId::from_random_bytes(BYTES)
    }

    #[test]
    fn id_from_random_bytes_is_64_lowercase_hex() {
        assert_eq!(id().expose_secret(), TEXT);
        assert_eq!(ApprovalId::from_random_bytes([0xff; 32]).expose_secret(), "f".repeat(64));
    }

    #[test]
    fn different_bytes_give_different_ids() {
        assert_ne!(ApprovalId::from_random_bytes([1; 32]), ApprovalId::from_random_bytes([2; 32]));
    }

    #[test]
    fn parse_accepts_what_from_random_bytes_writes() {
        assert_eq!(ApprovalId::parse(TEXT).unwrap(), id());
    }

    #[test]
    fn parse_refuses_wrong_lengths() {
        assert_eq!(ApprovalId::parse(""), Err(ApprovalIdError::WrongLength { length: 0 }));
        assert_eq!(ApprovalId::parse(&TEXT[..63]), Err(ApprovalIdError::WrongLength { length: 63 }));
        assert_eq!(ApprovalId::parse(&format!("{TEXT}0")), Err(ApprovalIdError::WrongLength { length: 65 }));
        assert_eq!(ApprovalId::parse(&format!("{TEXT}/")), Err(ApprovalIdError::WrongLength { length: 65 }));
    }

    #[test]
    fn parse_refuses_non_lowercase_hex() {
        let uppercase = TEXT.to_uppercase();
        let with_g = format!("g{}", &TEXT[1..]);
        let with_dot = format!("../{}", &TEXT[3..]);
        let with_space = format!(" {}", &TEXT[1..]);
        let with_percent = format!("%2e{}", &TEXT[3..]);
        for text in [uppercase, with_g, with_dot, with_space, with_percent] {
            assert_eq!(ApprovalId::parse(&text), Err(ApprovalIdError::NotLowercaseHex), "{text}");
        }
        // 32 two-byte characters: 64 bytes, not 64 hex digits.
        assert_eq!(ApprovalId::parse(&"é".repeat(32)), Err(ApprovalIdError::NotLowercaseHex));
        assert_eq!(ApprovalId::parse(&"é".repeat(64)), Err(ApprovalIdError::WrongLength { length: 128 }));
    }

    #[test]
    fn parse_errors_do_not_quote_the_text() {
        let text = format!("Z{}", &TEXT[1..]);
        let error = ApprovalId::parse(&text).unwrap_err();
        assert!(!error.to_string().contains(&TEXT[1..]));
        assert!(!format!("{error:?}").contains(&TEXT[1..]));
    }

    #[test]
    fn key_hash_is_sha256_hex_of_the_id_text() {
        // sha256("abc"), FIPS 180-2, checks the encoding; then the id's own hash is 64 hex and stable.
        assert_eq!(
            hex::encode(Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let hash = id().key_hash();
        assert_eq!(hash, hex::encode(Sha256::digest(TEXT.as_bytes())));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, TEXT);
        assert_eq!(hash, ApprovalId::parse(TEXT).unwrap().key_hash());
        assert_ne!(hash, ApprovalId::from_random_bytes([0; 32]).key_hash());
    }

    #[test]
    fn link_joins_base_and_id_with_one_slash() {
        let expected = format!("https://approve.example.com/prod/approvals/{TEXT}");
        assert_eq!(id().link("https://approve.example.com/prod"), expected);
        assert_eq!(id().link("https://approve.example.com/prod/"), expected);
        assert_eq!(id().link("https://approve.example.com/prod//"), expected);
        assert_eq!(id().link("http://127.0.0.1:9000"), format!("http://127.0.0.1:9000/approvals/{TEXT}"));
    }

    #[test]
    fn debug_shows_a_hash_prefix_and_never_the_id() {
        let debug = format!("{:?}", id());
        assert_eq!(debug, format!("ApprovalId(hash {}…)", &id().key_hash()[..8]));
        assert!(!debug.contains(TEXT));
        assert!(!debug.contains(&TEXT[..8]));
        let nested = format!("{:?}", Some(vec![id()]));
        assert!(!nested.contains(TEXT));
        let pretty = format!("{:#?}", id());
        assert!(!pretty.contains(TEXT));
    }

    #[test]
    fn form_token_is_hmac_sha256_keyed_by_the_id_over_context_and_nonce() {
        let token = form_token(&id(), "nonce-1");
        let expected = hmac_sha256(TEXT.as_bytes()).chain_update(b"keyward-form:nonce-1").finalize().into_bytes();
        assert_eq!(token, hex::encode(expected));
        assert_eq!(token.len(), 64);
        assert!(!token.contains(TEXT));
    }

    #[test]
    fn form_token_depends_on_id_and_nonce() {
        let other_id = ApprovalId::from_random_bytes([7; 32]);
        assert_ne!(form_token(&id(), "nonce-1"), form_token(&id(), "nonce-2"));
        assert_ne!(form_token(&id(), "nonce-1"), form_token(&other_id, "nonce-1"));
        assert_eq!(form_token(&id(), "nonce-1"), form_token(&id(), "nonce-1"));
    }

    #[test]
    fn rendered_token_verifies() {
        let token = form_token(&id(), "a1b2c3");
        assert!(verify_form_token(&id(), "a1b2c3", &token));
    }

    #[test]
    fn token_for_another_record_or_nonce_does_not_verify() {
        let token = form_token(&id(), "a1b2c3");
        assert!(!verify_form_token(&id(), "a1b2c4", &token));
        assert!(!verify_form_token(&ApprovalId::from_random_bytes([7; 32]), "a1b2c3", &token));
    }

    #[test]
    fn altered_or_malformed_tokens_do_not_verify() {
        let token = form_token(&id(), "a1b2c3");
        let flipped = format!("{}{}", if token.starts_with('0') { "1" } else { "0" }, &token[1..]);
        for presented in [flipped, token.to_uppercase(), token[..63].to_owned(), format!("{token}0"), String::new()] {
            if presented == token {
                continue; // to_uppercase of an all-digit token; cannot happen with real tokens
            }
            assert!(!verify_form_token(&id(), "a1b2c3", &presented), "{presented}");
        }
    }

    #[test]
    fn empty_nonce_never_verifies() {
        let token = form_token(&id(), "");
        assert!(!verify_form_token(&id(), "", &token));
        assert!(!verify_form_token(&id(), "", ""));
    }

    proptest! {
        #[test]
        fn any_random_bytes_round_trip_through_parse(bytes in any::<[u8; 32]>()) {
            let id = ApprovalId::from_random_bytes(bytes);
            prop_assert_eq!(ApprovalId::parse(id.expose_secret()), Ok(id.clone()));
            let debug = format!("{:?}", id);
            prop_assert!(!debug.contains(id.expose_secret()));
        }

        #[test]
        fn parse_never_panics(text in ".*") {
            let _ = ApprovalId::parse(&text);
        }
    }
}
