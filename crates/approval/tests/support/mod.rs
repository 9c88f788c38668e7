//! Shared fixture of the approval tests: one pending approval of a three-key plan, in-memory ports
//! that count what is done to them, and Function URL (API Gateway v2 HTTP) requests built as the
//! JSON events Lambda delivers, so lambda_http's own conversion (base64 bodies included) is exercised.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod provider;
pub mod signin;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ::approval::handler::{Deps, Event, Settings, handle, handle_event};
use ::approval::oidc::Provider;
use ::approval::session::SignIn;
use chrono::{DateTime, TimeZone, Utc};
use keyward_core::approval_id::{self, ApprovalId};
use keyward_core::config::{ApproverEntry, OidcSettings, PolicyConfig, Screening, Secret};
use keyward_core::contracts::RunRef;
use keyward_core::decision::Decision;
use keyward_core::fakes::{
    Callback, CountingRandom, FakeApprovals, FakeCallback, FakeSelfInvoke, FakeSlack, FakeStore, FakeTokens,
};
use keyward_core::form;
use keyward_core::model::{KeyRef, KeyUse};
use keyward_core::policy::{Evaluation, Evidence, Plan, PlanStatus, PlannedDeactivation, Rule};
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, Creation, DecideError, DecisionStore, ObjectStore, PortError,
    RecordedDecision, TaskCallback,
};
use keyward_core::run_report::{REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::RunStore;
use keyward_core::slack;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// The approval id of the fixture (and of every sample event in `events/approval/`).
pub const ID: &str = "3f9c1e7a5b2d4f608e1a3c5e7b9d0f2a4c6e8a0b2d4f6a8c0e2b4d6f8a1c3e5b";
pub const NONCE: &str = "9a1c7e3b5d2f4a6c8e0b1d3f5a7c9e1b";
pub const BUCKET: &str = "keyward-reports-123456789012";
pub const EXECUTION: &str = "keyward-2026-11-21";
pub const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken";
/// Slack's documented example signing secret.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const APPROVER: &str = "U012APPROVER";
/// The Slack workspace the test clicks come from.
pub const TEAM: &str = "T0001EXAMPLE";
pub const RESPONSE_URL: &str = "https://hooks.slack.com/actions/T0001EXAMPLE/1795245000123/AbCdEfGhIjKlMnOpQrStUvWx";
pub const SOURCE_IP: &str = "203.0.113.7";
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";

pub use keyward_core::fixtures::ACCOUNT;
pub const ALICE_KEY: &str = "AKIAALICE1OLDKEY0001";
pub const BOB_KEY: &str = "AKIABOB0NEVERUSED002";
pub const CAROL_KEY: &str = "AKIACAROL0IDLEKEY003";
/// A user name with every character HTML must escape (IAM would refuse it; the page must not care).
pub const CAROL: &str = "carol<script>&\"quote'";

/// The time of every request unless a test says otherwise (the sample events' time).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 7, 10, 0).unwrap()
}

pub fn evaluated_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 7, 0, 0).unwrap()
}

pub fn expires_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 7, 5, 0).unwrap()
}

pub fn id() -> ApprovalId {
    ApprovalId::parse(ID).unwrap()
}

pub fn id_hash() -> String {
    id().key_hash()
}

/// The token the confirm page of the fixture carries.
pub fn good_token() -> String {
    approval_id::form_token(&id(), NONCE)
}

pub fn run() -> RunRef {
    RunRef::new(BUCKET, EXECUTION)
}

pub fn pending_record() -> ApprovalRecord {
    ApprovalRecord {
        id_hash: id_hash(),
        task_token: TASK_TOKEN.into(),
        run: run(),
        form_nonce: NONCE.into(),
        created_at: evaluated_at(),
        expires_at: expires_at(),
        state: ApprovalState::Pending,
    }
}

