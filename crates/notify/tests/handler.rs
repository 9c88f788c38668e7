//! Behaviour of the notify handler on in-memory fakes: each kind of event publishes its message to
//! SNS (and to Slack only when configured), SNS failures fail loudly, and an approval request stores
//! exactly one pending record before anything is sent, without the task token or the approval id
//! ever reaching a log, the output or a message (the id only inside the link and the buttons). An
//! approval request nobody can receive (no confirmed subscription, no Slack) fails and stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use keyward_core::config::ConfigError;
use keyward_core::config::{ApproverAuth, Config, PolicyConfig, Screening};
use keyward_core::contracts::RunRef;
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{AWS_CALL_FAILED, INVALID_INPUT, NOTIFY_FAILED, NamedError, RUN_STATE_INVALID};
use keyward_core::fakes::{CountingRandom, FakeApprovals, FakeSlack, FakeStore, FakeTopic};
use keyward_core::message::{self, Message};
use keyward_core::model::{AccessKey, KeyStatus, KeyUse, User};
use keyward_core::org::{AccountFailure, AccountId};
use keyward_core::policy::evaluate;
use keyward_core::ports::{ApprovalState, DecisionOutcome, PortError, Randomness, RecordedDecision, Slack};
use keyward_core::run_report::{Coverage, FailedAccount, REPORT_SCHEMA_VERSION, RunReport, SweptAccount};
use keyward_core::run_store::RunStore;
use keyward_core::secrets::{KeywardSecrets, WebhookUrl};
use notify::handler::{Deps, Settings, handle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BUCKET: &str = "keyward-reports-123456789012";
const EXECUTION: &str = "keyward-2026-11-21";
const REPORT_KEY: &str = "runs/keyward-2026-11-21/report.json";
const LOCATION: &str = "s3://keyward-reports-123456789012/runs/keyward-2026-11-21/report.json";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:keyward";
const BASE_URL: &str = "https://abc123.lambda-url.us-east-1.on.aws";
const WEBHOOK: &str = "https://hooks.slack.com/services/T000/B000/WEBHOOKSECRET";
/// The task token of `events/notify/approval-request.json`.
const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken";
const TIMEOUT_SECONDS: u32 = 3600;

type Ports<K = FakeSlack, R = CountingRandom> = Deps<FakeTopic, FakeStore, K, FakeApprovals, R>;

fn now() -> DateTime<Utc> {
    "2026-11-21T06:05:00Z".parse().unwrap()
}

fn evaluated_at() -> DateTime<Utc> {
    "2026-11-21T06:00:00Z".parse().unwrap()
}

fn user(name: &str, mfa: bool, key_age_days: i64) -> User {
    User {
        name: name.into(),
        arn: keyward_core::fixtures::user_arn(name),
        path: "/".into(),
        created: evaluated_at() - Duration::days(800),
        has_console_password: true,
        console_password_source: Default::default(),
        mfa_devices: if mfa { vec![format!("arn:aws:iam::123456789012:mfa/{name}")] } else { vec![] },
        tags: Default::default(),
        access_keys: vec![AccessKey {
            id: format!("AKIA{}KEY00000001", name.to_uppercase()),
            status: KeyStatus::Active,
            created: evaluated_at() - Duration::days(key_age_days),
            last_used: Some(KeyUse { at: evaluated_at() - Duration::days(1), service: None, region: None }),
            last_used_source: Default::default(),
        }],
    }
}

/// An approve-mode run with two keys in the plan.
fn report() -> RunReport {
    let config = PolicyConfig::default();
    let users = [user("alice", true, 200), user("bob", false, 5), user("carol", true, 10)];
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: None,
        evaluation: evaluate(&users, &config, evaluated_at()),
        config,
        screening: Screening::CredentialReport,
        users_listed: 3,
        users_checked: 3,
        users_gone: vec![],
        users_not_evaluated: vec![],
        unreadable_report_rows: vec![],
        report_unavailable: None,
        decision: None,
        actions: vec![],
        api_calls: Default::default(),
        coverage: None,
    }
}

