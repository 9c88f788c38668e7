//! keyward's secrets: the one JSON secret in AWS Secrets Manager that `KEYWARD_SECRET_ARN` names
//! (README, "Deploy"), read once at init by the functions that use it and parsed here into
//! [`KeywardSecrets`]. Its text is a JSON object of strings, one key per secret ([`keys`]); a key
//! left out is a secret not configured. A key keyward does not know is refused by name (a typo
//! would otherwise leave Slack silently off). No value ever appears in an error or a `Debug`.
//!
//! Adding a secret is three lines: its name in [`keys`] (and [`keys::ALL`]), its field in
//! [`KeywardSecrets`], its arm in [`parse`].

use std::fmt;

use serde_json::Value;

use crate::config::Secret;

/// The keys of keyward's secret.
pub mod keys {
    /// Slack's signing secret: verifies Slack interactivity requests (the approval function).
    pub const SLACK_SIGNING_SECRET: &str = "slack_signing_secret";
    /// Slack's incoming webhook URL: where notify also posts (notify).
    pub const SLACK_WEBHOOK_URL: &str = "slack_webhook_url";
    /// keyward's client secret at the OpenID provider (`APPROVER_AUTH=oidc`): the approval
    /// function authenticates its token requests with it.
    pub const OIDC_CLIENT_SECRET: &str = "oidc_client_secret";
    /// Every key, as an error lists them.
    pub const ALL: [&str; 3] = [SLACK_SIGNING_SECRET, SLACK_WEBHOOK_URL, OIDC_CLIENT_SECRET];
}

/// The secrets keyward read from its secret; each `None` when its key is absent (or no secret is
/// configured: [`KeywardSecrets::default`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywardSecrets {
    /// `slack_signing_secret`: without it, Slack's buttons are refused.
    pub slack_signing_secret: Option<Secret>,
    /// `slack_webhook_url`: without it, nothing goes to Slack.
    pub slack_webhook_url: Option<WebhookUrl>,
    /// `oidc_client_secret`: without it, the approval function does not start under `oidc`.
    pub oidc_client_secret: Option<Secret>,
}

/// A Slack incoming-webhook URL: `https://` and a host, or a loopback `http://` URL (the local
/// stack). It is a secret (whoever holds it can post to the channel): it never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Secret);

impl WebhookUrl {
    /// The URL, when it is one keyward posts to; otherwise [`SecretsError::Invalid`] naming the
    /// key `slack_webhook_url` (without the value).
    pub fn parse(url: &str) -> Result<WebhookUrl, SecretsError> {
        // A URL with nothing after the scheme is not a webhook.
        if url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty()) || crate::config::is_loopback_http(url) {
            Ok(WebhookUrl(Secret::new(url)))
        } else {
            Err(SecretsError::Invalid {
                key: keys::SLACK_WEBHOOK_URL,
                expected: "an https:// Slack incoming-webhook URL",
            })
        }
    }

    /// The URL itself, for the one place that posts to it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(***)")
    }
}

/// Why the secret's text is not keyward's secret. Names the key and what it takes, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// Not JSON at all (the position only: serde_json's message could quote the text).
    #[error(
        "it is not JSON (line {line}, column {column}): store a JSON object such as {{\"slack_webhook_url\": \"https://…\"}}"
    )]
    NotJson { line: usize, column: usize },
    /// JSON, but not an object.
    #[error("it is JSON but not an object: store a JSON object of strings, one key per secret")]
    NotAnObject,
    /// A key keyward does not read (a typo, most likely).
    #[error("it has the key {key:?}, which keyward does not read: the keys are {known}")]
    UnknownKey { key: String, known: String },
    /// A key whose value is not a string.
    #[error("its key {key:?} is not a string: each value is a JSON string")]
    NotAString { key: &'static str },
    /// A key whose value is a string keyward cannot use.
    #[error("its key {key:?} is not valid: expected {expected}")]
    Invalid { key: &'static str, expected: &'static str },
}

/// Parses the secret's text (its `SecretString`).
pub fn parse(text: &str) -> Result<KeywardSecrets, SecretsError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| SecretsError::NotJson { line: e.line(), column: e.column() })?;
    let Value::Object(object) = value else { return Err(SecretsError::NotAnObject) };
    let mut secrets = KeywardSecrets::default();
    for (key, value) in &object {
        match key.as_str() {
            keys::SLACK_SIGNING_SECRET => {
                secrets.slack_signing_secret = Some(signing_secret(string_of(keys::SLACK_SIGNING_SECRET, value)?)?);
            }
            keys::SLACK_WEBHOOK_URL => {
                secrets.slack_webhook_url = Some(WebhookUrl::parse(string_of(keys::SLACK_WEBHOOK_URL, value)?)?);
            }
            keys::OIDC_CLIENT_SECRET => {
                let text = string_of(keys::OIDC_CLIENT_SECRET, value)?;
                if text.is_empty() {
                    return Err(SecretsError::Invalid {
                        key: keys::OIDC_CLIENT_SECRET,
                        expected: "the client secret the OpenID provider gave keyward, not empty",
                    });
                }
                secrets.oidc_client_secret = Some(Secret::new(text));
            }
            // The key is shown only when it reads as a key: a value pasted in a key's place stays out of the logs.
            _ => return Err(SecretsError::UnknownKey { key: shown_key(key), known: keys::ALL.join(", ") }),
        }
    }
    Ok(secrets)
}

