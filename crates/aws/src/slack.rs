//! The Slack incoming webhook (and interaction `response_url`) client ([`SlackWebhook`] implements
//! [`Slack`]).
//!
//! A webhook URL is a secret: it never appears in an error or a log line. TLS is rustls with the
//! aws-lc-rs provider and the platform's root certificates (reqwest's `rustls` feature picks the
//! provider itself, so nothing has to be installed process-wide).

use std::time::Duration;

use keyward_core::ports::{PortError, Slack};

use crate::error::error_chain;

/// The whole-request timeout of one post.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response body is kept in the error message (Slack answers with a short
/// code such as `invalid_payload` or `no_service`).
const MAX_ERROR_BODY: usize = 200;

const OPERATION: &str = "SlackWebhook";

/// A Slack webhook client; build it once per process and share it.
#[derive(Debug, Clone)]
pub struct SlackWebhook {
    client: reqwest::Client,
}

impl SlackWebhook {
    /// A client with a 10 s timeout that does not follow redirects (a webhook never redirects;
    /// following one would send the payload elsewhere).
    pub fn new() -> Result<SlackWebhook, PortError> {
        let client =
            reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build().map_err(
                |e| PortError::Failed {
                    operation: OPERATION,
                    message: format!("cannot build the HTTP client: {}", error_chain(&e.without_url())),
                },
            )?;
        Ok(SlackWebhook { client })
    }
}

/// `message` with every trace of `url` (the whole URL, and its path, which holds the secret)
/// replaced.
fn redact(message: String, url: &str) -> String {
    let mut message = message;
    if !url.is_empty() {
        message = message.replace(url, "<webhook>");
    }
    if let Ok(parsed) = reqwest::Url::parse(url) {
        let path = parsed.path();
        if path.len() > 1 {
            message = message.replace(path, "/<redacted>");
        }
    }
    message
}

/// The first bytes of a response body, as printable text.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned()
}

impl Slack for SlackWebhook {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), PortError> {
        let response = self.client.post(url).json(payload).send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            let message = format!("{kind}: {}", error_chain(&e.without_url()));
            PortError::Failed { operation: OPERATION, message: redact(message, url) }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = error_body(response).await;
        let message = if body.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {body}", status.as_u16())
        };
        Err(PortError::Failed { operation: OPERATION, message: redact(message, url) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_url_and_its_path() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXX";
        let message = format!("failed for {url} and /services/T000/B000/XXXX");
        let redacted = redact(message, url);
        assert!(!redacted.contains("XXXX"), "{redacted}");
    }

    #[test]
    fn the_client_builds_with_the_platform_verifier() {
        assert!(SlackWebhook::new().is_ok());
    }
}