fn config() -> Config {
    Config {
        topic_arn: Some(TOPIC.into()),
        report_bucket: Some(BUCKET.into()),
        approvals_table: Some("keyward-approvals".into()),
        decisions_table: Some("keyward-decisions".into()),
        approval_base_url: Some(BASE_URL.into()),
        approval_timeout_seconds: TIMEOUT_SECONDS,
        ..Config::default()
    }
}

/// keyward's secret, with a Slack webhook or without.
fn secrets(slack: bool) -> KeywardSecrets {
    KeywardSecrets { slack_webhook_url: slack.then(|| WebhookUrl::parse(WEBHOOK).unwrap()), ..Default::default() }
}

/// notify over fakes, its run report in the bucket, with a Slack webhook configured.
fn ports_with<K: Slack, R: Randomness>(slack: K, random: R) -> Ports<K, R> {
    let store = FakeStore::default();
    store.objects.lock().unwrap().insert((BUCKET.into(), REPORT_KEY.into()), serde_json::to_vec(&report()).unwrap());
    Deps {
        topic: FakeTopic::default(),
        runs: RunStore::new(store, BUCKET),
        slack,
        approvals: FakeApprovals::default(),
        random,
        settings: Settings::from_config(&config(), &secrets(true)).unwrap(),
    }
}

fn ports() -> Ports {
    ports_with(FakeSlack::default(), CountingRandom::default())
}

/// The same, without a Slack webhook.
fn ports_without_slack() -> Ports {
    Deps { settings: Settings::from_config(&config(), &secrets(false)).unwrap(), ..ports() }
}

fn run() -> Value {
    json!({"bucket": BUCKET, "execution_name": EXECUTION})
}

fn event(kind: &str) -> Value {
    match kind {
        "clean" => json!({"kind": "clean", "run": run(), "users_listed": 12, "evaluated_at": evaluated_at()}),
        "approval-request" => json!({"kind": kind, "run": run(), "task_token": TOKEN}),
        "deactivation-failed" => json!({"kind": kind, "run": run(), "error": "DeactivationIncomplete"}),
        _ => json!({"kind": kind, "run": run()}),
    }
}

/// The message each kind should render, from the same report.
fn expected(kind: &str) -> Message {
    let r = report();
    match kind {
        "clean" => message::clean(12, evaluated_at()),
        "digest" => message::digest(&r, LOCATION),
        "rejected" => message::rejected(&r, LOCATION),
        "expired" => message::expired(&r, LOCATION),
        "outcome" => message::outcome(&r, LOCATION),
        "deactivation-failed" => message::deactivation_failed(&r, None, "DeactivationIncomplete", LOCATION, JOURNAL),
        "approval-request" => message::approval_request(
            &r,
            LOCATION,
            "https://example/approvals/x",
            "x",
            now() + Duration::seconds(TIMEOUT_SECONDS.into()),
            ApproverAuth::Link,
        ),
        other => panic!("no such kind {other}"),
    }
}

const KINDS: [&str; 7] =
    ["clean", "digest", "approval-request", "rejected", "expired", "outcome", "deactivation-failed"];

/// Where the run's deactivation journal is.
const JOURNAL: &str = "s3://keyward-reports-123456789012/runs/keyward-2026-11-21/deactivation/";

fn published(ports: &Ports<impl Slack, impl Randomness>) -> Vec<(String, String, String)> {
    ports.topic.published.lock().unwrap().clone()
}

/// The approval id inside the link of a published text.
fn id_in(text: &str) -> String {
    let marker = format!("{BASE_URL}/approvals/");
    let start = text.find(&marker).unwrap_or_else(|| panic!("no link in {text}")) + marker.len();
    text[start..start + 64].to_owned()
}

/// A Slack webhook that always fails, with an error quoting the URL (as a careless client might).
#[derive(Default)]
struct BrokenSlack;

