//! The notify handler: decodes a [`NotifyEvent`], renders the matching message from the run report
//! (and, for a deactivation that failed part-way, the run's deactivation journal) and delivers it. SNS is the channel of record: a failed publish fails the invocation (an approval
//! request must never be lost silently). Slack is best effort once SNS has the message.
//!
//! For an approval request (docs/architecture.md, "Approval") without Slack, the handler first
//! checks that the topic has a confirmed subscription: otherwise nobody could receive the request,
//! and it fails (`NotifyFailed`) instead of leaving the run waiting for a decision nobody can make.
//! Then it draws a fresh 256-bit approval id, stores the
//! task token in the approvals table under the id's SHA-256 *before* anything is sent, and puts the
//! id only in the link and in the Slack buttons. Neither the id nor the task token is logged or
//! returned.
//!
//! For a rejection, the decision recorded in the decisions table (written by the approval function
//! only) is copied into the run report, the audit record, before the message is rendered from it:
//! notify is the run report's last writer on the rejected path, as deactivate is on the approved one.

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::config::{ApproverAuth, Config, ConfigError, vars};
use keyward_core::contracts::{InvalidEvent, NotifyEvent, NotifyOutput, RunRef, decode};
use keyward_core::errors::{self, NamedError};
use keyward_core::journal::Journal;
use keyward_core::message::{self, Message};
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecisionOutcome, DecisionStore, ObjectStore, PortError, Randomness,
    Slack, Topic,
};
use keyward_core::run_report::RunReport;
use keyward_core::run_store::{RunStore, RunStoreError};
use keyward_core::secrets::{KeywardSecrets, WebhookUrl};
use serde_json::Value;

/// What notify reads from the configuration, resolved once at init by [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the run reports are.
    pub report_bucket: String,
    /// `KEYWARD_TOPIC_ARN`: the SNS topic, the channel of record.
    pub topic_arn: String,
    /// `KEYWARD_APPROVALS_TABLE`: where approval requests are stored.
    pub approvals_table: String,
    /// `KEYWARD_DECISIONS_TABLE`: where a rejection is read from, to be copied into the run report.
    pub decisions_table: String,
    /// `KEYWARD_APPROVAL_BASE_URL`: the approval function's URL, the base of every approval link.
    pub approval_base_url: String,
    /// `APPROVAL_TIMEOUT_SECONDS`: how long an approval request stays open.
    pub approval_timeout_seconds: u32,
    /// `slack_webhook_url` of keyward's secret: where messages also go, when set.
    pub slack_webhook_url: Option<WebhookUrl>,
    /// `APPROVER_AUTH`: what the approval request says about who can decide with its link.
    pub approver_auth: ApproverAuth,
}

impl Settings {
    /// The settings of `config` and keyward's secret (read at init); `InvalidConfig` naming the
    /// first of the report bucket, the topic, the approvals table, the decisions table and the
    /// approval base URL that is not set.
    pub fn from_config(config: &Config, secrets: &KeywardSecrets) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            topic_arn: Config::require(&config.topic_arn, vars::TOPIC_ARN)?.to_owned(),
            approvals_table: Config::require(&config.approvals_table, vars::APPROVALS_TABLE)?.to_owned(),
            decisions_table: Config::require(&config.decisions_table, vars::DECISIONS_TABLE)?.to_owned(),
            approval_base_url: Config::require(&config.approval_base_url, vars::APPROVAL_BASE_URL)?.to_owned(),
            approval_timeout_seconds: config.approval_timeout_seconds,
            slack_webhook_url: secrets.slack_webhook_url.clone(),
            approver_auth: config.approver_auth,
        })
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<T, S, K, A, R> {
    /// SNS, the channel of record.
    pub topic: T,
    /// The run reports in the report bucket.
    pub runs: RunStore<S>,
    /// The Slack incoming webhook.
    pub slack: K,
    /// The approvals table (task tokens, keyed by the approval id's hash) and the decisions table
    /// (read only: a rejection's record).
    pub approvals: A,
    /// The source of approval ids and form nonces.
    pub random: R,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why notify failed. Step Functions sees [`NamedError::error_name`], never this type's name.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The event does not match [`NotifyEvent`].
    #[error(transparent)]
    InvalidInput(#[from] InvalidEvent),
    /// The run is outside the report bucket (`InvalidInput`), its report is missing or unreadable
    /// (`RunStateInvalid`), or reading it failed (its name).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
    /// Drawing randomness or storing the approval request failed.
    #[error(transparent)]
    Aws(#[from] PortError),
    /// SNS did not take the message: nobody has been told.
    #[error("the notification was not delivered: {0}")]
    NotifyFailed(#[source] PortError),
    /// An approval request nobody can receive: the topic has no confirmed subscription and Slack
    /// is not configured. Nothing was stored or sent.
    #[error(
        "the approval request was not sent: the topic {topic_arn} has no confirmed subscription and no Slack: \
         nobody can receive the approval request (confirm a subscription to the topic, or configure Slack)"
    )]
    NobodyToAsk { topic_arn: String },
    /// An approval request that reached nobody: the topic has no confirmed subscription and the
    /// Slack post failed (logged just before). The run must not wait for a decision nobody was
    /// asked for.
    #[error(
        "the approval request reached nobody: the topic {topic_arn} has no confirmed subscription and the Slack \
         post failed (see the log line before; confirm a subscription to the topic, or fix the webhook)"
    )]
    NobodyReached { topic_arn: String },
}

