//! Request handling of the approval function (DESIGN §5), behind a Lambda Function URL:
//!
//! - `GET|HEAD /approvals/{id}`: the confirm page. No side effect, however often it is fetched, so
//!   mail scanners that pre-fetch links decide nothing.
//! - `POST /approvals/{id}`: the confirm page's form decides (approve the ticked keys, or reject all).
//! - `POST /slack/actions`: Slack's Approve all / Reject all / Review buttons, signed by Slack and
//!   pressed by a listed approver.
//!
//! A decision is applied in this order, so that it is single-use and a refusal changes nothing:
//! 1. everything that can be refused is checked first (link, expiry, state, form token or Slack
//!    signature and approver, keys in the plan);
//! 2. the conditional write moves the record from pending to decided (a second decision loses here);
//! 3. the decision is added to the run report (the audit record), before Step Functions moves on;
//! 4. Step Functions is told: SendTaskSuccess with the [`Decision`], or SendTaskFailure
//!    `ApprovalRejected`.
//!
//! The handler never fails and never panics: every outcome is a response. The approval id, the task
//! token, the form token and the signing secret are never logged; logs carry an id-hash prefix.

use chrono::{DateTime, Utc};
use keyward_core::approval_id::{self, ApprovalId};
use keyward_core::config::Config;
use keyward_core::contracts::{RunRef, is_valid_execution_name};
use keyward_core::decision::{Approver, Decision, DecisionError};
use keyward_core::errors::{self, NamedError};
use keyward_core::form;
use keyward_core::model::KeyRef;
use keyward_core::policy::PlanStatus;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, ObjectStore, PortError, Slack, TaskCallback,
};
use keyward_core::run_report::RunReport;
use keyward_core::slack::{self as slack_request, Interaction, SlackActionKind};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use crate::page::{self, Confirm, KeyList};

/// The local stack serves the function URL under this prefix; in AWS the path starts at `/`.
const LOCAL_STACK_PREFIX: &str = "/lambda-url/approval";
const APPROVALS_PREFIX: &str = "/approvals/";
const SLACK_ACTIONS_PATH: &str = "/slack/actions";
/// Only `response_url`s on Slack's own host are posted to.
const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Longest User-Agent kept in the audit record.
const MAX_USER_AGENT_CHARS: usize = 256;

/// The ports the approval function uses; main builds the AWS adapters once, tests pass fakes.
pub struct Ports<'a, S, A, C, K> {
    /// The report bucket (run reports).
    pub objects: &'a S,
    /// The approvals table.
    pub approvals: &'a A,
    /// Step Functions task-token callbacks.
    pub callbacks: &'a C,
    /// Slack `response_url` posts.
    pub slack: &'a K,
}

