//! The notification topic over SNS ([`SnsTopic`] implements [`Topic`]): publishing, and counting
//! the confirmed subscriptions (who a message reaches).
//!
//! SNS's rules for a subject (no line breaks or control characters, at most
//! [`MAX_SUBJECT_CHARS`]) are this adapter's knowledge, and [`subject_for_sns`] holds every
//! subject to them. The subjects keyward sends are shaped earlier, by `keyward_core::message`,
//! which chooses what fits (`keyward_core::message::MAX_SUBJECT_CHARS`, printable ASCII): that is
//! the one layer that shortens a subject. A compile-time check keeps its limit within SNS's, so
//! this adapter passes every subject the message builder makes unchanged; it only cuts a subject
//! from elsewhere, visibly (`…`) and with a warning in the log, never differently from the builder
//! without a word.

use aws_config::SdkConfig;
use keyward_core::ports::{PortError, Topic};

use crate::error::sdk_error;

/// What `ListSubscriptionsByTopic` puts in place of the ARN of a subscription nobody has confirmed
/// yet (an e-mail subscription until its confirmation link is followed), and of one being deleted.
const NOT_CONFIRMED: [&str; 2] = ["PendingConfirmation", "Deleted"];

/// The longest subject SNS accepts, in characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

// The message builder's subjects must reach SNS whole: were its limit above SNS's, this adapter
// would cut them in its own way.
const _: () = assert!(keyward_core::message::MAX_SUBJECT_CHARS <= MAX_SUBJECT_CHARS);

/// An SNS topic publisher.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
}

impl SnsTopic {
    /// A publisher over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig) -> SnsTopic {
        SnsTopic { client: aws_sdk_sns::Client::new(sdk) }
    }

    /// A publisher over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_sns::Client) -> SnsTopic {
        SnsTopic { client }
    }
}

/// A subject SNS accepts: line breaks and control characters become spaces (SNS refuses them),
/// and anything past [`MAX_SUBJECT_CHARS`] characters is cut on a character boundary, ending in
/// `…` so a reader sees it was cut, and logged as a warning (the message builder's subjects are
/// never cut here).
pub fn subject_for_sns(subject: &str) -> String {
    let clean: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    if clean.chars().count() <= MAX_SUBJECT_CHARS {
        return clean.to_owned();
    }
    let mut cut: String = clean.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    tracing::warn!(
        chars = clean.chars().count(),
        "subject longer than SNS accepts; cut to {MAX_SUBJECT_CHARS} characters"
    );
    cut
}

impl Topic for SnsTopic {
    async fn publish(&self, topic_arn: &str, subject: &str, text: &str) -> Result<String, PortError> {
        let subject = subject_for_sns(subject);
        let mut request = self.client.publish().topic_arn(topic_arn).message(text);
        // SNS refuses an empty subject; no subject is allowed.
        if !subject.is_empty() {
            request = request.subject(subject);
        }
        let output = request.send().await.map_err(|e| sdk_error("Publish", &e))?;
        output
            .message_id
            .ok_or(PortError::Failed { operation: "Publish", message: "the response carried no MessageId".into() })
    }

    async fn confirmed_subscriptions(&self, topic_arn: &str) -> Result<u32, PortError> {
        let mut confirmed = 0;
        let mut next_token = None;
        loop {
            let page = self
                .client
                .list_subscriptions_by_topic()
                .topic_arn(topic_arn)
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("ListSubscriptionsByTopic", &e))?;
            let arns = page.subscriptions().iter().filter_map(|s| s.subscription_arn());
            let on_page = u32::try_from(arns.filter(|arn| !NOT_CONFIRMED.contains(arn)).count()).unwrap_or(u32::MAX);
            confirmed = on_page.saturating_add(confirmed);
            match page.next_token {
                Some(token) if token.is_empty() => return Ok(confirmed),
                // A token that does not move would page forever.
                Some(token) if next_token.as_deref() == Some(token.as_str()) => {
                    return Err(PortError::Failed {
                        operation: "ListSubscriptionsByTopic",
                        message: "the same NextToken came back twice: paging would never end".into(),
                    });
                }
                Some(token) => next_token = Some(token),
                None => return Ok(confirmed),
            }
        }
    }
}