impl Slack for BrokenSlack {
    async fn post(&self, url: &str, _payload: &Value) -> Result<(), PortError> {
        Err(PortError::Failed { operation: "SlackWebhook", message: format!("error sending request for url ({url})") })
    }
}

/// A random source that fails.
struct BrokenRandom;

impl Randomness for BrokenRandom {
    fn bytes32(&self) -> Result<[u8; 32], PortError> {
        Err(PortError::Failed { operation: "getrandom", message: "fake: no entropy".into() })
    }
}

/// Everything logged (every level) by this test binary.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The logs of this whole test binary. One global subscriber, installed once: a scoped
    /// (`set_default`) subscriber misses events when tests run in parallel, because tracing caches a
    /// callsite's interest from whichever thread hits it first. Sharing the buffer only makes the
    /// "never logged" assertions stronger: they then cover every test's logs.
    fn capture() -> Logs {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        let logs = LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        });
        logs.clone()
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn each_kind_publishes_its_subject_to_the_topic() {
    for kind in KINDS {
        let ports = ports_without_slack();
        let out = handle(&ports, now(), event(kind)).await.unwrap();

        let sent = published(&ports);
        assert_eq!(sent.len(), 1, "{kind}");
        let (topic, subject, text) = &sent[0];
        assert_eq!(topic, TOPIC);
        assert_eq!(subject, &expected(kind).subject, "{kind}");
        if kind != "approval-request" {
            assert_eq!(text, &expected(kind).text, "{kind}");
        }
        assert_eq!(out.sns_message_id.as_deref(), Some("msg-1"));
        assert!(!out.slack_sent);
    }
}

/// The fixture run as an organisation's: its account swept as `prod`, a second account failed.
fn organisation_report() -> RunReport {
    let failed = AccountId::parse("222222222222").unwrap();
    RunReport {
        coverage: Some(Coverage {
            discovered: 2,
            swept: vec![SweptAccount {
                account_id: keyward_core::fixtures::account(),
                name: "prod".into(),
                users_listed: 3,
                users_checked: 3,
                users_not_evaluated: 0,
            }],
            skipped: vec![],
            failed: vec![FailedAccount {
                name: "sandbox".into(),
                failure: AccountFailure::new(failed, "MemberRoleRefused", "", "keyward-read"),
            }],
            unmatched: vec![],
        }),
        ..report()
    }
}

#[tokio::test]
async fn an_organisation_digest_reaches_sns_and_slack_with_its_coverage_and_accounts() {
    // GIVEN an organisation's run report in the bucket
    let ports = ports();
    let report = organisation_report();
    ports
        .runs
        .store()
        .objects
        .lock()
        .unwrap()
        .insert((BUCKET.into(), REPORT_KEY.into()), serde_json::to_vec(&report).unwrap());
    // WHEN its digest is sent
    let out = handle(&ports, now(), event("digest")).await.unwrap();
    // THEN SNS and Slack get the organisation's digest: coverage first, keys under their account
    let expected = message::digest(&report, LOCATION);
    let sent = published(&ports);
    assert_eq!(sent.len(), 1);
    assert_eq!((&sent[0].1, &sent[0].2), (&expected.subject, &expected.text));
    assert!(out.slack_sent);
    assert_eq!(*ports.slack.posted.lock().unwrap(), vec![(WEBHOOK.to_owned(), expected.slack)]);
    let text = &sent[0].2;
    let coverage = text.find("Coverage: 1 of 2 accounts swept").expect(text);
    let account = text.find("123456789012 (prod):").expect(text);
    assert!(coverage < account && text.contains("222222222222 (sandbox)"), "{text}");
}