impl NamedError for NotifyError {
    fn error_name(&self) -> &'static str {
        match self {
            NotifyError::InvalidInput(e) => e.error_name(),
            NotifyError::Runs(e) => e.error_name(),
            NotifyError::Aws(e) => e.error_name(),
            NotifyError::NotifyFailed(_) | NotifyError::NobodyToAsk { .. } | NotifyError::NobodyReached { .. } => {
                errors::NOTIFY_FAILED
            }
        }
    }
}

/// Handles one notify invocation at `now`.
pub async fn handle<T, S, K, A, R>(
    deps: &Deps<T, S, K, A, R>,
    now: DateTime<Utc>,
    event: Value,
) -> Result<NotifyOutput, NotifyError>
where
    T: Topic,
    S: ObjectStore,
    K: Slack,
    A: ApprovalStore + DecisionStore,
    R: Randomness,
{
    let event: NotifyEvent = decode(event)?;
    // Only this stack's runs, whatever the message: the run's bucket also goes into the approval record.
    deps.runs.check(event.run())?;
    let kind = kind_name(&event);
    let execution_name = event.run().execution_name.clone();

    // For an approval request: how many confirmed subscriptions the topic has (who SNS reaches).
    let mut subscribers = None;
    let message = match &event {
        NotifyEvent::Clean { users_listed, evaluated_at, .. } => message::clean(*users_listed, *evaluated_at),
        NotifyEvent::Digest { run } => message::digest(&deps.runs.read_report(run).await?, &run.report_location()),
        NotifyEvent::Rejected { run } => message::rejected(&record_rejection(deps, run).await?, &run.report_location()),
        NotifyEvent::Expired { run } => message::expired(&deps.runs.read_report(run).await?, &run.report_location()),
        NotifyEvent::Outcome { run } => message::outcome(&deps.runs.read_report(run).await?, &run.report_location()),
        NotifyEvent::DeactivationFailed { run, error } => {
            let report = deps.runs.read_report(run).await?;
            let journal = Journal::read(&deps.runs, run).await?;
            let journal_location = format!("s3://{}/{}deactivation/", run.bucket, run.prefix());
            message::deactivation_failed(&report, journal.as_ref(), error, &run.report_location(), &journal_location)
        }
        NotifyEvent::ApprovalRequest { run, task_token } => {
            subscribers = Some(someone_can_receive_it(deps).await?);
            request_approval(deps, now, run, task_token).await?
        }
    };

    let sns_message_id =
        deps.topic.publish(&deps.settings.topic_arn, &message.subject, &message.text).await.map_err(|e| {
            tracing::error!(kind, execution_name, error = %e, "SNS publish failed; nobody was notified");
            NotifyError::NotifyFailed(e)
        })?;
    let slack_sent = post_to_slack(&deps.slack, deps.settings.slack_webhook_url.as_ref(), &message, kind).await;
    if subscribers == Some(0) && !slack_sent {
        let topic_arn = deps.settings.topic_arn.clone();
        tracing::error!(kind, execution_name, topic_arn, "no confirmed subscription and the Slack post failed");
        return Err(NotifyError::NobodyReached { topic_arn });
    }
    tracing::info!(kind, execution_name, sns_message_id, slack_sent, subject = message.subject, "notified");
    Ok(NotifyOutput { sns_message_id: Some(sns_message_id), slack_sent })
}

