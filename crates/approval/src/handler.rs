//! The approval function's entry point, behind a Lambda Function URL
//! (docs/architecture.md, "Approval"). Three routes:
//!
//! - `GET|HEAD /approvals/{id}`: the confirm page. No side effect, however often it is fetched, so
//!   mail scanners that pre-fetch links decide nothing (`form`).
//! - `POST /approvals/{id}`: the confirm page's form decides (approve the ticked keys, or reject all).
//! - `POST /slack/actions`: Slack's Approve all / Reject all / Review buttons, signed by Slack and
//!   pressed by a listed approver (`slack`).
//!
//! A leading run of `/` counts as one (the Function URL ends with `/`; see `collapse_leading_slashes`).
//! Both ways of deciding go through the single-use protocol of `decide`; a refusal is a `refusal`.
//! The handler never fails and never panics: every outcome is a response. The approval id, the task
//! token, the form token and the signing secret are never logged; logs carry an id-hash prefix.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, Secret, vars};
use keyward_core::ports::{ApprovalStore, ObjectStore, Slack, TaskCallback};
use keyward_core::run_store::RunStore;
use keyward_core::secrets::KeywardSecrets;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::form::{decide_by_form, show};
use crate::page;
use crate::refusal::respond;
use crate::response::{html, method_not_allowed};
use crate::slack::slack_action;

/// The prefix of the local stack's links: `cargo lambda watch` serves each function's URL under
/// `/lambda-url/<function>/`, and tools/keyward_local/settings.py sets `KEYWARD_APPROVAL_BASE_URL`
/// to `http://127.0.0.1:<LAMBDA_PORT>/lambda-url/approval`. cargo-lambda 1.9.2 (pinned in
/// requirements.lock) removes the prefix from `rawPath` before it invokes the function (its
/// `trigger_router::extract_path_parameters`; checked with a function that echoes its path), so
/// under today's local stack this never matches. It stays because removing it would change the
/// answer to a prefixed path (the page today, 404 then), which `local_stack_prefix_is_stripped`
/// asserts. In AWS the path starts at `/`.
const LOCAL_STACK_PREFIX: &str = "/lambda-url/approval";
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
        })
    }
}

/// Ports and settings, built once per instance in main.rs; tests pass fakes.
pub struct Deps<S, A, C, K> {
    /// The run reports, in this stack's report bucket only.
    pub runs: RunStore<S>,
    /// The approvals table.
    pub approvals: A,
    /// Step Functions task-token callbacks.
    pub callbacks: C,
    /// Slack `response_url` posts.
    pub slack: K,
    /// What the configuration says.
    pub settings: Settings,
}

/// Handles one Function URL request at `now`. Always returns a response; see the module
/// documentation for routes.
pub async fn handle<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K: Slack>(
    deps: &Deps<S, A, C, K>,
    now: DateTime<Utc>,
    request: Request,
) -> Response<Body> {
    let method = request.method().clone();
    let mut response = match route(request.uri().path()) {
        Route::Approval(id_text) if method == Method::GET || method == Method::HEAD => {
            respond(show(deps, now, id_text).await)
        }
        Route::Approval(id_text) if method == Method::POST => {
            respond(decide_by_form(deps, now, id_text, &request).await)
        }
        Route::Approval(_) => method_not_allowed("GET, HEAD, POST"),
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
    response
}

enum Route<'p> {
    Approval(&'p str),
    SlackActions,
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    let path = collapse_leading_slashes(path);
    let path = match path.strip_prefix(LOCAL_STACK_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    if path == SLACK_ACTIONS_PATH {
        Route::SlackActions
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