#[tokio::test]
async fn slack_is_posted_only_when_a_webhook_is_configured() {
    let without = ports_without_slack();
    let out = handle(&without, now(), event("digest")).await.unwrap();
    assert!(!out.slack_sent);
    assert!(without.slack.posted.lock().unwrap().is_empty());

    let with = ports();
    let out = handle(&with, now(), event("digest")).await.unwrap();
    assert!(out.slack_sent);
    assert_eq!(*with.slack.posted.lock().unwrap(), vec![(WEBHOOK.to_owned(), expected("digest").slack)]);
    assert_eq!(published(&with).len(), 1, "SNS gets it too");
}

#[tokio::test]
async fn slack_failure_after_sns_is_reported_as_not_sent_and_never_logs_the_url() {
    let logs = Logs::capture();
    let ports = ports_with(BrokenSlack, CountingRandom::default());

    let out = handle(&ports, now(), event("outcome")).await.unwrap();

    assert!(!out.slack_sent);
    assert_eq!(out.sns_message_id.as_deref(), Some("msg-1"));
    let logs = logs.text();
    assert!(logs.contains("Slack post failed"), "{logs}");
    assert!(!logs.contains("WEBHOOKSECRET"), "{logs}");
}

#[tokio::test]
async fn sns_failure_is_notify_failed_and_nothing_claims_success() {
    for kind in KINDS {
        let ports = ports();
        *ports.topic.broken.lock().unwrap() = true;

        let err = handle(&ports, now(), event(kind)).await.unwrap_err();

        assert_eq!(err.error_name(), NOTIFY_FAILED, "{kind}: {err}");
        assert!(ports.slack.posted.lock().unwrap().is_empty(), "{kind}: no Slack message claims it was sent");
        let records = ports.approvals.records.lock().unwrap();
        if kind == "approval-request" {
            // Stored first: the record exists (and will expire), but the run fails loudly.
            assert_eq!(records.len(), 1);
            assert!(records.values().all(|r| r.state == ApprovalState::Pending));
            assert!(!err.to_string().contains(TOKEN));
        } else {
            assert!(records.is_empty(), "{kind}");
        }
    }
}

/// The record a failed publish leaves behind is harmless: its link id (the only way to reach it)
/// went nowhere, so nobody can open, approve or reject it; its task token belongs to a task that
/// failed with `NotifyFailed`, which the state machine neither retries nor catches, so the execution
/// fails loudly and no later state reads the record; and it expires with the approval timeout.
#[tokio::test]
async fn an_approval_request_nobody_can_receive_is_notify_failed_naming_the_cause_and_stores_nothing() {
    // GIVEN a topic without a confirmed subscription (the e-mail not confirmed yet) and no Slack
    let ports = ports_without_slack();
    *ports.topic.nobody_subscribed.lock().unwrap() = true;

    // WHEN notify is asked to request an approval
    let err = handle(&ports, now(), event("approval-request")).await.unwrap_err();

    // THEN it fails loudly, naming the topic and the cause, and nothing waits for a decision
    assert_eq!(err.error_name(), NOTIFY_FAILED);
    let message = err.to_string();
    assert!(message.contains(TOPIC), "{message}");
    assert!(
        message.contains("no confirmed subscription and no Slack: nobody can receive the approval request"),
        "{message}"
    );
    assert!(ports.approvals.records.lock().unwrap().is_empty(), "an approval was stored");
    assert!(published(&ports).is_empty());
}

#[tokio::test]
async fn with_slack_or_a_confirmed_subscription_the_approval_request_goes_out() {
    let with_slack = ports();
    *with_slack.topic.nobody_subscribed.lock().unwrap() = true;
    assert!(handle(&with_slack, now(), event("approval-request")).await.unwrap().slack_sent);

    let subscribed = ports_without_slack();
    assert!(handle(&subscribed, now(), event("approval-request")).await.is_ok());
    // Other messages do not ask anybody anything: they go out whoever listens.
    let nobody = ports_without_slack();
    *nobody.topic.nobody_subscribed.lock().unwrap() = true;
    assert!(handle(&nobody, now(), event("digest")).await.is_ok());
}

