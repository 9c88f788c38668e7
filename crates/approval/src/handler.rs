//! The approval function's entry point, behind a Lambda Function URL
//! (docs/architecture.md, "Approval"). Four routes:
//!
//! - `GET|HEAD /approvals/{id}`: the confirm page. It decides nothing, however often it is fetched,
//!   so mail scanners that pre-fetch links decide nothing (`form`). Under `APPROVER_AUTH=oidc`
//!   without a session for this approval, it sends the browser to sign in (`session`).
//! - `POST /approvals/{id}`: the confirm page's form decides (approve the ticked keys, or reject
//!   all); under `oidc`, only with the approver's session.
//! - `GET /oidc/callback`: the OpenID provider's redirect back; it opens the session (`session`,
//!   `oidc`).
//! - `POST /slack/actions`: Slack's Approve all / Reject all / Review buttons, signed by Slack and
//!   pressed by a listed approver (`slack`). The click is answered at once; it is decided in the
//!   [`Event`] the function queues for itself, which [`handle_event`] takes.
//!
//! Before any route, `guard` refuses an oversized body or a POST from another site; every response
//! leaves through `response::harden`.
//!
//! A leading run of `/` counts as one (the Function URL ends with `/`; see `collapse_leading_slashes`).
//! Both ways of deciding go through the single-use protocol of `decide`; a refusal is a `refusal`.
//! The handler never fails and never panics: every outcome is a response. The approval id, the task
//! token, the form token and the signing secret are never logged; logs carry an id-hash prefix.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, Secret, vars};
use keyward_core::ports::{
    ApprovalStore, DecisionStore, ObjectStore, Randomness, SelfInvoke, Slack, TaskCallback, TokenStore,
};
use keyward_core::run_store::RunStore;
use keyward_core::secrets::KeywardSecrets;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::form::{decide_by_form, show};
use crate::guard;
use crate::oidc::ProviderClient;
use crate::page;
use crate::refusal::respond;
use crate::response::{harden, html, method_not_allowed};
use crate::session::{CALLBACK_PATH, SignIn, callback};
use crate::slack::{SlackFollowUp, slack_action, slack_followup};

const APPROVALS_PREFIX: &str = "/approvals/";
const SLACK_ACTIONS_PATH: &str = "/slack/actions";

/// What approval reads from the configuration, resolved once at init by [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// The report bucket (`KEYWARD_REPORT_BUCKET`): the only bucket whose run reports it reads and
    /// writes.
    pub report_bucket: String,
    /// The approvals table (`KEYWARD_APPROVALS_TABLE`), for the DynamoDB adapter main builds.
    pub approvals_table: String,
    /// Slack's signing secret (`slack_signing_secret` of keyward's secret); without it every
    /// `POST /slack/actions` is refused (403).
    pub slack_signing_secret: Option<Secret>,
    /// The Slack users whose buttons decide.
    pub slack_approver_ids: Vec<String>,
    /// Their Slack workspace (`SLACK_TEAM_ID`); a click from another is refused. Set whenever
    /// `slack_approver_ids` is (the configuration refuses one without the other).
    pub slack_team_id: Option<String>,
    /// Where a button's `response_url` may point (`SLACK_RESPONSE_URL_PREFIX`); a click whose
    /// `response_url` is elsewhere is refused, and the URL never called.
    pub slack_response_url_prefix: String,
    /// The function's own URL (`KEYWARD_APPROVAL_BASE_URL`) when the environment names it: the
    /// origin a POST must come from (`guard`); without it, the request's `Host` names it.
    pub approval_base_url: Option<String>,
}

impl Settings {
    /// The settings of `config` and keyward's secret (read at init). Fails when the report bucket
    /// or the approvals table is not configured; Slack stays optional.
    pub fn from_config(config: &Config, secrets: &KeywardSecrets) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            approvals_table: Config::require(&config.approvals_table, vars::APPROVALS_TABLE)?.to_owned(),
            slack_signing_secret: secrets.slack_signing_secret.clone(),
            slack_approver_ids: config.slack_approver_ids.clone(),
            slack_team_id: config.slack_team_id.clone(),
            slack_response_url_prefix: config.slack_response_url_prefix.clone(),
            approval_base_url: config.approval_base_url.clone(),
        })
    }
}