fn planned(
    user: &str,
    key: &str,
    rules: Vec<Rule>,
    age: i64,
    last_used: Option<KeyUse>,
    summary: &str,
) -> PlannedDeactivation {
    PlannedDeactivation {
        key: KeyRef {
            account_id: keyward_core::fixtures::account(),
            user_name: user.into(),
            access_key_id: key.into(),
        },
        rules,
        evidence: Evidence {
            key_age_days: Some(age),
            idle_days: Some(age),
            last_used,
            last_used_source: Default::default(),
            has_console_password: false,
            console_password_source: Default::default(),
            mfa_devices: 1,
            summary: summary.into(),
        },
    }
}

pub fn plan() -> Plan {
    Plan {
        keys: vec![
            planned(
                "alice",
                ALICE_KEY,
                vec![Rule::KeyTooOld, Rule::KeyUnused],
                300,
                Some(KeyUse {
                    at: Utc.with_ymd_and_hms(2026, 5, 5, 12, 0, 0).unwrap(),
                    service: Some("s3".into()),
                    region: Some("eu-west-1".into()),
                }),
                "key created 300 days ago (limit 90); last used 200 days ago (limit 90)",
            ),
            planned("bob", BOB_KEY, vec![Rule::KeyUnused], 120, None, "never used; created 120 days ago (limit 90)"),
            planned(CAROL, CAROL_KEY, vec![Rule::NoMfa], 30, None, "no MFA & a <console> password"),
        ],
        status: PlanStatus::AwaitingApproval,
    }
}

pub fn report() -> RunReport {
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: Some(keyward_core::fixtures::account()),
        config: PolicyConfig::default(),
        screening: Screening::CredentialReport,
        users_listed: 40,
        users_checked: 3,
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        evaluation: Evaluation {
            evaluated_at: evaluated_at(),
            findings: vec![],
            warnings: vec![],
            exemptions: vec![],
            exemption_problems: vec![],
            inactive_keys: vec![],
            plan: plan(),
        },
        decision: None,
        actions: vec![],
        api_calls: BTreeMap::new(),
        coverage: None,
    }
}

/// The approvals table and the decisions table, counting reads and decisions.
#[derive(Default)]
pub struct CountingApprovals {
    pub inner: FakeApprovals,
    pub gets: AtomicUsize,
    pub decides: AtomicUsize,
}

impl ApprovalStore for CountingApprovals {
    async fn put_pending(&self, record: &ApprovalRecord) -> Result<(), PortError> {
        self.inner.put_pending(record).await
    }
    async fn get(&self, id_hash: &str) -> Result<Option<ApprovalRecord>, PortError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id_hash).await
    }
}

impl DecisionStore for CountingApprovals {
    async fn record(&self, recorded: &RecordedDecision) -> Result<(), DecideError> {
        self.decides.fetch_add(1, Ordering::SeqCst);
        self.inner.record(recorded).await
    }
    async fn recorded(&self, run: &RunRef) -> Result<Option<RecordedDecision>, PortError> {
        self.inner.recorded(run).await
    }
}

/// The report bucket, counting writes.
#[derive(Default)]
pub struct CountingStore {
    pub inner: FakeStore,
    pub puts: AtomicUsize,
    /// When set, every write fails (reads still work).
    pub fail_puts: AtomicBool,
}

impl ObjectStore for CountingStore {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), PortError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self.fail_puts.load(Ordering::SeqCst) {
            return Err(PortError::Failed { operation: "PutObject", message: "test: AccessDenied".into() });
        }
        self.inner.put(bucket, key, body).await
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.inner.get(bucket, key).await
    }
    async fn create(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<Creation, PortError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self.fail_puts.load(Ordering::SeqCst) {
            return Err(PortError::Failed { operation: "PutObject", message: "test: AccessDenied".into() });
        }
        self.inner.create(bucket, key, body).await
    }
}

/// Step Functions: records every callback, and answers with `answer` when set (the call is still
/// recorded, as SendTaskSuccess was attempted).
#[derive(Default)]
pub struct ScriptedCallback {
    pub inner: FakeCallback,
    pub answer: Mutex<Option<PortError>>,
}

impl ScriptedCallback {
    fn answer(&self) -> Result<(), PortError> {
        self.answer.lock().unwrap().clone().map_or(Ok(()), Err)
    }
}

