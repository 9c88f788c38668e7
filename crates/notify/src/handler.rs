//! The notify handler: decodes a [`NotifyEvent`], renders the matching message from the run report
//! and delivers it. SNS is the channel of record: a failed publish fails the invocation (an approval
//! request must never be lost silently). Slack is best effort once SNS has the message.
//!
//! For an approval request (DESIGN.md §5) the handler draws a fresh 256-bit approval id, stores the
//! task token in the approvals table under the id's SHA-256 *before* anything is sent, and puts the
//! id only in the link and in the Slack buttons. Neither the id nor the task token is logged or
//! returned.

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::config::{Config, ConfigError, vars};
use keyward_core::contracts::{InvalidEvent, NotifyEvent, NotifyOutput, RunRef, decode};
use keyward_core::errors::{self, NamedError};
use keyward_core::message::{self, Message};
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, ObjectStore, PortError, Randomness, Slack, Topic,
};
use keyward_core::run_report::RunReport;
use serde_json::Value;

/// The outside world notify talks to.
pub struct NotifyPorts<T, S, K, A, R> {
    /// SNS, the channel of record.
    pub topic: T,
    /// The report bucket (run reports are read from it).
    pub store: S,
    /// The Slack incoming webhook.
    pub slack: K,
    /// The approvals table (task tokens, keyed by the approval id's hash).
    pub approvals: A,
    /// The source of approval ids and form nonces.
    pub random: R,
}

