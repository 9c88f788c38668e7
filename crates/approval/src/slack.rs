//! `POST /slack/actions`: Slack's Approve all / Reject all / Review buttons, in two invocations,
//! because Slack gives up on a click not answered within 3 seconds (and Lambda stops working on a
//! request once it has answered it; docs/functions.md, "Slack's 3-second deadline"):
//!
//! - the click ([`slack_action`]) checks what needs no AWS call and no network (Slack's signature
//!   within five minutes, the payload, a `response_url` on Slack's host), records that this signed
//!   request was accepted, with a ticket for its follow-up, queues a [`SlackFollowUp`] for this
//!   function (Lambda `Invoke`, `InvocationType=Event`) and answers an empty 200 at once, Slack's
//!   acknowledgement;
//! - the follow-up ([`slack_followup`]) checks it all again, since anyone allowed to invoke the
//!   function could send one, and takes the ticket: it decides only if Slack signed the request, the
//!   click queued it and no follow-up ran for it before, and a listed approver of keyward's Slack
//!   workspace pressed the button. Its outcome goes back through the `response_url` (replacing the
//!   buttons, or an ephemeral reply to the presser), and only to `SLACK_RESPONSE_URL_PREFIX`.
//!
//! A signed request is accepted once. Its signature stays valid for Slack's five minutes, so whoever
//! captured one (a proxy log, a leaked request) could post it again; the record `slack-request#…`
//! (`TokenStore`, live as long as the signature is) refuses that second POST with 403, and the
//! ticket `slack-followup#…` lets exactly one follow-up through.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::NamedError;
use keyward_core::ports::{
    ApprovalStore, Creation, DecisionStore, ObjectStore, PortError, SelfInvoke, Slack, TaskCallback, TokenStore,
};
use keyward_core::slack::{self, Interaction, SlackActionKind};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::decide::{Applied, Choice, Delivery, apply, pending_record, read_report};
use crate::handler::{Deps, Event};
use crate::page;
use crate::refusal::{Refusal, log_result};
use crate::response::{empty, plain};

/// A Slack click, as the click's invocation hands it to the follow-up: the request exactly as
/// Slack sent it, so that the follow-up verifies Slack's signature itself.
///
/// `Debug` shows none of it: the body holds the approval id and the `response_url`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackFollowUp {
    /// The raw body (form-urlencoded text), which the signature covers.
    pub body: String,
    /// `X-Slack-Request-Timestamp`, as received.
    pub timestamp: Option<String>,
    /// `X-Slack-Signature`, as received.
    pub signature: Option<String>,
}

impl fmt::Debug for SlackFollowUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackFollowUp").finish_non_exhaustive()
    }
}

/// Why a Slack request is refused before anything is looked up: the status the click answers
/// with, and the sentence.
struct Unverified(StatusCode, String);

/// `POST /slack/actions`: the click. Answers at once; the decision is the follow-up's.
pub(crate) async fn slack_action<S, A, C, K, L: SelfInvoke, T: TokenStore>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    request: &Request,
) -> Response<Body> {
    let header_text = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Ok(body) = String::from_utf8(request.body().to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "Refused: the interaction body is not UTF-8 text.");
    };
    let follow_up = SlackFollowUp {
        body,
        timestamp: header_text(slack::TIMESTAMP_HEADER),
        signature: header_text(slack::SIGNATURE_HEADER),
    };
    let interaction = match verify(deps, now, &follow_up) {
        Ok(interaction) => interaction,
        Err(Unverified(status, text)) => return plain(status, &text),
    };
    let Some(keys) = RequestKeys::of(&follow_up) else {
        return plain(StatusCode::UNAUTHORIZED, "Refused: the request's signature headers cannot be read.");
    };
    let review = interaction.action.kind == SlackActionKind::Review;
    if let Err(Unverified(status, text)) = accept_once(deps, now, &keys, review).await {
        return plain(status, &text);
    }
    if review {
        // The button opens the confirm page in the browser; the interaction itself decides nothing.
        return empty(StatusCode::OK);
    }
    let event = match serde_json::to_value(Event::SlackFollowup(follow_up)) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "Slack follow-up not serializable");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "The click could not be handled: nothing was decided.");
        }
    };
    match deps.self_invoke.invoke_event(&event).await {
        Ok(()) => empty(StatusCode::OK),
        Err(err) => {
            // Slack shows the presser that the click failed; the buttons stay, to press again.
            tracing::error!(error = err.error_name(), detail = %err, "Slack follow-up not queued");
            plain(StatusCode::SERVICE_UNAVAILABLE, "The click could not be handled: nothing was decided. Try again.")
        }
    }
}

/// The follow-up of a click: verified again, then decided by a listed approver; its outcome goes
/// to the `response_url`. A follow-up that does not verify decides and posts nothing (its
/// `response_url` is not to be trusted), and is logged.
pub(crate) async fn slack_followup<
    S: ObjectStore,
    A: ApprovalStore + DecisionStore,
    C: TaskCallback,
    K: Slack,
    L,
    T: TokenStore,