impl TaskCallback for ScriptedCallback {
    async fn succeed(&self, task_token: &str, output: &Value) -> Result<(), PortError> {
        self.inner.succeed(task_token, output).await?;
        self.answer()
    }
    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), PortError> {
        self.inner.fail(task_token, error, cause).await?;
        self.answer()
    }
}

/// The approvals table of the fixture's settings (the moto test creates it; the fakes ignore the name).
pub const TABLE: &str = "keyward-approvals";
/// The decisions table the moto test creates.
pub const DECISIONS_TABLE: &str = "keyward-decisions";

/// The settings of the fixture: Slack configured, with two approvers.
pub fn settings() -> Settings {
    Settings {
        report_bucket: BUCKET.into(),
        approvals_table: TABLE.into(),
        slack_signing_secret: Some(Secret::new(SIGNING_SECRET)),
        slack_approver_ids: vec![APPROVER.into(), "U0OTHERAPPROVER".into()],
        slack_team_id: Some(TEAM.into()),
        slack_response_url_prefix: keyward_core::config::SLACK_RESPONSE_URL_PREFIX.into(),
        approval_base_url: None,
    }
}

/// The base URL of the sign-in tests: a path, as in the local stack, so the cookies' Path shows.
pub const BASE_URL: &str = "https://approve.example.com/keyward";

/// The sign-in under `APPROVER_AUTH=link`: no provider, nothing stored.
pub fn link_sign_in() -> SignIn<CountingRandom, provider::SharedProvider> {
    SignIn { random: CountingRandom::default(), provider: None, base_url: None }
}

/// One pending approval with its run report, and the ports around it.
pub struct World {
    pub deps: Deps<CountingStore, CountingApprovals, ScriptedCallback, FakeSlack, FakeSelfInvoke, FakeTokens>,
    /// Under `link` (`World::new`) no provider; under `oidc` (`World::oidc`) the fake one.
    pub sign_in: SignIn<CountingRandom, provider::SharedProvider>,
}

impl World {
    /// `APPROVER_AUTH=link`.
    pub fn new() -> Self {
        let world = World {
            sign_in: link_sign_in(),
            deps: Deps {
                runs: RunStore::new(CountingStore::default(), BUCKET),
                approvals: CountingApprovals::default(),
                callbacks: ScriptedCallback::default(),
                slack: FakeSlack::default(),
                self_invoke: FakeSelfInvoke::default(),
                tokens: FakeTokens::default(),
                settings: settings(),
            },
        };
        world.set_record(pending_record());
        let body = serde_json::to_vec_pretty(&report()).unwrap();
        world.deps.runs.store().inner.objects.lock().unwrap().insert((BUCKET.into(), run().report_key()), body);
        world
    }

    /// `APPROVER_AUTH=oidc` with `approvers`, the provider discovered from `fake`.
    pub async fn oidc(fake: std::sync::Arc<provider::FakeProvider>, approvers: Vec<ApproverEntry>) -> Self {
        let mut world = World::new();
        let settings =
            OidcSettings { issuer: provider::ISSUER.into(), client_id: provider::CLIENT_ID.into(), approvers };
        let discovered =
            Provider::discover(&settings, &Secret::new(provider::CLIENT_SECRET), provider::SharedProvider(fake)).await;
        world.sign_in.provider = Some(discovered.unwrap());
        world.sign_in.base_url = Some(BASE_URL.into());
        world
    }

    /// The single-use items stored (here: the sign-in's states and sessions), by key.
    pub fn tokens(&self) -> Vec<String> {
        self.deps.tokens.items.lock().unwrap().keys().cloned().collect()
    }

    pub fn set_record(&self, record: ApprovalRecord) {
        self.deps.approvals.inner.records.lock().unwrap().insert(record.id_hash.clone(), record);
    }

    pub async fn send(&self, request: Request) -> Response<Body> {
        self.send_at(request, now()).await
    }

    pub async fn send_at(&self, request: Request, at: DateTime<Utc>) -> Response<Body> {
        handle(&self.deps, &self.sign_in, at, request).await
    }