#[tokio::test]
async fn an_approval_request_whose_only_receiver_is_a_failing_slack_is_notify_failed() {
    // GIVEN no confirmed subscription, and a Slack webhook that fails (revoked, wrong URL)
    let ports = ports_with(BrokenSlack, CountingRandom::default());
    *ports.topic.nobody_subscribed.lock().unwrap() = true;

    // WHEN notify requests an approval
    let err = handle(&ports, now(), event("approval-request")).await.unwrap_err();

    // THEN the run fails loudly instead of waiting for a decision nobody was asked for
    assert_eq!(err.error_name(), NOTIFY_FAILED);
    let message = err.to_string();
    assert!(message.contains("reached nobody") && message.contains(TOPIC), "{message}");
    // With a confirmed subscription the same failing Slack is only "not sent": SNS reached someone.
    let subscribed = ports_with(BrokenSlack, CountingRandom::default());
    assert!(!handle(&subscribed, now(), event("approval-request")).await.unwrap().slack_sent);
}

#[tokio::test]
async fn approval_record_left_by_a_failed_publish_has_a_link_nobody_holds() {
    // GIVEN SNS refuses every message
    let logs = Logs::capture();
    let ports = ports();
    *ports.topic.broken.lock().unwrap() = true;

    // WHEN the approval request is handled
    let err = handle(&ports, now(), event("approval-request")).await.unwrap_err();

    // THEN the run fails loudly, one pending record is left, and it expires with the timeout
    assert_eq!(err.error_name(), NOTIFY_FAILED);
    let records = ports.approvals.records.lock().unwrap();
    let [record] = records.values().collect::<Vec<_>>()[..] else { panic!("{records:?}") };
    assert_eq!(record.state, ApprovalState::Pending);
    assert_eq!(record.expires_at, now() + Duration::seconds(i64::from(TIMEOUT_SECONDS)));
    // AND its link id (CountingRandom's first draw) reached no message, no Slack post, no error and
    // no log line: the record cannot be decided by anyone
    let id = keyward_core::approval_id::ApprovalId::from_random_bytes([1; 32]);
    let id = id.expose_secret();
    assert_eq!(hex::encode(Sha256::digest(id.as_bytes())), record.id_hash, "that is the record's id");
    assert!(published(&ports).is_empty());
    assert!(ports.slack.posted.lock().unwrap().is_empty());
    assert!(!err.to_string().contains(id));
    assert!(!logs.text().contains(id));
}

#[tokio::test]
async fn approval_request_stores_exactly_one_pending_record_keyed_by_the_links_id_hash() {
    let ports = ports();

    handle(&ports, now(), event("approval-request")).await.unwrap();

    let (_, _, text) = published(&ports).remove(0);
    let id = id_in(&text);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    let records = ports.approvals.records.lock().unwrap();
    assert_eq!(records.len(), 1);
    let (key, record) = records.iter().next().unwrap();
    let hash = hex::encode(Sha256::digest(id.as_bytes()));
    assert_eq!(key, &hash);
    assert_eq!(record.id_hash, hash);
    assert_eq!(record.task_token, TOKEN);
    assert_eq!(record.run, RunRef::new(BUCKET, EXECUTION));
    assert_eq!(record.created_at, now());
    assert_eq!(record.expires_at, now() + Duration::seconds(i64::from(TIMEOUT_SECONDS)));
    assert_eq!(record.state, ApprovalState::Pending);
    assert_eq!(record.form_nonce.len(), 64);
    assert_ne!(record.form_nonce, id, "the nonce is drawn separately from the id");
    assert!(!serde_json::to_string(record).unwrap().contains(&id), "the id itself is stored nowhere");
}

/// Collects every (field name, string) of a JSON value.
fn strings<'a>(value: &'a Value, field: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(s) => out.push((field, s)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, field, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, k, out)),
        _ => {}
    }
}