/// An unknown key as an error may show it: itself when it is a short `[a-z0-9_]` word, like every
/// key keyward reads, else only its length.
fn shown_key(key: &str) -> String {
    if key.len() <= 40 && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        key.to_owned()
    } else {
        format!("<a key of {} characters that is not a key name>", key.chars().count())
    }
}

/// The value of `key`, trimmed: a string, or [`SecretsError::NotAString`].
fn string_of<'v>(key: &'static str, value: &'v Value) -> Result<&'v str, SecretsError> {
    value.as_str().map(str::trim).ok_or(SecretsError::NotAString { key })
}

fn signing_secret(text: &str) -> Result<Secret, SecretsError> {
    if text.is_empty() {
        return Err(SecretsError::Invalid {
            key: keys::SLACK_SIGNING_SECRET,
            expected: "the Slack app's signing secret (Basic Information, App Credentials), not empty",
        });
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HOOK: &str = "https://hooks.slack.com/services/T0/B0/HOOKVALUE";

    #[test]
    fn both_keys_are_read_and_a_missing_key_is_a_secret_not_configured() {
        let both =
            parse(&format!(r#"{{"slack_signing_secret": " SIGNVALUE ", "slack_webhook_url": "{HOOK}"}}"#)).unwrap();
        assert_eq!(both.slack_signing_secret.unwrap().expose(), "SIGNVALUE");
        assert_eq!(both.slack_webhook_url.unwrap().expose(), HOOK);
        let webhook_only = parse(&format!(r#"{{"slack_webhook_url": "{HOOK}"}}"#)).unwrap();
        assert!(webhook_only.slack_signing_secret.is_none());
        assert_eq!(parse("{}").unwrap(), KeywardSecrets::default());
    }

    #[test]
    fn an_unknown_key_is_refused_by_name_with_the_keys_keyward_reads() {
        let err = parse(r#"{"slack_webhok_url": "SECRETVALUE"}"#).unwrap_err().to_string();
        assert!(err.contains("\"slack_webhok_url\""), "{err}");
        assert!(err.contains("slack_signing_secret, slack_webhook_url, oidc_client_secret"), "{err}");
        assert!(!err.contains("SECRETVALUE"), "{err}");
        // A value pasted where a key goes is not echoed.
        let err = parse(r#"{"xoxb-SECRETVALUE": "x"}"#).unwrap_err().to_string();
        assert!(!err.contains("SECRETVALUE") && err.contains("16 characters"), "{err}");
    }

    #[test]
    fn text_that_is_not_a_json_object_of_strings_is_refused_without_its_value() {
        for (text, says) in [
            ("SECRETVALUE", "not JSON"),
            (r#"{"slack_signing_secret": "SECRETVALUE""#, "not JSON"),
            (r#"["SECRETVALUE"]"#, "not an object"),
            (r#""SECRETVALUE""#, "not an object"),
            (r#"{"slack_signing_secret": ["SECRETVALUE"]}"#, "\"slack_signing_secret\" is not a string"),
            (r#"{"slack_webhook_url": {"url": "SECRETVALUE"}}"#, "\"slack_webhook_url\" is not a string"),
            (r#"{"slack_webhook_url": null}"#, "\"slack_webhook_url\" is not a string"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("SECRETVALUE"), "{text}: {err}");
        }
    }

    #[test]
    fn a_webhook_takes_the_rules_of_a_slack_webhook_and_the_error_hides_it() {
        for url in [
            "ftp://hooks/T000/B000/SECRETVALUE",
            "https://",
            "http://hooks.slack.com/SECRETVALUE",
            "",
            // Cleartext to another machine, though it starts like the loopback.
            "http://localhost.evil.example/SECRETVALUE",
            "http://127.0.0.1.evil.example/SECRETVALUE",
        ] {
            let err = parse(&format!(r#"{{"slack_webhook_url": "{url}"}}"#)).unwrap_err();
            assert!(matches!(err, SecretsError::Invalid { key: keys::SLACK_WEBHOOK_URL, .. }), "{url}: {err}");
            assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
        }
        for url in [HOOK, "http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
            assert!(WebhookUrl::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn an_empty_signing_secret_is_refused() {
        let err = parse(r#"{"slack_signing_secret": "  "}"#).unwrap_err();
        assert!(matches!(err, SecretsError::Invalid { key: keys::SLACK_SIGNING_SECRET, .. }), "{err}");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let secrets = parse(&format!(
            r#"{{"slack_signing_secret": "SIGNVALUE", "slack_webhook_url": "{HOOK}", "oidc_client_secret": "OIDCVALUE"}}"#
        ))
        .unwrap();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("SIGNVALUE") && !shown.contains("HOOKVALUE"), "{shown}");
        assert!(!shown.contains("OIDCVALUE"), "{shown}");
    }

    #[test]
    fn the_oidc_client_secret_is_read_and_may_not_be_empty() {
        let secrets = parse(r#"{"oidc_client_secret": " OIDCVALUE "}"#).unwrap();
        assert_eq!(secrets.oidc_client_secret.unwrap().expose(), "OIDCVALUE");
        let err = parse(r#"{"oidc_client_secret": ""}"#).unwrap_err();
        assert!(matches!(err, SecretsError::Invalid { key: keys::OIDC_CLIENT_SECRET, .. }), "{err}");
    }
}