    /// The events the function queued for itself, as Lambda would deliver them.
    pub fn queued_events(&self) -> Vec<Value> {
        self.deps.self_invoke.events.lock().unwrap().clone()
    }

    /// Runs the queued events at `now()`, as Lambda does after the click was answered, and empties
    /// the queue; returns how many ran.
    pub async fn run_followups(&self) -> usize {
        self.run_followups_at(now()).await
    }

    /// Runs the queued events at `at`.
    pub async fn run_followups_at(&self, at: DateTime<Utc>) -> usize {
        let events = std::mem::take(&mut *self.deps.self_invoke.events.lock().unwrap());
        for event in &events {
            self.invoke(event.clone(), at).await;
        }
        events.len()
    }

    /// One invocation of the function with its own event `event` (JSON, as Lambda delivers it).
    pub async fn invoke(&self, event: Value, at: DateTime<Utc>) {
        let event: Event = serde_json::from_value(event).unwrap();
        handle_event(&self.deps, at, event).await;
    }

    /// The click, then its follow-up: what Slack and the approver see in the end.
    pub async fn click(&self, request: Request) -> Response<Body> {
        let response = self.send(request).await;
        self.run_followups().await;
        response
    }

    pub fn record(&self) -> ApprovalRecord {
        self.deps.approvals.inner.records.lock().unwrap().get(&id_hash()).cloned().unwrap()
    }

    /// The decision recorded for the fixture's run in the decisions table, if any.
    pub fn recorded_decision(&self) -> Option<RecordedDecision> {
        self.deps.approvals.inner.decisions.lock().unwrap().get(EXECUTION).cloned()
    }

    /// The decision recorded for the fixture's run; panics if none was.
    pub fn decision(&self) -> Decision {
        self.recorded_decision().expect("no decision recorded").decision
    }

    /// Approval wrote nothing to the report bucket: the run report is the fixture's, as notify left it.
    #[track_caller]
    pub fn assert_report_untouched(&self) {
        assert_eq!(self.puts(), 0, "approval wrote to the report bucket");
        assert_eq!(self.stored_report(), report());
    }

    pub fn stored_report(&self) -> RunReport {
        serde_json::from_value(self.deps.runs.store().inner.json(&run().report_key()).unwrap()).unwrap()
    }

    /// Replaces the stored run report.
    pub fn put_report(&self, report: &RunReport) {
        let key = (run().bucket, run().report_key());
        self.deps.runs.store().inner.objects.lock().unwrap().insert(key, serde_json::to_vec(report).unwrap());
    }

    pub fn callbacks(&self) -> Vec<Callback> {
        self.deps.callbacks.inner.calls.lock().unwrap().clone()
    }

    pub fn slack_posts(&self) -> Vec<(String, Value)> {
        self.deps.slack.posted.lock().unwrap().clone()
    }

    pub fn gets(&self) -> usize {
        self.deps.approvals.gets.load(Ordering::SeqCst)
    }

    pub fn decides(&self) -> usize {
        self.deps.approvals.decides.load(Ordering::SeqCst)
    }

    pub fn puts(&self) -> usize {
        self.deps.runs.store().puts.load(Ordering::SeqCst)
    }

    /// Nothing was decided, written or sent: the record is pending, no decision recorded, the
    /// report untouched.
    #[track_caller]
    pub fn assert_nothing_decided(&self) {
        assert_eq!(self.record().state, ApprovalState::Pending);
        assert_eq!(self.decides(), 0, "a decision was attempted");
        assert_eq!(self.recorded_decision(), None, "a decision was recorded");
        assert_eq!(self.puts(), 0, "the report was written");
        assert!(self.callbacks().is_empty(), "Step Functions was called: {:?}", self.callbacks());
        assert_eq!(self.stored_report().decision, None);
    }
}

pub fn approval_path() -> String {
    format!("/approvals/{ID}")
}

/// A Function URL request as Lambda delivers it (API Gateway v2 HTTP payload), converted by lambda_http.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>, base64: bool) -> Request {
    lambda_http::request::from_str(&event(method, path, headers, body, base64).to_string()).unwrap()
}