/// Why notify failed. Step Functions sees [`NamedError::error_name`], never this type's name.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The event does not match [`NotifyEvent`].
    #[error(transparent)]
    InvalidInput(#[from] InvalidEvent),
    /// A variable this function needs is missing or not valid.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// The run report is missing or unreadable.
    #[error("run report s3://{bucket}/{key} {reason}")]
    RunStateInvalid { bucket: String, key: String, reason: String },
    /// Reading the run report, drawing randomness or storing the approval request failed.
    #[error(transparent)]
    Aws(#[from] PortError),
    /// SNS did not take the message: nobody has been told.
    #[error("the notification was not delivered: {0}")]
    NotifyFailed(#[source] PortError),
}

impl NamedError for NotifyError {
    fn error_name(&self) -> &'static str {
        match self {
            NotifyError::InvalidInput(e) => e.error_name(),
            NotifyError::InvalidConfig(_) => errors::INVALID_CONFIG,
            NotifyError::RunStateInvalid { .. } => errors::RUN_STATE_INVALID,
            NotifyError::Aws(e) => e.error_name(),
            NotifyError::NotifyFailed(_) => errors::NOTIFY_FAILED,
        }
    }
}

/// Handles one notify invocation at `now`.
pub async fn handle<T, S, K, A, R>(
    ports: &NotifyPorts<T, S, K, A, R>,
    config: &Config,
    now: DateTime<Utc>,
    event: Value,
) -> Result<NotifyOutput, NotifyError>
where
    T: Topic,
    S: ObjectStore,
    K: Slack,
    A: ApprovalStore,
    R: Randomness,
{
    let event: NotifyEvent = decode(event)?;
    let topic_arn = Config::require(&config.topic_arn, vars::TOPIC_ARN)?;
    // Only this stack's runs: the run's bucket also goes into the approval record.
    let bucket = Config::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    if event.run().bucket != bucket {
        return Err(NotifyError::InvalidInput(InvalidEvent {
            contract: "NotifyEvent",
            message: format!("run.bucket {:?} is not this stack's report bucket", event.run().bucket),
        }));
    }
    let kind = kind_name(&event);
    let execution_name = event.run().execution_name.clone();

    let message = match &event {
        NotifyEvent::Clean { users_listed, evaluated_at, .. } => message::clean(*users_listed, *evaluated_at),
        NotifyEvent::Digest { run } => message::digest(&read_report(&ports.store, run).await?, &run.report_location()),
        NotifyEvent::Rejected { run } => {
            message::rejected(&read_report(&ports.store, run).await?, &run.report_location())
        }
        NotifyEvent::Expired { run } => {
            message::expired(&read_report(&ports.store, run).await?, &run.report_location())
        }
        NotifyEvent::Outcome { run } => {
            message::outcome(&read_report(&ports.store, run).await?, &run.report_location())
        }
        NotifyEvent::ApprovalRequest { run, task_token } => {
            request_approval(ports, config, now, run, task_token).await?
        }
    };

    let sns_message_id = ports.topic.publish(topic_arn, &message.subject, &message.text).await.map_err(|e| {
        tracing::error!(kind, execution_name, error = %e, "SNS publish failed; nobody was notified");
        NotifyError::NotifyFailed(e)
    })?;
    let slack_sent = post_to_slack(&ports.slack, config, &message, kind).await;
    tracing::info!(kind, execution_name, sns_message_id, slack_sent, subject = message.subject, "notified");
    Ok(NotifyOutput { sns_message_id: Some(sns_message_id), slack_sent })
}

/// Stores the pending approval (task token under the id's hash) and renders the request message.
async fn request_approval<T, S, K, A, R>(
    ports: &NotifyPorts<T, S, K, A, R>,
    config: &Config,
    now: DateTime<Utc>,
    run: &RunRef,
    task_token: &str,
) -> Result<Message, NotifyError>
where
    S: ObjectStore,
    A: ApprovalStore,
    R: Randomness,
{
    let base_url = Config::require(&config.approval_base_url, vars::APPROVAL_BASE_URL)?;
    let report = read_report(&ports.store, run).await?;
    let id = ApprovalId::from_random_bytes(ports.random.bytes32()?);
    let expires_at = now + TimeDelta::seconds(i64::from(config.approval_timeout_seconds));
    let record = ApprovalRecord {
        id_hash: id.key_hash(),
        task_token: task_token.to_owned(),
        run: run.clone(),
        form_nonce: hex::encode(ports.random.bytes32()?),
        created_at: now,
        expires_at,
        state: ApprovalState::Pending,
    };
    // Stored before anything is sent: a link must never point at a request that does not exist.
    ports.approvals.put_pending(&record).await?;
    // `?id` prints only a prefix of the id's hash (ApprovalId's Debug), never the id.
    tracing::info!(approval = ?id, %expires_at, execution_name = run.execution_name, "approval request stored");
    Ok(message::approval_request(&report, &run.report_location(), &id.link(base_url), id.expose_secret(), expires_at))
}

/// Posts to Slack when a webhook is configured; a failure is logged and reported as not sent.
async fn post_to_slack(slack: &impl Slack, config: &Config, message: &Message, kind: &str) -> bool {
    let Some(url) = &config.slack_webhook_url else { return false };
    match slack.post(url.expose(), &message.slack).await {
        Ok(()) => true,
        Err(e) => {
            // The webhook URL is a secret; an adapter error could quote it.
            let error = e.to_string().replace(url.expose(), "(webhook URL)");
            tracing::warn!(kind, error, "Slack post failed; the message went to SNS");
            false
        }
    }
}

/// Reads and parses the run report; a missing or unparseable report is [`NotifyError::RunStateInvalid`].
async fn read_report(store: &impl ObjectStore, run: &RunRef) -> Result<RunReport, NotifyError> {
    let key = run.report_key();
    let invalid =
        |reason: String| NotifyError::RunStateInvalid { bucket: run.bucket.clone(), key: key.clone(), reason };
    let bytes = store.get(&run.bucket, &key).await?.ok_or_else(|| invalid("does not exist".to_owned()))?;
    let report = RunReport::parse_for(&bytes, &run.execution_name).map_err(invalid)?;
    Ok(report)
}

fn kind_name(event: &NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Clean { .. } => "clean",
        NotifyEvent::Digest { .. } => "digest",
        NotifyEvent::ApprovalRequest { .. } => "approval-request",
        NotifyEvent::Rejected { .. } => "rejected",
        NotifyEvent::Expired { .. } => "expired",
        NotifyEvent::Outcome { .. } => "outcome",
    }
}