>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    follow_up: SlackFollowUp,
) {
    let interaction = match verify(deps, now, &follow_up) {
        Ok(interaction) => interaction,
        Err(Unverified(_, text)) => {
            tracing::warn!(refusal = %text, "Slack follow-up refused");
            if let Some(late) = signed_but_late(deps, &follow_up) {
                // Slack showed the click as taken: say it was not, or the approver waits for nothing.
                let text = "This click reached keyward more than 5 minutes after it was made, too late to be \
                            trusted: nothing was decided. Press the button again.";
                reply_ephemeral(deps, &late, text).await;
            }
            return;
        }
    };
    if interaction.action.kind == SlackActionKind::Review {
        return;
    }
    let Some(keys) = RequestKeys::of(&follow_up) else { return };
    match deps.tokens.take(&keys.ticket, now).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            // Not queued by an accepted click, or its follow-up already ran: a replay.
            tracing::warn!("Slack follow-up refused: no accepted click left a ticket for it");
            return;
        }
        Err(err) => {
            tracing::error!(error = err.error_name(), detail = %err, "Slack follow-up ticket not read");
            let text = "keyward could not reach its storage: nothing was decided. Press the button again.";
            reply_ephemeral(deps, &interaction, text).await;
            return;
        }
    }
    if !slack::is_approver(&interaction.user_id, &deps.settings.slack_approver_ids) {
        tracing::warn!(slack_user = %interaction.user_id, "Slack user is not an approver");
        let text = "You are not on this keyward's approver list (SLACK_APPROVER_IDS): nothing was decided.";
        reply_ephemeral(deps, &interaction, text).await;
        return;
    }
    if deps.settings.slack_team_id.as_deref() != Some(interaction.team_id.as_str()) {
        // A Slack app installed in several workspaces signs all their clicks with one secret.
        tracing::warn!(slack_team = %interaction.team_id, "Slack click from another workspace");
        let text = "This click comes from another Slack workspace than keyward's (SLACK_TEAM_ID): nothing was decided.";
        reply_ephemeral(deps, &interaction, text).await;
        return;
    }
    let Ok(id) = ApprovalId::parse(&interaction.action.approval_id) else {
        reply_ephemeral(deps, &interaction, "This approval is unknown: nothing was decided.").await;
        return;
    };
    let result = decide_by_slack(deps, now, &id, &interaction).await;
    log_result(&id, "slack decision", result.as_ref().map(|(applied, _)| applied.delivery.as_str()));
    match result {
        Ok((applied, execution_name)) => {
            let text = slack_outcome(&applied, &interaction.user_id, &execution_name);
            post(deps, &interaction, &json!({ "replace_original": true, "text": text }), "Slack message not updated")
                .await;
        }
        Err(refusal) => {
            let (heading, sentence) = refusal.explain();
            reply_ephemeral(deps, &interaction, &format!("{heading}. {sentence}")).await;
        }
    }
}

/// Where the token store keeps what is known of one signed request, and until when.
struct RequestKeys {
    /// `slack-request#<digest>`: the request was accepted; a second POST of it is a replay.
    seen: String,
    /// `slack-followup#<digest>`: the ticket its one follow-up takes.
    ticket: String,
    /// As long as the signature verifies: it verifies while now is at most 300 whole seconds
    /// from the timestamp, so until one second past that (the items are dead from then on).
    until: DateTime<Utc>,
}

impl RequestKeys {
    /// The keys of a request whose signature headers are present (always, once verified).
    fn of(follow_up: &SlackFollowUp) -> Option<RequestKeys> {
        let digest = slack::request_digest(follow_up.signature.as_deref()?);
        let signed_at = DateTime::<Utc>::from_timestamp(follow_up.timestamp.as_deref()?.parse().ok()?, 0)?;
        let window = i64::try_from(slack::MAX_REQUEST_AGE_SECONDS).ok()? + 1;
        Some(RequestKeys {
            seen: format!("slack-request#{digest}"),
            ticket: format!("slack-followup#{digest}"),
            until: signed_at + TimeDelta::seconds(window),
        })
    }
}

/// Records that the click's signed request was accepted, and (unless it is Review, which queues
/// nothing) its follow-up's ticket; refuses a request accepted before (403).
async fn accept_once<S, A, C, K, L, T: TokenStore>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    keys: &RequestKeys,
    review: bool,
) -> Result<(), Unverified> {
    let unavailable = |err: PortError| {
        tracing::error!(error = err.error_name(), detail = %err, "Slack request not recorded");
        let text = "The click could not be handled: nothing was decided. Try again.";
        Unverified(StatusCode::SERVICE_UNAVAILABLE, text.to_owned())
    };
    match deps.tokens.put_new(&keys.seen, "accepted", now, keys.until).await.map_err(unavailable)? {
        Creation::Created => {}
        Creation::AlreadyExists => {
            tracing::warn!("Slack request refused: already accepted once (a replay)");
            let text = "Refused: this signed request was already received once. Nothing was decided.";
            return Err(Unverified(StatusCode::FORBIDDEN, text.to_owned()));
        }
    }
    if !review {
        // Freshly accepted, so no ticket of this request exists yet.
        deps.tokens.put_new(&keys.ticket, "queued", now, keys.until).await.map_err(unavailable)?;
    }
    Ok(())
}