/// Handles one Function URL request at `now`. Reads `config.slack_signing_secret` and
/// `config.slack_approver_ids`. Always returns a response; see the module documentation for routes.
pub async fn handle<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K: Slack>(
    ports: &Ports<'_, S, A, C, K>,
    config: &Config,
    now: DateTime<Utc>,
    request: Request,
) -> Response<Body> {
    let method = request.method().clone();
    let mut response = match route(request.uri().path()) {
        Route::Approval(id_text) if method == Method::GET || method == Method::HEAD => {
            respond(show(ports, now, id_text).await)
        }
        Route::Approval(id_text) if method == Method::POST => {
            respond(decide_by_form(ports, now, id_text, &request).await)
        }
        Route::Approval(_) => method_not_allowed("GET, HEAD, POST"),
        Route::SlackActions if method == Method::POST => slack_action(ports, config, now, &request).await,
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

/// Why a request decides nothing. Each becomes a page (or a Slack reply) that says so.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("unknown approval link")]
    UnknownLink,
    #[error("the approval expired")]
    Expired { expires_at: DateTime<Utc> },
    #[error("the approval was already decided")]
    AlreadyDecided { state: Option<ApprovalState> },
    #[error("the form token does not verify")]
    BadFormToken,
    #[error("the request is not a form post")]
    NotAForm,
    #[error("the form is not valid: {0}")]
    BadForm(&'static str),
    #[error(transparent)]
    NotInPlan(#[from] DecisionError),
    #[error("no key was ticked")]
    NoKeyTicked,
    #[error(transparent)]
    Storage(#[from] PortError),
    #[error("the run report cannot be used: {0}")]
    RunState(String),
}

impl NamedError for Refusal {
    fn error_name(&self) -> &'static str {
        match self {
            Refusal::Storage(err) => err.error_name(),
            Refusal::RunState(_) => errors::RUN_STATE_INVALID,
            _ => errors::INVALID_INPUT,
        }
    }
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::UnknownLink => StatusCode::NOT_FOUND,
            Refusal::Expired { .. } => StatusCode::GONE,
            Refusal::AlreadyDecided { .. } => StatusCode::CONFLICT,
            Refusal::BadFormToken => StatusCode::FORBIDDEN,
            Refusal::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::BadForm(_) | Refusal::NotInPlan(_) | Refusal::NoKeyTicked => StatusCode::BAD_REQUEST,
            Refusal::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::RunState(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A heading and one sentence for people; every one says that nothing was decided.
    fn explain(&self) -> (&'static str, String) {
        match self {
            Refusal::UnknownLink => (
                "Unknown link",
                "This approval link is unknown: it may be mistyped, or so old that its record is gone. \
                 Nothing was decided."
                    .to_owned(),
            ),
            Refusal::Expired { expires_at } => (
                "This approval expired",
                format!(
                    "The link expired at {}: nothing was deactivated, and nothing can be decided with it any more. \
                     The next run proposes the keys again if they still break the policy.",
                    page::when(*expires_at)
                ),
            ),
            Refusal::AlreadyDecided { state } => ("Already decided", already_decided_sentence(state.as_ref())),
            Refusal::BadFormToken => (
                "This form is not valid for this approval",
                "Nothing was decided. Open the approval link again and decide on that page.".to_owned(),
            ),
            Refusal::NotAForm => {
                ("Not a form", "Decisions are made with the form of the approval page. Nothing was decided.".to_owned())
            }
            Refusal::BadForm(what) => ("The form could not be read", format!("{what}. Nothing was decided.")),
            Refusal::NotInPlan(err) => (
                "Key not in this run's plan",
                format!("The form names {}. Nothing was decided; open the approval link again.", not_in_plan(err)),
            ),
            Refusal::NoKeyTicked => {
                ("No key ticked", "Tick at least one key or use Reject all. Nothing was decided.".to_owned())
            }
            Refusal::Storage(_) => {
                ("keyward could not reach its storage", "Nothing was decided. Try again in a minute.".to_owned())
            }
            Refusal::RunState(_) => (
                "The run report cannot be read",
                "This approval's run report is missing or unreadable, so nothing can be decided with this link. \
                 Nothing was decided."
                    .to_owned(),
            ),
        }
    }
}

fn not_in_plan(err: &DecisionError) -> String {
    match err {
        DecisionError::NotInPlan { access_key_id } => format!("key {access_key_id}, which is not in this run's plan"),
        DecisionError::Duplicate(access_key_id) => format!("key {access_key_id} more than once"),
    }
}

fn already_decided_sentence(state: Option<&ApprovalState>) -> String {
    match state {
        Some(ApprovalState::Decided { outcome, decided_at }) => format!(
            "This approval was already decided: {outcome} at {}. A decision is final; this link cannot be used again.",
            page::when(*decided_at)
        ),
        _ => "This approval was already decided. A decision is final; this link cannot be used again.".to_owned(),
    }
}

/// A page for a successful request, or the refusal's page.
fn respond(result: Result<(StatusCode, String), Refusal>) -> Response<Body> {
    match result {
        Ok((status, body)) => html(status, body),
        Err(refusal) => {
            let (heading, sentence) = refusal.explain();
            html(refusal.status(), page::notice(heading, &[sentence], &[]))
        }
    }
}

/// `GET|HEAD /approvals/{id}`: reads only.
async fn show<S: ObjectStore, A: ApprovalStore, C, K>(
    ports: &Ports<'_, S, A, C, K>,
    now: DateTime<Utc>,
    id_text: &str,
) -> Result<(StatusCode, String), Refusal> {
    let id = ApprovalId::parse(id_text).map_err(|_| Refusal::UnknownLink)?;
    let result = async {
        let record = pending_record(ports.approvals, &id, now).await?;
        let report = read_report(ports.objects, &record.run).await?;
        let token = approval_id::form_token(&id, &record.form_nonce);
        let location = record.run.report_location();
        Ok(page::confirm(&Confirm {
            account_id: report.account_id.as_deref(),
            execution_name: &record.run.execution_name,
            report_location: &location,
            evaluated_at: report.evaluated_at(),
            expires_at: record.expires_at,
            plan: &report.evaluation.plan,
            form_token: &token,
        }))
    }
    .await;
    log_result(&id, "show", result.as_ref().map(|_| "confirm page"));
    result.map(|page| (StatusCode::OK, page))
}

/// `POST /approvals/{id}`: the confirm page's form.
async fn decide_by_form<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K>(
    ports: &Ports<'_, S, A, C, K>,
    now: DateTime<Utc>,
    id_text: &str,
    request: &Request,
) -> Result<(StatusCode, String), Refusal> {
    let id = ApprovalId::parse(id_text).map_err(|_| Refusal::UnknownLink)?;
    let result = async {
        let record = pending_record(ports.approvals, &id, now).await?;
        let form = DecisionForm::read(request)?;
        if !approval_id::verify_form_token(&id, &record.form_nonce, form.token.as_deref().unwrap_or_default()) {
            return Err(Refusal::BadFormToken);
        }
        let decision_value = form.decision.ok_or(Refusal::BadForm("the form must carry one decision"))?;
        let report = read_report(ports.objects, &record.run).await?;
        let decided_by = link_holder(request);
        let choice = match decision_value.as_str() {
            page::DECISION_APPROVE => {
                if form.keys.is_empty() {
                    return Err(Refusal::NoKeyTicked);
                }
                let decision = Decision::from_approved_ids(&report.evaluation.plan, &form.keys, decided_by, now)?;
                Choice::Approve(decision)
            }
            page::DECISION_REJECT => Choice::Reject(
                Decision { approved: Vec::new(), decided_by, decided_at: now },
                "rejected on the approval page".to_owned(),
            ),
            _ => return Err(Refusal::BadForm("the decision must be approve or reject")),
        };
        let plan_keys = planned_keys(&report);
        let applied = apply(ports, &record, report, choice).await?;
        Ok((applied, plan_keys, record.expires_at))
    }
    .await;
    log_result(&id, "form decision", result.as_ref().map(|(applied, ..)| applied.delivery.as_str()));
    let (applied, plan_keys, expires_at) = result?;
    Ok(result_page(&applied, &plan_keys, expires_at))
}

/// The fields of the confirm page's form.
struct DecisionForm {
    /// The form token; `None` when absent or repeated (either fails verification).
    token: Option<String>,
    /// `approve` or `reject`; `None` when absent or repeated.
    decision: Option<String>,
    /// Every ticked key, in order, duplicates kept (the decision refuses them).
    keys: Vec<String>,
}

impl DecisionForm {
    fn read(request: &Request) -> Result<Self, Refusal> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(FORM_CONTENT_TYPE) {
            return Err(Refusal::NotAForm);
        }
        let fields = form::decode_form_urlencoded(request.body().as_ref())
            .map_err(|_| Refusal::BadForm("the form body is not valid form-urlencoded text"))?;
        let single = |name: &str| {
            let mut values = fields.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone());
            match (values.next(), values.next()) {
                (Some(value), None) => Some(value),
                _ => None,
            }
        };
        Ok(DecisionForm {
            token: single(page::FIELD_TOKEN),
            decision: single(page::FIELD_DECISION),
            keys: fields.iter().filter(|(n, _)| n == page::FIELD_KEY).map(|(_, v)| v.clone()).collect(),
        })
    }
}

/// Whoever held the link, as far as the request tells: source IP from the request context, and the
/// User-Agent header (truncated).
fn link_holder(request: &Request) -> Approver {
    let http = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => Some(&context.http),
        _ => None,
    };
    let source_ip = http.and_then(|h| h.source_ip.clone()).filter(|ip| !ip.is_empty());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| http.and_then(|h| h.user_agent.clone()))
        .filter(|ua| !ua.is_empty())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    Approver::LinkHolder { source_ip, user_agent }
}