/// The topic's confirmed subscriptions, the SNS side of who an approval request reaches (an e-mail
/// subscription stays pending until its link is followed). None and no Slack is
/// [`NotifyError::NobodyToAsk`], before anything is stored; none with Slack is checked after the
/// Slack post ([`NotifyError::NobodyReached`]).
async fn someone_can_receive_it<T: Topic, S, K, A, R>(deps: &Deps<T, S, K, A, R>) -> Result<u32, NotifyError> {
    let topic_arn = &deps.settings.topic_arn;
    let confirmed = deps.topic.confirmed_subscriptions(topic_arn).await?;
    if confirmed == 0 && deps.settings.slack_webhook_url.is_none() {
        tracing::error!(topic_arn, "no confirmed subscription and no Slack: nobody can receive the approval request");
        return Err(NotifyError::NobodyToAsk { topic_arn: topic_arn.clone() });
    }
    Ok(confirmed)
}

/// The run report with the rejection recorded in the decisions table copied into it (and written
/// back), so that the audit record says who rejected and when. A report that already holds a
/// decision (a retried notify) is left as it is; without a rejection of this run recorded (none, an
/// approval, or an earlier run's with the same name), nothing is written and the message says only
/// that the plan was rejected.
async fn record_rejection<T, S, K, A, R>(deps: &Deps<T, S, K, A, R>, run: &RunRef) -> Result<RunReport, NotifyError>
where
    S: ObjectStore,
    A: DecisionStore,
{
    let mut report = deps.runs.read_report(run).await?;
    if report.decision.is_some() {
        return Ok(report);
    }
    match deps.approvals.recorded(run).await? {
        // A decision made before this run was evaluated is an earlier run's with the same
        // execution name (allowed again 90 days on), never this run's.
        Some(recorded)
            if recorded.outcome == DecisionOutcome::Rejected
                && recorded.decision.decided_at >= report.evaluated_at() =>
        {
            report.decision = Some(recorded.decision);
            deps.runs.write_report(run, &report).await?;
        }
        recorded => {
            // Only the approval function records a decision, and it rejects before it says so:
            // a rejection without one was sent by someone else, and the audit record gets none.
            let outcome = recorded.map(|r| r.outcome.as_str());
            tracing::warn!(execution_name = run.execution_name, ?outcome, "no recorded rejection of this run");
        }
    }
    Ok(report)
}

/// Stores the pending approval (task token under the id's hash) and renders the request message.
async fn request_approval<T, S, K, A, R>(
    deps: &Deps<T, S, K, A, R>,
    now: DateTime<Utc>,
    run: &RunRef,
    task_token: &str,
) -> Result<Message, NotifyError>
where
    S: ObjectStore,
    A: ApprovalStore,
    R: Randomness,
{
    let report = deps.runs.read_report(run).await?;
    let id = ApprovalId::from_random_bytes(deps.random.bytes32()?);
    let expires_at = now + TimeDelta::seconds(i64::from(deps.settings.approval_timeout_seconds));
    let record = ApprovalRecord {
        id_hash: id.key_hash(),
        task_token: task_token.to_owned(),
        run: run.clone(),
        form_nonce: hex::encode(deps.random.bytes32()?),
        created_at: now,
        expires_at,
        state: ApprovalState::Pending,
    };
    // Stored before anything is sent: a link must never point at a request that does not exist.
    deps.approvals.put_pending(&record).await?;
    // `?id` prints only a prefix of the id's hash (ApprovalId's Debug), never the id.
    tracing::info!(approval = ?id, %expires_at, execution_name = run.execution_name, "approval request stored");
    let link = id.link(&deps.settings.approval_base_url);
    Ok(message::approval_request(
        &report,
        &run.report_location(),
        &link,
        id.expose_secret(),
        expires_at,
        deps.settings.approver_auth,
    ))
}

/// Posts to Slack when a webhook is configured; a failure is logged and reported as not sent.
async fn post_to_slack(slack: &impl Slack, webhook_url: Option<&WebhookUrl>, message: &Message, kind: &str) -> bool {
    let Some(url) = webhook_url else { return false };
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

fn kind_name(event: &NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Clean { .. } => "clean",
        NotifyEvent::Digest { .. } => "digest",
        NotifyEvent::ApprovalRequest { .. } => "approval-request",
        NotifyEvent::Rejected { .. } => "rejected",
        NotifyEvent::Expired { .. } => "expired",
        NotifyEvent::Outcome { .. } => "outcome",
        NotifyEvent::DeactivationFailed { .. } => "deactivation-failed",
    }
}
