//! `POST /slack/actions`: Slack's Approve all / Reject all / Review buttons. A request decides only
//! if Slack signed it (within five minutes) and a listed approver pressed the button; the answer
//! goes back through Slack's `response_url` (replacing the buttons, or an ephemeral reply to the
//! presser), and only to Slack's own host.

use chrono::{DateTime, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::NamedError;
use keyward_core::ports::{ApprovalStore, ObjectStore, Slack, TaskCallback};
use keyward_core::slack::{self, Interaction, SlackActionKind};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::decide::{Applied, Choice, Delivery, apply, pending_record, read_report};
use crate::handler::Deps;
use crate::page;
use crate::refusal::{Refusal, log_result};
use crate::response::{empty, plain, slack_json};

/// Only `response_url`s on Slack's own host are posted to.
const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

/// `POST /slack/actions`.
pub(crate) async fn slack_action<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K: Slack>(
    deps: &Deps<S, A, C, K>,
    now: DateTime<Utc>,
    request: &Request,
) -> Response<Body> {
    let Some(secret) = deps.settings.slack_signing_secret.as_ref() else {
        return plain(
            StatusCode::FORBIDDEN,
            "Slack actions are not configured (keyward's secret has no slack_signing_secret).",
        );
    };
    let header_text = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let body = request.body().as_ref();
    let signed = slack::verify_signature(
        secret.expose().as_bytes(),
        header_text(slack::TIMESTAMP_HEADER),
        header_text(slack::SIGNATURE_HEADER),
        body,
        now,
    );
    if let Err(err) = signed {
        tracing::warn!(error = %err, "Slack request refused");
        return plain(StatusCode::UNAUTHORIZED, &format!("Refused: {err}."));
    }
    let interaction = match slack::parse_interaction(body) {
        Ok(interaction) => interaction,
        Err(err) => {
            tracing::warn!(error = %err, "Slack interaction refused");
            return plain(StatusCode::BAD_REQUEST, &format!("Refused: {err}."));
        }
    };
    if interaction.action.kind == SlackActionKind::Review {
        // The button opens the confirm page in the browser; the interaction itself decides nothing.
        return empty(StatusCode::OK);
    }
    if !slack::is_approver(&interaction.user_id, &deps.settings.slack_approver_ids) {
        tracing::warn!(slack_user = %interaction.user_id, "Slack user is not an approver");
        let text = "You are not on this keyward's approver list (SLACK_APPROVER_IDS): nothing was decided.";
        reply_ephemeral(&deps.slack, &interaction, text).await;
        return slack_json(StatusCode::FORBIDDEN, text);
    }
    let Ok(id) = ApprovalId::parse(&interaction.action.approval_id) else {
        let text = "This approval is unknown: nothing was decided.";
        reply_ephemeral(&deps.slack, &interaction, text).await;
        return slack_json(StatusCode::OK, text);
    };
    let result = decide_by_slack(deps, now, &id, &interaction).await;
    log_result(&id, "slack decision", result.as_ref().map(|(applied, _)| applied.delivery.as_str()));
    match result {
        Ok((applied, execution_name)) => {
            let text = slack_outcome(&applied, &interaction.user_id, &execution_name);
            if let Some(url) = slack_response_url(&interaction) {
                let payload = json!({ "replace_original": true, "text": text });
                if let Err(err) = deps.slack.post(url, &payload).await {
                    tracing::warn!(error = err.error_name(), "Slack message not updated");
                }
            }
            empty(StatusCode::OK)
        }
        Err(refusal) => {
            let (heading, sentence) = refusal.explain();
            let text = format!("{heading}. {sentence}");
            reply_ephemeral(&deps.slack, &interaction, &text).await;
            slack_json(StatusCode::OK, &text)
        }
    }
}

/// The lookups and the decision of a Slack button, by a listed approver.
async fn decide_by_slack<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K>(
    deps: &Deps<S, A, C, K>,
    now: DateTime<Utc>,
    id: &ApprovalId,
    interaction: &Interaction,
) -> Result<(Applied, String), Refusal> {
    let record = pending_record(&deps.approvals, id, now).await?;
    let report = read_report(&deps.runs, &record.run).await?;
    let decided_by = Approver::SlackUser { id: interaction.user_id.clone(), name: interaction.user_name.clone() };
    let choice = match interaction.action.kind {
        SlackActionKind::ApproveAll => {
            let every_key: Vec<String> =
                report.evaluation.plan.keys.iter().map(|k| k.key.access_key_id.clone()).collect();
            if every_key.is_empty() {
                return Err(Refusal::NoKeyTicked);
            }
            Choice::Approve(Decision::from_approved_ids(&report.evaluation.plan, &every_key, decided_by, now)?)
        }
        SlackActionKind::RejectAll => Choice::Reject(
            Decision { approved: Vec::new(), decided_by, decided_at: now },
            format!("rejected in Slack by {}", interaction.user_id),
        ),
        SlackActionKind::Review => return Err(Refusal::BadForm("the Review button decides nothing")),
    };
    let applied = apply(deps, &record, report, choice).await?;
    Ok((applied, record.run.execution_name))
}

/// The text that replaces the buttons once decided. Slack user ids are `U…` (checked against the
/// allowlist) and execution names are `[A-Za-z0-9_-]`, so nothing here needs mrkdwn escaping.
fn slack_outcome(applied: &Applied, user_id: &str, execution_name: &str) -> String {
    let count = page::plural(applied.decision.approved.len(), "access key", "access keys");
    let decision = if applied.rejected { "Rejected".to_owned() } else { format!("Approved ({count})") };
    match applied.delivery {
        Delivery::Delivered if applied.rejected => {
            format!("Rejected by <@{user_id}>: nothing will be deactivated (run `{execution_name}`).")
        }
        Delivery::Delivered => format!(
            "Approved by <@{user_id}>: {count} of run `{execution_name}` will be deactivated, each re-checked live first."
        ),
        Delivery::TaskGone => format!(
            "{decision} by <@{user_id}>, but run `{execution_name}` had stopped waiting: the approval had expired and \
             nothing will be deactivated."
        ),
        Delivery::Failed => format!(
            "{decision} by <@{user_id}>, but the decision could not be delivered to run `{execution_name}`: nothing \
             will be deactivated by it."
        ),
    }
}

/// The interaction's `response_url`, if it is on Slack's own host.
fn slack_response_url(interaction: &Interaction) -> Option<&str> {
    interaction.response_url.as_deref().filter(|url| url.starts_with(SLACK_RESPONSE_URL_PREFIX))
}

/// Tells only the person who pressed the button (Slack shows no body of an interaction response).
async fn reply_ephemeral<K: Slack>(slack: &K, interaction: &Interaction, text: &str) {
    if let Some(url) = slack_response_url(interaction) {
        let payload = json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
        if let Err(err) = slack.post(url, &payload).await {
            tracing::warn!(error = err.error_name(), "Slack reply not sent");
        }
    }
}