/// Ports and settings, built once per instance in main.rs; tests pass fakes.
pub struct Deps<S, A, C, K, L, T> {
    /// The run reports, in this stack's report bucket only.
    pub runs: RunStore<S>,
    /// The approvals table.
    pub approvals: A,
    /// Step Functions task-token callbacks.
    pub callbacks: C,
    /// Slack `response_url` posts.
    pub slack: K,
    /// The function's asynchronous invocation of itself, which decides a Slack click.
    pub self_invoke: L,
    /// Short-lived single-use items beside the approvals: each Slack request accepted once, its
    /// follow-up's ticket, and the sign-in's states and sessions.
    pub tokens: T,
    /// What the configuration says.
    pub settings: Settings,
}

/// Handles one Function URL request at `now`. Always returns a response; see the module
/// documentation for routes.
#[allow(clippy::too_many_arguments)]
pub async fn handle<
    S: ObjectStore,
    A: ApprovalStore + DecisionStore,
    C: TaskCallback,
    K: Slack,
    L: SelfInvoke,
    T: TokenStore,
    R: Randomness,
    H: ProviderClient,
>(
    deps: &Deps<S, A, C, K, L, T>,
    sign_in: &SignIn<R, H>,
    now: DateTime<Utc>,
    request: Request,
) -> Response<Body> {
    if let Some(refused) = guard::refuse(&request, deps.settings.approval_base_url.as_deref()) {
        return harden(refused);
    }
    let method = request.method().clone();
    let mut response = match route(request.uri().path()) {
        Route::Approval(id_text) if method == Method::GET || method == Method::HEAD => {
            show(deps, sign_in, now, id_text, &request).await
        }
        Route::Approval(id_text) if method == Method::POST => {
            respond(decide_by_form(deps, sign_in, now, id_text, &request).await)
        }
        Route::Approval(_) => method_not_allowed("GET, HEAD, POST"),
        Route::OidcCallback if method == Method::GET => callback(&deps.tokens, sign_in, now, &request).await,
        Route::OidcCallback => method_not_allowed("GET"),
        Route::SlackActions if method == Method::POST => slack_action(deps, now, &request).await,
        Route::SlackActions => method_not_allowed("POST"),
        Route::Unknown => html(
            StatusCode::NOT_FOUND,
            page::notice("Not found", &["There is nothing at this address.".to_owned()], &[]),
        ),
    };
    if method == Method::HEAD {
        *response.body_mut() = Body::Empty;
    }
    harden(response)
}

/// An event the approval function queues for itself (Lambda `Invoke`, `InvocationType=Event`);
/// no Function URL request has its shape, `{"slack_followup": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A Slack click, to decide now that Slack has had its answer.
    SlackFollowup(SlackFollowUp),
}

/// Handles one of the function's own events at `now`. Never fails: the outcome is logged and told
/// to the approver through Slack.
pub async fn handle_event<
    S: ObjectStore,
    A: ApprovalStore + DecisionStore,
    C: TaskCallback,
    K: Slack,
    L,
    T: TokenStore,
>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    event: Event,
) {
    match event {
        Event::SlackFollowup(follow_up) => slack_followup(deps, now, follow_up).await,
    }
}

enum Route<'p> {
    Approval(&'p str),
    OidcCallback,
    SlackActions,
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    let path = collapse_leading_slashes(path);
    if path == SLACK_ACTIONS_PATH {
        Route::SlackActions
    } else if path == CALLBACK_PATH {
        Route::OidcCallback
    } else if let Some(id_text) = path.strip_prefix(APPROVALS_PREFIX) {
        Route::Approval(id_text)
    } else {
        Route::Unknown
    }
}

/// `path` with its leading run of `/` reduced to one. The Function URL (the stack's `ApprovalUrl`
/// output, `KEYWARD_APPROVAL_BASE_URL`) ends with `/`, so a link or a Slack Request URL written as
/// `{ApprovalUrl}/slack/actions` arrives as `//slack/actions`: Function URLs deliver the path as
/// typed (`rawPath`), and lambda_http keeps the `//`. Only the leading run collapses, because only
/// it carries nothing: every route starts with one `/` and a non-empty segment, so no two routes or
/// ids become equal. An interior `//` (`/approvals//{id}`, `/slack//actions`) is not what a
/// trailing slash produces; it stays a different address and is not found.
fn collapse_leading_slashes(path: &str) -> &str {
    let rest = path.trim_start_matches('/');
    if rest.len() < path.len() { &path[path.len() - rest.len() - 1..] } else { path }
}