/// The interaction of a follow-up that Slack did sign, with an allowed `response_url`, but that runs
/// past the signature's 300 s window (Lambda queued the event that long): verified as at the moment
/// Slack signed it. Anything else (a forged or tampered follow-up, a rotated secret) is `None`.
fn signed_but_late<S, A, C, K, L, T>(deps: &Deps<S, A, C, K, L, T>, follow_up: &SlackFollowUp) -> Option<Interaction> {
    let signed_at = follow_up.timestamp.as_deref()?.parse::<i64>().ok()?;
    let signed_at = DateTime::<Utc>::from_timestamp(signed_at, 0)?;
    verify(deps, signed_at, follow_up).ok().filter(|i| i.action.kind != SlackActionKind::Review)
}

/// The checks of both invocations that need no AWS call and no network: a signing secret is
/// configured, Slack signed this body within five minutes, it is a keyward button press, and its
/// `response_url` is where answers may go.
fn verify<S, A, C, K, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    follow_up: &SlackFollowUp,
) -> Result<Interaction, Unverified> {
    let Some(secret) = deps.settings.slack_signing_secret.as_ref() else {
        let text = "Slack actions are not configured (keyward's secret has no slack_signing_secret).";
        return Err(Unverified(StatusCode::FORBIDDEN, text.to_owned()));
    };
    let body = follow_up.body.as_bytes();
    slack::verify_signature(
        secret.expose().as_bytes(),
        follow_up.timestamp.as_deref(),
        follow_up.signature.as_deref(),
        body,
        now,
    )
    .map_err(|err| {
        tracing::warn!(error = %err, "Slack request refused");
        Unverified(StatusCode::UNAUTHORIZED, format!("Refused: {err}."))
    })?;
    let interaction = slack::parse_interaction(body).map_err(|err| {
        tracing::warn!(error = %err, "Slack interaction refused");
        Unverified(StatusCode::BAD_REQUEST, format!("Refused: {err}."))
    })?;
    if interaction.action.kind != SlackActionKind::Review && response_url(deps, &interaction).is_none() {
        tracing::warn!("Slack interaction refused: its response_url is not an allowed one");
        let text = format!(
            "Refused: the interaction's response_url is not under {} (SLACK_RESPONSE_URL_PREFIX).",
            deps.settings.slack_response_url_prefix
        );
        return Err(Unverified(StatusCode::BAD_REQUEST, text));
    }
    Ok(interaction)
}

/// The lookups and the decision of a Slack button, by a listed approver.
async fn decide_by_slack<S: ObjectStore, A: ApprovalStore + DecisionStore, C: TaskCallback, K, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    id: &ApprovalId,
    interaction: &Interaction,
) -> Result<(Applied, String), Refusal> {
    let record = pending_record(&deps.approvals, id, now).await?;
    let report = read_report(&deps.runs, &record.run).await?;
    let decided_by = Approver::Slack { user_id: interaction.user_id.clone(), team_id: interaction.team_id.clone() };
    let choice = match interaction.action.kind {
        SlackActionKind::ApproveAll => {
            let every_key: Vec<String> = report.evaluation.plan.keys.iter().map(|k| k.key.selection()).collect();
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
    let applied = apply(deps, &record, choice).await?;
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
            "{decision} by <@{user_id}>. Run `{execution_name}` no longer waits for it, although the approval had not \
             expired: it received this decision already, or it was stopped. Its run report says which."
        ),
        Delivery::TooLate => format!(
            "{decision} by <@{user_id}>, but run `{execution_name}` had stopped waiting: the approval had expired and \
             nothing will be deactivated."
        ),
        Delivery::Failed => format!(
            "{decision} by <@{user_id}>, but the decision could not be delivered to run `{execution_name}`: nothing \
             will be deactivated by it."
        ),
    }
}

/// The interaction's `response_url`, if it is under `SLACK_RESPONSE_URL_PREFIX` (Slack's own host
/// unless the local stack says otherwise).
fn response_url<'i, S, A, C, K, L, T>(deps: &Deps<S, A, C, K, L, T>, interaction: &'i Interaction) -> Option<&'i str> {
    interaction.response_url.as_deref().filter(|url| url.starts_with(&deps.settings.slack_response_url_prefix))
}

/// Posts `payload` to the interaction's `response_url`; a failure is logged (`what`), as there is
/// no one else to tell.
async fn post<S, A, C, K: Slack, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    interaction: &Interaction,
    payload: &serde_json::Value,
    what: &'static str,
) {
    if let Some(url) = response_url(deps, interaction)
        && let Err(err) = deps.slack.post(url, payload).await
    {
        tracing::warn!(error = err.error_name(), detail = %err, "{what}");
    }
}

/// Tells only the person who pressed the button.
async fn reply_ephemeral<S, A, C, K: Slack, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    interaction: &Interaction,
    text: &str,
) {
    let payload = json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
    post(deps, interaction, &payload, "Slack reply not sent").await;
}