/// What an approver chose, checked against the plan but not yet applied.
enum Choice {
    /// Deactivate exactly these keys.
    Approve(Decision),
    /// Deactivate nothing; the cause for SendTaskFailure.
    Reject(Decision, String),
}

/// How Step Functions took the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The callback was accepted: the run goes on with the decision.
    Delivered,
    /// The run no longer waited for this token (timed out or gone).
    TaskGone,
    /// The callback failed for another reason.
    Failed,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::TaskGone => "task gone",
            Delivery::Failed => "delivery failed",
        }
    }
}

/// A decision that was applied: the record is decided.
struct Applied {
    decision: Decision,
    rejected: bool,
    report_written: bool,
    delivery: Delivery,
}

/// Steps 2–4 of the module documentation, for a record that passed every check.
async fn apply<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K>(
    ports: &Ports<'_, S, A, C, K>,
    record: &ApprovalRecord,
    report: RunReport,
    choice: Choice,
) -> Result<Applied, Refusal> {
    let (decision, outcome, callback) = match choice {
        Choice::Approve(decision) => {
            // Serialised before the write, so that nothing can fail between deciding and telling.
            let output = serde_json::to_value(&decision).map_err(|e| Refusal::RunState(e.to_string()))?;
            (decision, "approved", Callback::Succeed(output))
        }
        Choice::Reject(decision, cause) => (decision, "rejected", Callback::Fail(cause)),
    };
    match ports.approvals.decide(&record.id_hash, outcome, decision.decided_at).await {
        Ok(()) => {}
        Err(DecideError::AlreadyDecided) => {
            let state = ports.approvals.get(&record.id_hash).await.ok().flatten().map(|r| r.state);
            return Err(Refusal::AlreadyDecided { state });
        }
        Err(DecideError::NotFound) => return Err(Refusal::UnknownLink),
        Err(DecideError::Store(err)) => return Err(Refusal::Storage(err)),
    }
    // Read again after the conditional write: another link of the same run may have decided since.
    let report = match read_report(ports.objects, &record.run).await {
        Ok(fresh) => fresh,
        Err(Refusal::AlreadyDecided { .. }) => return Err(Refusal::AlreadyDecided { state: None }),
        Err(_) => report,
    };
    let report_written = record_decision(ports.objects, &record.run, report, &decision).await;
    if !report_written {
        // deactivate acts only on the decision recorded in the report: without it, calling back
        // would run a deactivation that refuses everything. The run times out; nothing acts.
        return Ok(Applied {
            rejected: matches!(callback, Callback::Fail(_)),
            decision,
            report_written,
            delivery: Delivery::Failed,
        });
    }
    let result = match &callback {
        Callback::Succeed(output) => ports.callbacks.succeed(&record.task_token, output).await,
        Callback::Fail(cause) => ports.callbacks.fail(&record.task_token, errors::APPROVAL_REJECTED, cause).await,
    };
    let delivery = match result {
        Ok(()) => Delivery::Delivered,
        Err(err) => {
            let delivery =
                if matches!(err, PortError::TaskGone { .. }) { Delivery::TaskGone } else { Delivery::Failed };
            // Only the error's name is logged, never its text.
            tracing::warn!(error = err.error_name(), delivery = delivery.as_str(), "task callback failed");
            delivery
        }
    };
    Ok(Applied { rejected: matches!(callback, Callback::Fail(_)), decision, report_written, delivery })
}