#[tokio::test]
async fn approval_request_never_reveals_the_token_and_shows_the_id_only_in_link_and_buttons() {
    let logs = Logs::capture();
    let ports = ports();

    let out = handle(&ports, now(), event("approval-request")).await.unwrap();

    let (_, subject, text) = published(&ports).remove(0);
    let id = id_in(&text);
    let link = format!("{BASE_URL}/approvals/{id}");
    let output = serde_json::to_string(&out).unwrap();
    let (_, slack) = ports.slack.posted.lock().unwrap().remove(0);
    let logs = logs.text();
    assert!(logs.contains("approval request stored"), "the capture works: {logs}");

    for (what, seen) in [("output", &output), ("subject", &subject), ("text", &text), ("logs", &logs)] {
        assert!(!seen.contains(TOKEN), "token in {what}");
    }
    assert!(!slack.to_string().contains(TOKEN), "token in the Slack payload");
    assert!(!output.contains(&id) && !subject.contains(&id) && !logs.contains(&id), "id outside a link");
    assert!(text.contains(&link));
    assert!(!text.replace(&link, "").contains(&id), "the text shows the id only inside the link");

    let mut fields = Vec::new();
    strings(&slack, "", &mut fields);
    let values = fields.iter().filter(|(f, s)| *f == "value" && *s == id).count();
    assert_eq!(values, 3, "Approve all, Reject all and Review carry the id");
    for (field, s) in fields {
        if field != "value" {
            assert!(!s.replace(&link, "").contains(&id), "id outside the link in Slack field {field}: {s}");
        }
    }
}

/// A resource notify needs and the configuration lacks stops the function at init (reported as
/// `InvalidConfig` by keyward_aws::runtime::init_error): no Deps, so nothing is stored or sent.
#[test]
fn a_missing_resource_stops_notify_at_init_naming_the_variable() {
    let cases = [
        (Config { approval_base_url: None, ..config() }, "KEYWARD_APPROVAL_BASE_URL"),
        (Config { topic_arn: None, ..config() }, "KEYWARD_TOPIC_ARN"),
        (Config { approvals_table: None, ..config() }, "KEYWARD_APPROVALS_TABLE"),
        (Config { decisions_table: None, ..config() }, "KEYWARD_DECISIONS_TABLE"),
        (Config { report_bucket: None, ..config() }, "KEYWARD_REPORT_BUCKET"),
    ];
    for (config, variable) in cases {
        let err = Settings::from_config(&config, &secrets(true)).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { variable: v, .. } if v == variable), "{err:?}");
        assert!(err.to_string().contains(variable), "{err}");
    }
}

#[tokio::test]
async fn missing_or_unreadable_report_is_run_state_invalid_naming_the_key() {
    for kind in ["digest", "approval-request", "rejected", "expired", "outcome", "deactivation-failed"] {
        for body in [None, Some(b"[1, 2".to_vec())] {
            let ports = ports();
            {
                let mut objects = ports.runs.store().objects.lock().unwrap();
                objects.clear();
                if let Some(body) = body.clone() {
                    objects.insert((BUCKET.into(), REPORT_KEY.into()), body);
                }
            }

            let err = handle(&ports, now(), event(kind)).await.unwrap_err();

            assert_eq!(err.error_name(), RUN_STATE_INVALID, "{kind}: {err}");
            assert!(err.to_string().contains(REPORT_KEY), "{err}");
            assert!(published(&ports).is_empty());
            assert!(ports.approvals.records.lock().unwrap().is_empty(), "no record for a run without a report");
        }
    }
}

/// The decision the approval function recorded for the fixture's run.
fn recorded(outcome: DecisionOutcome) -> RecordedDecision {
    let approved = match outcome {
        DecisionOutcome::Approved => vec![report().evaluation.plan.keys[0].key.clone()],
        DecisionOutcome::Rejected => vec![],
    };
    RecordedDecision {
        run: RunRef::new(BUCKET, EXECUTION),
        approval_id_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        outcome,
        decision: Decision {
            approved,
            decided_by: Approver::Slack { user_id: "U012APPROVER".into(), team_id: "T0001EXAMPLE".into() },
            decided_at: now(),
        },
    }
}

