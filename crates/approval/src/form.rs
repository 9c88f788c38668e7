//! The confirm page: `GET|HEAD /approvals/{id}` shows the plan and decides nothing (mail scanners
//! that pre-fetch links change nothing), and `POST /approvals/{id}`, the page's own form, decides:
//! approve the ticked keys, or reject all. The form is decoded strictly, its token checked against
//! the record, and its keys against the plan, before anything is written.
//!
//! Under `APPROVER_AUTH=oidc` both need the approver's session for this approval (`session`): the
//! page without one sends the browser to sign in; a POST without one decides nothing (403, never a
//! redirect), and the decision names the signed-in person. Under `link` whoever holds the link
//! decides, and the page says so.

use chrono::{DateTime, Utc};
use keyward_core::approval_id::{self, ApprovalId};
use keyward_core::decision::{Approver, Decision};
use keyward_core::form::decode_form_urlencoded;
use keyward_core::model::KeyRef;
use keyward_core::ports::{ApprovalStore, DecisionStore, ObjectStore, Randomness, TaskCallback, TokenStore};
use lambda_http::http::{StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::decide::{Applied, Choice, Delivery, apply, pending_record, planned_keys, read_report};
use crate::handler::Deps;
use crate::oidc::{Person, ProviderClient};
use crate::page::{self, Confirm, Decider, KeyList};
use crate::refusal::{Refusal, log_result, respond};
use crate::session::{self, SignIn};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// Longest User-Agent kept in the audit record.
const MAX_USER_AGENT_CHARS: usize = 256;

/// `GET|HEAD /approvals/{id}`: decides nothing. Under `oidc` without a session for this approval,
/// the sign-in starts (a 302 to the provider), once the approval is known to be pending.
pub(crate) async fn show<S: ObjectStore, A: ApprovalStore, C, K, L, T: TokenStore, R: Randomness, H: ProviderClient>(
    deps: &Deps<S, A, C, K, L, T>,
    sign_in: &SignIn<R, H>,
    now: DateTime<Utc>,
    id_text: &str,
    request: &Request,
) -> Response<Body> {
    let Ok(id) = ApprovalId::parse(id_text) else { return respond(Err(Refusal::UnknownLink)) };
    let person = match session::signed_in(&deps.tokens, now, request, &id).await {
        Ok(person) => person,
        Err(refusal) => return respond(Err(refusal)),
    };
    if let (Some(provider), None) = (&sign_in.provider, &person) {
        let started = async {
            pending_record(&deps.approvals, &id, now).await?;
            session::start(&deps.tokens, sign_in, provider, now, request, &id).await
        }
        .await;
        if let Err(refusal) = &started {
            log_result::<&str>(&id, "show", Err(refusal));
        }
        return started.unwrap_or_else(|refusal| respond(Err(refusal)));
    }
    respond(confirm_page(deps, now, &id, person.as_ref()).await)
}

async fn confirm_page<S: ObjectStore, A: ApprovalStore, C, K, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    now: DateTime<Utc>,
    id: &ApprovalId,
    person: Option<&Person>,
) -> Result<(StatusCode, String), Refusal> {
    let shown = person.map(Person::shown);
    let result = async {
        let record = pending_record(&deps.approvals, id, now).await?;
        let report = read_report(&deps.runs, &record.run).await?;
        let token = approval_id::form_token(id, &record.form_nonce);
        let location = record.run.report_location();
        Ok(page::confirm(&Confirm {
            account_id: report.account_id.as_ref().map(|a| a.as_str()),
            execution_name: &record.run.execution_name,
            report_location: &location,
            evaluated_at: report.evaluated_at(),
            expires_at: record.expires_at,
            plan: &report.evaluation.plan,
            coverage: report.coverage.as_ref(),
            form_token: &token,
            decider: shown.as_deref().map_or(Decider::LinkHolder, Decider::SignedIn),
        }))
    }
    .await;
    log_result(id, "show", result.as_ref().map(|_| "confirm page"));
    result.map(|page| (StatusCode::OK, page))
}