/// A browser's request: with a query string and the cookies it holds (`name=value` each), which
/// Function URLs deliver in `cookies`.
pub fn browser(method: &str, path: &str, query: &str, cookies: &[String], form_body: Option<&str>) -> Request {
    let headers: &[(&str, &str)] =
        if form_body.is_some() { &[("content-type", "application/x-www-form-urlencoded")] } else { &[] };
    let mut event = event(method, path, headers, form_body.map(str::as_bytes), false);
    event["rawQueryString"] = json!(query);
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>, base64: bool) -> Value {
    let mut all_headers = json!({
        "host": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
        "user-agent": USER_AGENT,
        "x-forwarded-proto": "https",
    });
    for (name, value) in headers {
        all_headers[*name] = json!(value);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": SOURCE_IP, "userAgent": USER_AGENT },
            "requestId": "test",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:07:10:00 +0000",
            "timeEpoch": 1_795_245_000_000_i64
        },
        "isBase64Encoded": base64,
    });
    if let Some(body) = body {
        event["body"] =
            if base64 { json!(base64_encode(body)) } else { json!(String::from_utf8(body.to_vec()).unwrap()) };
    }
    event
}

pub fn get(path: &str) -> Request {
    request("GET", path, &[], None, false)
}

pub fn head(path: &str) -> Request {
    request("HEAD", path, &[], None, false)
}

/// A form post of the confirm page.
pub fn post_form(body: &str) -> Request {
    request(
        "POST",
        &approval_path(),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(body.as_bytes()),
        false,
    )
}

/// The form body the confirm page sends, ticking these key ids of the run's account (the page names
/// each key `<account_id>:<access_key_id>`).
pub fn form(token: &str, decision: &str, keys: &[&str]) -> String {
    let entries: Vec<String> = keys.iter().map(|k| format!("{ACCOUNT}:{k}")).collect();
    form_naming(token, decision, &entries.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A form body whose `key` fields are exactly `entries`, as a forger would write them.
pub fn form_naming(token: &str, decision: &str, entries: &[&str]) -> String {
    let mut fields = vec![format!("token={}", form::encode_form_component(token))];
    fields.extend(entries.iter().map(|k| format!("key={}", form::encode_form_component(k))));
    fields.push(format!("decision={}", form::encode_form_component(decision)));
    fields.join("&")
}

/// Slack's `block_actions` payload for a button.
pub fn slack_payload(user: &str, action_id: &str, approval_id: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": "dana", "name": "dana", "team_id": TEAM },
        "container": { "type": "message", "message_ts": "1795244700.000100" },
        "response_url": response_url,
        "actions": [{ "action_id": action_id, "block_id": "keyward-decision", "value": approval_id, "type": "button" }],
    });
    format!("payload={}", form::encode_form_component(&payload.to_string()))
}

/// A Slack interactivity request signed with `secret` at `timestamp`.
pub fn slack_request(body: &str, secret: &str, timestamp: i64) -> Request {
    slack_request_to("/slack/actions", body, secret, timestamp)
}

/// A Slack interactivity request to `path` (Slack sends to whatever Request URL was pasted into
/// the app's settings), signed with `secret` at `timestamp`.
pub fn slack_request_to(path: &str, body: &str, secret: &str, timestamp: i64) -> Request {
    let signature = slack::sign(secret.as_bytes(), timestamp, body.as_bytes());
    let timestamp = timestamp.to_string();
    request(
        "POST",
        path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-slack-request-timestamp", &timestamp),
            ("x-slack-signature", &signature),
        ],
        Some(body.as_bytes()),
        true,
    )
}

pub fn text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body().as_ref()).into_owned()
}

pub fn header<'r>(response: &'r Response<Body>, name: &str) -> &'r str {
    response.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

/// The security headers every HTML response carries.
#[track_caller]
pub fn assert_html_headers(response: &Response<Body>) {
    assert_eq!(header(response, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(response, "content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "cache-control"), "no-store");
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