fn stored_report(ports: &Ports) -> RunReport {
    serde_json::from_value(ports.runs.store().json(REPORT_KEY).unwrap()).unwrap()
}

#[tokio::test]
async fn rejected_copies_the_recorded_rejection_into_the_run_report_and_names_who() {
    let ports = ports_without_slack();
    let rejection = recorded(DecisionOutcome::Rejected);
    ports.approvals.decisions.lock().unwrap().insert(EXECUTION.into(), rejection.clone());

    handle(&ports, now(), event("rejected")).await.unwrap();

    let stored = stored_report(&ports);
    assert_eq!(stored.decision, Some(rejection.decision));
    assert_eq!(stored.evaluation, report().evaluation, "the rest of the report is as it was");
    let (_, subject, text) = published(&ports).pop().unwrap();
    assert_eq!((subject, text), {
        let m = message::rejected(&stored, LOCATION);
        (m.subject, m.text)
    });
    assert!(published(&ports)[0].2.contains("Rejected by Slack user U012APPROVER"), "{}", published(&ports)[0].2);
}

#[tokio::test]
async fn rejected_without_a_recorded_rejection_of_this_run_writes_nothing() {
    // An earlier run with the same execution name, decided before this run was evaluated.
    let earlier_run = RecordedDecision {
        decision: Decision {
            decided_at: evaluated_at() - Duration::days(100),
            ..recorded(DecisionOutcome::Rejected).decision
        },
        ..recorded(DecisionOutcome::Rejected)
    };
    for recorded in [None, Some(recorded(DecisionOutcome::Approved)), Some(earlier_run)] {
        let ports = ports_without_slack();
        if let Some(recorded) = recorded.clone() {
            ports.approvals.decisions.lock().unwrap().insert(EXECUTION.into(), recorded);
        }

        handle(&ports, now(), event("rejected")).await.unwrap();

        assert_eq!(stored_report(&ports), report(), "{recorded:?}");
        assert_eq!(published(&ports)[0].2, expected("rejected").text);
    }
}

#[tokio::test]
async fn a_retried_rejected_keeps_the_decision_the_report_already_holds() {
    let ports = ports_without_slack();
    let rejection = recorded(DecisionOutcome::Rejected);
    ports.approvals.decisions.lock().unwrap().insert(EXECUTION.into(), rejection.clone());
    handle(&ports, now(), event("rejected")).await.unwrap();
    let after_first = ports.runs.store().objects.lock().unwrap().clone();

    handle(&ports, now(), event("rejected")).await.unwrap();

    assert_eq!(*ports.runs.store().objects.lock().unwrap(), after_first);
    assert_eq!(published(&ports)[0].2, published(&ports)[1].2);
}

#[tokio::test]
async fn clean_needs_no_report() {
    let ports = ports_without_slack();
    ports.runs.store().objects.lock().unwrap().clear();

    handle(&ports, now(), event("clean")).await.unwrap();

    assert_eq!(published(&ports)[0].1, expected("clean").subject);
}

#[tokio::test]
async fn failing_randomness_stores_and_sends_nothing() {
    let ports = ports_with(FakeSlack::default(), BrokenRandom);

    let err = handle(&ports, now(), event("approval-request")).await.unwrap_err();

    assert_eq!(err.error_name(), AWS_CALL_FAILED);
    assert!(ports.approvals.records.lock().unwrap().is_empty());
    assert!(published(&ports).is_empty());
}