enum Callback {
    Succeed(serde_json::Value),
    Fail(String),
}

/// Adds the decision to the run report. A failure is logged and reported on the page, but does not
/// stop the callback: the record is already decided, and the decision also travels to deactivate
/// in the callback's output.
async fn record_decision<S: ObjectStore>(
    objects: &S,
    run: &RunRef,
    mut report: RunReport,
    decision: &Decision,
) -> bool {
    report.decision = Some(decision.clone());
    let body = match serde_json::to_vec_pretty(&report) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "run report could not be serialised");
            return false;
        }
    };
    match objects.put(&run.bucket, &run.report_key(), body).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(error = err.error_name(), detail = %err, "decision not written to the run report");
            false
        }
    }
}

/// The record, if it exists, has not expired and is still pending.
async fn pending_record<A: ApprovalStore>(
    approvals: &A,
    id: &ApprovalId,
    now: DateTime<Utc>,
) -> Result<ApprovalRecord, Refusal> {
    let record = approvals.get(&id.key_hash()).await?.ok_or(Refusal::UnknownLink)?;
    if now >= record.expires_at {
        return Err(Refusal::Expired { expires_at: record.expires_at });
    }
    if let ApprovalState::Decided { .. } = record.state {
        return Err(Refusal::AlreadyDecided { state: Some(record.state) });
    }
    Ok(record)
}