/// `POST /approvals/{id}`: the confirm page's form; under `oidc`, only with this approval's session.
pub(crate) async fn decide_by_form<
    S: ObjectStore,
    A: ApprovalStore + DecisionStore,
    C: TaskCallback,
    K,
    L,
    T: TokenStore,
    R,
    H,
>(
    deps: &Deps<S, A, C, K, L, T>,
    sign_in: &SignIn<R, H>,
    now: DateTime<Utc>,
    id_text: &str,
    request: &Request,
) -> Result<(StatusCode, String), Refusal> {
    let id = ApprovalId::parse(id_text).map_err(|_| Refusal::UnknownLink)?;
    let result = async {
        let decided_by = match &sign_in.provider {
            None => link_holder(request),
            Some(_) => match session::signed_in(&deps.tokens, now, request, &id).await? {
                Some(person) => signed_in_approver(person, request),
                None => return Err(Refusal::SignInRequired),
            },
        };
        let record = pending_record(&deps.approvals, &id, now).await?;
        let form = DecisionForm::read(request)?;
        if !approval_id::verify_form_token(&id, &record.form_nonce, form.token.as_deref().unwrap_or_default()) {
            return Err(Refusal::BadFormToken);
        }
        let decision_value = form.decision.ok_or(Refusal::BadForm("the form must carry one decision"))?;
        let report = read_report(&deps.runs, &record.run).await?;
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
        let applied = apply(deps, &record, choice).await?;
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
        let fields = decode_form_urlencoded(request.body().as_ref())
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

/// Whoever held the link, as far as the request tells.
fn link_holder(request: &Request) -> Approver {
    let (source_ip, user_agent) = origin(request);
    Approver::LinkHolder { source_ip, user_agent }
}

/// The signed-in approver, and where the decision came from.
fn signed_in_approver(person: Person, request: &Request) -> Approver {
    let (source_ip, user_agent) = origin(request);
    Approver::Oidc { issuer: person.issuer, subject: person.subject, email: person.email, source_ip, user_agent }
}

/// Where a request came from: the source IP from the request context, and the User-Agent header
/// (truncated).
fn origin(request: &Request) -> (Option<String>, Option<String>) {
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
    (source_ip, user_agent)
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
                "Your decision was recorded. Step Functions no longer waits for it, although the approval had not \
                 expired: the run either received this decision already (its answer was lost on the way back and \
                 sent again) or was stopped. The run's report says which."
                    .to_owned(),
            );
            (StatusCode::OK, "Decision recorded: the run no longer waits for it".to_owned())
        }
        (Delivery::TooLate, _) => {
            paragraphs.push(
                "Your decision was recorded, but the run had already stopped waiting for it: the approval had \
                 expired, so nothing will be deactivated."
                    .to_owned(),
            );
            (StatusCode::GONE, "This approval had expired".to_owned())
        }
        (Delivery::Failed, _) => {
            paragraphs.push(format!(
                "Your decision was recorded, but Step Functions did not accept it, so nothing will be deactivated \
                 by it: the run stops waiting at {} and reports the approval as expired.",
                page::when(expires_at)
            ));
            (StatusCode::BAD_GATEWAY, "The decision could not be delivered".to_owned())
        }
    };
    paragraphs.push(format!("Decided at {decided_at}. A decision is final: this link cannot be used again."));
    let lists = if applied.rejected || matches!(applied.delivery, Delivery::TooLate | Delivery::Failed) {
        vec![KeyList { caption: "Keys that stay active", keys: plan_keys.to_vec() }]
    } else {
        vec![
            KeyList { caption: "Approved for deactivation", keys: approved.clone() },
            KeyList { caption: "Not approved: these keys stay active", keys: kept },
        ]
    };
    (status, page::notice(&heading, &paragraphs, &lists))
}