/// Every sample in `events/notify/`: valid ones publish their kind's subject, `invalid-*` ones are
/// refused as InvalidInput before anything is read, stored or sent.
#[tokio::test]
async fn every_sample_event_behaves() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/notify");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sample: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let kind = sample["kind"].as_str().unwrap_or_default().to_owned();
        let ports = ports();

        let result = handle(&ports, now(), sample).await;

        if name.starts_with("invalid-") {
            let err = result.err().unwrap_or_else(|| panic!("{name} was accepted"));
            assert_eq!(err.error_name(), INVALID_INPUT, "{name}: {err}");
            assert!(published(&ports).is_empty(), "{name}");
            assert!(ports.approvals.records.lock().unwrap().is_empty(), "{name}");
        } else {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(published(&ports)[0].1, expected(&kind).subject, "{name}");
            assert_eq!(ports.slack.posted.lock().unwrap().len(), 1, "{name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 9);
}

#[tokio::test]
async fn a_deactivation_failed_part_way_lists_what_its_journal_says_was_and_was_not_done() {
    use keyward_core::journal::{Claim, Entry, claim_key, entry_key};
    use keyward_core::model::KeyRef;
    use keyward_core::run_report::{ActionOutcome, ActionRecord};
    // GIVEN a journal: alice's key changed, bob's called without a result, carol's never reached
    let ports = ports_without_slack();
    let run = RunRef::new(BUCKET, EXECUTION);
    let key = |u: &str| KeyRef {
        account_id: keyward_core::fixtures::account(),
        user_name: u.into(),
        access_key_id: format!("AKIA{}KEY00000001", u.to_uppercase()),
    };
    let claim = Claim {
        keys: vec![key("alice"), key("bob"), key("carol")],
        decided_by: keyward_core::decision::Approver::Automatic,
        claimed_at: now(),
        request_id: "req-1".into(),
    };
    let result = ActionRecord { key: key("alice"), at: now(), outcome: ActionOutcome::Deactivated };
    let entries = [
        (claim_key(&run), serde_json::to_value(&claim).unwrap()),
        (
            entry_key(&run, 0, &key("alice"), "intent"),
            serde_json::to_value(Entry::Intent { key: key("alice"), at: now() }).unwrap(),
        ),
        (entry_key(&run, 0, &key("alice"), "result"), serde_json::to_value(Entry::Result(result)).unwrap()),
        (
            entry_key(&run, 1, &key("bob"), "intent"),
            serde_json::to_value(Entry::Intent { key: key("bob"), at: now() }).unwrap(),
        ),
    ];
    for (k, v) in entries {
        ports.runs.store().objects.lock().unwrap().insert((BUCKET.into(), k), serde_json::to_vec(&v).unwrap());
    }

    // WHEN notify is told deactivate failed
    handle(&ports, now(), event("deactivation-failed")).await.unwrap();

    // THEN the message says which keys were changed, possibly changed, not touched
    let (_, subject, text) = &published(&ports)[0];
    assert_eq!(subject, "keyward: deactivation FAILED part-way: 1 key changed, 1 possibly changed, 1 not touched");
    let section = |title: &str| {
        let start = text.find(title).unwrap_or_else(|| panic!("no {title} in {text}"));
        text[start..].split("\n\n").next().unwrap().to_owned()
    };
    assert!(section("Changed (deactivated) (1)").contains("alice AKIAALICEKEY00000001 — deactivated at"), "{text}");
    assert!(section("Possibly changed (1)").contains("bob AKIABOBKEY00000001"), "{text}");
    assert!(section("Not touched (1)").contains("carol AKIACAROLKEY00000001"), "{text}");
    assert!(text.contains("DeactivationIncomplete") && text.contains(JOURNAL), "{text}");
}

#[tokio::test]
async fn a_run_in_another_bucket_is_refused_and_nothing_is_stored_or_sent() {
    let ports = ports();
    let mut e = event("approval-request");
    e["run"]["bucket"] = json!("attacker-bucket");
    let err = handle(&ports, now(), e).await.unwrap_err();
    assert_eq!(err.error_name(), "InvalidInput");
    assert!(ports.approvals.records.lock().unwrap().is_empty());
    assert!(ports.topic.published.lock().unwrap().is_empty());
}