/// The run report, if it is this run's and its plan still awaits this decision: a report that
/// already holds a decision (made through another link of the same run) is already decided.
async fn read_report<S: ObjectStore>(objects: &S, run: &RunRef) -> Result<RunReport, Refusal> {
    if !is_valid_execution_name(&run.execution_name) {
        return Err(Refusal::RunState("the record names an invalid execution".to_owned()));
    }
    let location = run.report_location();
    let bytes = objects
        .get(&run.bucket, &run.report_key())
        .await?
        .ok_or_else(|| Refusal::RunState(format!("{location} is missing")))?;
    let report = RunReport::parse_for(&bytes, &run.execution_name)
        .map_err(|reason| Refusal::RunState(format!("{location} {reason}")))?;
    if report.decision.is_some() {
        return Err(Refusal::AlreadyDecided { state: None });
    }
    if report.evaluation.plan.status != PlanStatus::AwaitingApproval {
        return Err(Refusal::RunState(format!("{location}: the plan does not await approval")));
    }
    Ok(report)
}

fn planned_keys(report: &RunReport) -> Vec<KeyRef> {
    report
        .evaluation
        .plan
        .keys
        .iter()
        .map(|k| KeyRef { user_name: k.key.user_name.clone(), access_key_id: k.key.access_key_id.clone() })
        .collect()
}

/// The page after a decision was applied.
fn result_page(applied: &Applied, plan_keys: &[KeyRef], expires_at: DateTime<Utc>) -> (StatusCode, String) {
    let approved = &applied.decision.approved;
    let kept: Vec<KeyRef> = plan_keys.iter().filter(|k| !approved.contains(k)).cloned().collect();
    let count = page::plural(approved.len(), "access key", "access keys");
    let decided_at = page::when(applied.decision.decided_at);
    let mut paragraphs = Vec::new();
    let (status, heading) = match (applied.delivery, applied.rejected) {
        (Delivery::Delivered, false) => {
            paragraphs.push(
                "Each approved key is re-checked live just before it is deactivated, and skipped if it no longer \
                 breaks the policy. The outcome is reported when the run finishes."
                    .to_owned(),
            );
            (StatusCode::OK, format!("Approved: {count} will be deactivated"))
        }
        (Delivery::Delivered, true) => {
            paragraphs.push("Every key stays active. The rejection is reported.".to_owned());
            (StatusCode::OK, "Rejected: nothing will be deactivated".to_owned())
        }
        (Delivery::TaskGone, _) => {
            paragraphs.push(
                "Your decision was recorded, but the run had already stopped waiting for it: the approval had \
                 expired, so nothing will be deactivated."
                    .to_owned(),
            );
            (StatusCode::GONE, "This approval had expired".to_owned())
        }
        (Delivery::Failed, _) => {
            let why = if applied.report_written {
                "Step Functions did not accept it"
            } else {
                "it could not be added to the run report, the record deactivation acts on, so it was not sent on"
            };
            paragraphs.push(format!(
                "Your decision was recorded, but {why}, so nothing will be deactivated by it: the run stops \
                 waiting at {} and reports the approval as expired.",
                page::when(expires_at)
            ));
            (StatusCode::BAD_GATEWAY, "The decision could not be delivered".to_owned())
        }
    };
    paragraphs.push(format!("Decided at {decided_at}. A decision is final: this link cannot be used again."));
    let lists = if applied.rejected || applied.delivery != Delivery::Delivered {
        vec![KeyList { caption: "Keys that stay active", keys: plan_keys.to_vec() }]
    } else {
        vec![
            KeyList { caption: "Approved for deactivation", keys: approved.clone() },
            KeyList { caption: "Not approved: these keys stay active", keys: kept },
        ]
    };
    (status, page::notice(&heading, &paragraphs, &lists))
}

/// `POST /slack/actions`.
async fn slack_action<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K: Slack>(
    ports: &Ports<'_, S, A, C, K>,
    config: &Config,
    now: DateTime<Utc>,
    request: &Request,
) -> Response<Body> {
    let Some(secret) = config.slack_signing_secret.as_ref() else {
        return plain(StatusCode::FORBIDDEN, "Slack actions are not configured (SLACK_SIGNING_SECRET is not set).");
    };
    let header_text = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let body = request.body().as_ref();
    let signed = slack_request::verify_signature(
        secret.expose().as_bytes(),
        header_text(slack_request::TIMESTAMP_HEADER),
        header_text(slack_request::SIGNATURE_HEADER),
        body,
        now,
    );
    if let Err(err) = signed {
        tracing::warn!(error = %err, "Slack request refused");
        return plain(StatusCode::UNAUTHORIZED, &format!("Refused: {err}."));
    }
    let interaction = match slack_request::parse_interaction(body) {
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
    if !slack_request::is_approver(&interaction.user_id, &config.slack_approver_ids) {
        tracing::warn!(slack_user = %interaction.user_id, "Slack user is not an approver");
        let text = "You are not on this keyward's approver list (SLACK_APPROVER_IDS): nothing was decided.";
        reply_ephemeral(ports.slack, &interaction, text).await;
        return slack_json(StatusCode::FORBIDDEN, text);
    }
    let Ok(id) = ApprovalId::parse(&interaction.action.approval_id) else {
        let text = "This approval is unknown: nothing was decided.";
        reply_ephemeral(ports.slack, &interaction, text).await;
        return slack_json(StatusCode::OK, text);
    };
    let result = decide_by_slack(ports, now, &id, &interaction).await;
    log_result(&id, "slack decision", result.as_ref().map(|(applied, _)| applied.delivery.as_str()));
    match result {
        Ok((applied, execution_name)) => {
            let text = slack_outcome(&applied, &interaction.user_id, &execution_name);
            if let Some(url) = slack_response_url(&interaction) {
                let payload = json!({ "replace_original": true, "text": text });
                if let Err(err) = ports.slack.post(url, &payload).await {
                    tracing::warn!(error = err.error_name(), "Slack message not updated");
                }
            }
            empty(StatusCode::OK)
        }
        Err(refusal) => {
            let (heading, sentence) = refusal.explain();
            let text = format!("{heading}. {sentence}");
            reply_ephemeral(ports.slack, &interaction, &text).await;
            slack_json(StatusCode::OK, &text)
        }
    }
}

/// The lookups and the decision of a Slack button, by a listed approver.
async fn decide_by_slack<S: ObjectStore, A: ApprovalStore, C: TaskCallback, K>(
    ports: &Ports<'_, S, A, C, K>,
    now: DateTime<Utc>,
    id: &ApprovalId,
    interaction: &Interaction,
) -> Result<(Applied, String), Refusal> {
    let record = pending_record(ports.approvals, id, now).await?;
    let report = read_report(ports.objects, &record.run).await?;
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
    let applied = apply(ports, &record, report, choice).await?;
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

fn log_result<T: std::fmt::Display>(id: &ApprovalId, action: &str, result: Result<T, &Refusal>) {
    let id_hash = id.key_hash();
    let id_hash = id_hash.get(..8).unwrap_or_default();
    match result {
        Ok(outcome) => tracing::info!(id_hash, action, outcome = %outcome, "approval request handled"),
        Err(refusal) => tracing::info!(
            id_hash,
            action,
            refusal = %refusal,
            error = refusal.error_name(),
            status = refusal.status().as_u16(),
            "approval request refused"
        ),
    }
}

fn base_response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// An HTML page with the headers every page carries.
fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = base_response(status, "text/html; charset=utf-8", Body::Text(page));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = html(
        StatusCode::METHOD_NOT_ALLOWED,
        page::notice("Method not allowed", &[format!("This address accepts {allow} only.")], &[]),
    );
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    base_response(status, "text/plain; charset=utf-8", Body::Text(text.to_owned()))
}

fn slack_json(status: StatusCode, text: &str) -> Response<Body> {
    let body = json!({ "response_type": "ephemeral", "replace_original": false, "text": text }).to_string();
    base_response(status, "application/json", Body::Text(body))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
