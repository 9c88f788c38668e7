//! notify against a real moto server (`.venv/bin/moto_server`, installed by `scripts/venv`): an
//! approval request reads the run report from a real bucket, stores its pending record in a real
//! DynamoDB table and publishes to a real SNS topic (with a confirmed subscriber: without one, or
//! Slack, nobody could receive it). A rejection recorded in the decisions table is copied into the
//! run report in the bucket. A missing moto fails this test; it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, SubsecRound, Utc};
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::os_random::OsRandom;
use keyward_aws::s3::S3Store;
use keyward_aws::sns::SnsTopic;
use keyward_aws::testing::MotoServer;
use keyward_core::config::{Config, PolicyConfig, Screening};
use keyward_core::contracts::RunRef;
use keyward_core::decision::{Approver, Decision};
use keyward_core::fakes::FakeSlack;
use keyward_core::model::{AccessKey, KeyStatus, User};
use keyward_core::policy::evaluate;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecisionOutcome, DecisionStore, ObjectStore, RecordedDecision,
};
use keyward_core::run_report::{REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::RunStore;
use notify::handler::{Deps, Settings, handle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BUCKET: &str = "keyward-reports";
const EXECUTION: &str = "keyward-moto-run";
const TABLE: &str = "keyward-approvals";
const DECISIONS: &str = "keyward-decisions";
const BASE_URL: &str = "http://127.0.0.1:9000";
const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAmotoTaskToken";

fn report() -> RunReport {
    let evaluated_at = Utc::now() - Duration::minutes(5);
    let config = PolicyConfig::default();
    let user = User {
        name: "erin".into(),
        arn: keyward_core::fixtures::user_arn("erin"),
        path: "/".into(),
        created: evaluated_at - Duration::days(500),
        has_console_password: false,
        console_password_source: Default::default(),
        mfa_devices: vec!["arn:aws:iam::123456789012:mfa/erin".into()],
        tags: Default::default(),
        access_keys: vec![AccessKey {
            id: "AKIAERINOLDKEY000001".into(),
            status: KeyStatus::Active,
            created: evaluated_at - Duration::days(300),
            last_used: None,
            last_used_source: Default::default(),
        }],
    };
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: EXECUTION.into(),
        account_id: None,
        evaluation: evaluate(&[user], &config, evaluated_at),
        config,
        screening: Screening::CredentialReport,
        users_listed: 1,
        users_checked: 1,
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

/// What moto's SNS backend recorded as published to `topic_arn`: (message, subject) pairs.
async fn published_in_moto(moto: &MotoServer, topic_arn: &str) -> Vec<(String, String)> {
    let data: Value =
        reqwest::get(format!("{}/moto-api/data.json", moto.endpoint())).await.unwrap().json().await.unwrap();
    let topics = data["sns"]["Topic"].as_array().expect("moto's data.json lists SNS topics");
    let topic = topics.iter().find(|t| t["arn"] == topic_arn).expect("the topic is in moto");
    topic["sent_notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n[1].as_str().unwrap().to_owned(), n[2].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_request_stores_a_record_in_dynamodb_and_publishes_to_sns_in_moto() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;

    // GIVEN a bucket holding the run report, a topic with a subscriber and the approvals table
    let s3 = moto.create_report_bucket(BUCKET).await;
    let run = RunRef::new(BUCKET, EXECUTION);
    s3.put_object()
        .bucket(BUCKET)
        .key(run.report_key())
        .body(serde_json::to_vec(&report()).unwrap().into())
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic_arn = sns.create_topic().name("keyward").send().await.unwrap().topic_arn.unwrap();
    // moto confirms an e-mail subscription at once (AWS waits for the mail's link).
    sns.subscribe().topic_arn(&topic_arn).protocol("email").endpoint("approver@example.com").send().await.unwrap();
    moto.create_approvals_table(TABLE).await;
    let config = Config {
        topic_arn: Some(topic_arn.clone()),
        approval_base_url: Some(BASE_URL.into()),
        approvals_table: Some(TABLE.into()),
        decisions_table: Some(DECISIONS.into()),
        report_bucket: Some(BUCKET.into()),
        approval_timeout_seconds: 7200,
        ..Config::default()
    };
    let deps = Deps {
        topic: SnsTopic::new(&sdk),
        runs: RunStore::new(S3Store::new(&sdk), BUCKET),
        slack: FakeSlack::default(),
        approvals: DynamoApprovals::new(&sdk, TABLE, DECISIONS),
        random: OsRandom,
        settings: Settings::from_config(&config, &Default::default()).unwrap(),
    };
    // DynamoDB keeps milliseconds: compare at that precision.
    let now = Utc::now().trunc_subsecs(3);

    // WHEN notify is invoked with the task token
    let event = json!({"kind": "approval-request", "run": run, "task_token": TOKEN});
    let out = handle(&deps, now, event).await.unwrap();

    // THEN moto's topic holds the message, with the link and without the token
    let published = published_in_moto(&moto, &topic_arn).await;
    assert_eq!(published.len(), 1);
    let (text, subject) = &published[0];
    assert!(subject.contains("approval needed"), "{subject}");
    assert!(!text.contains(TOKEN) && !subject.contains(TOKEN));
    assert!(!serde_json::to_string(&out).unwrap().contains(TOKEN));
    assert!(out.sns_message_id.is_some_and(|id| !id.is_empty()));
    let marker = format!("{BASE_URL}/approvals/");
    let start = text.find(&marker).expect("the message holds the approval link") + marker.len();
    let id = &text[start..start + 64];

    // AND the table holds exactly one pending record under the SHA-256 of that id, with the token
    let hash = hex::encode(Sha256::digest(id.as_bytes()));
    let record = deps.approvals.get(&hash).await.unwrap().expect("a record under the id's hash");
    assert_eq!(record.task_token, TOKEN);
    assert_eq!(record.run, run);
    assert_eq!(record.state, ApprovalState::Pending);
    assert_eq!(record.created_at, now);
    assert_eq!(record.expires_at, now + Duration::seconds(7200));
    let items = aws_sdk_dynamodb::Client::new(&sdk).scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(items.count(), 1);
    assert!(!format!("{:?}", items.items()).contains(id), "the id itself is stored nowhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_copies_the_rejection_recorded_in_dynamodb_into_the_run_report_in_s3() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;

    // GIVEN the run report in S3 and a rejection recorded as the approval function records it
    let s3 = moto.create_report_bucket(BUCKET).await;
    let run = RunRef::new(BUCKET, EXECUTION);
    let store = S3Store::new(&sdk);
    let original = report();
    store.put(BUCKET, &run.report_key(), serde_json::to_vec(&original).unwrap()).await.unwrap();
    let topic_arn = aws_sdk_sns::Client::new(&sdk).create_topic().name("keyward").send().await.unwrap().topic_arn;
    moto.create_approvals_table(TABLE).await;
    moto.create_decisions_table(DECISIONS).await;
    let tables = DynamoApprovals::new(&sdk, TABLE, DECISIONS);
    let now = Utc::now().trunc_subsecs(0);
    let pending = ApprovalRecord {
        id_hash: hex::encode(Sha256::digest(b"approval id")),
        task_token: TOKEN.into(),
        run: run.clone(),
        form_nonce: "nonce".into(),
        created_at: now,
        expires_at: now + Duration::hours(1),
        state: ApprovalState::Pending,
    };
    tables.put_pending(&pending).await.unwrap();
    let rejection = Decision {
        approved: vec![],
        decided_by: Approver::Slack { user_id: "U012APPROVER".into(), team_id: "T0001EXAMPLE".into() },
        decided_at: now,
    };
    let recorded = RecordedDecision {
        run: run.clone(),
        approval_id_hash: pending.id_hash,
        outcome: DecisionOutcome::Rejected,
        decision: rejection.clone(),
    };
    tables.record(&recorded).await.unwrap();
    let config = Config {
        topic_arn,
        approval_base_url: Some(BASE_URL.into()),
        approvals_table: Some(TABLE.into()),
        decisions_table: Some(DECISIONS.into()),
        report_bucket: Some(BUCKET.into()),
        ..Config::default()
    };
    let deps = Deps {
        topic: SnsTopic::new(&sdk),
        runs: RunStore::new(store, BUCKET),
        slack: FakeSlack::default(),
        approvals: tables,
        random: OsRandom,
        settings: Settings::from_config(&config, &Default::default()).unwrap(),
    };

    // WHEN notify is told the run was rejected
    handle(&deps, now, json!({"kind": "rejected", "run": run})).await.unwrap();

    // THEN the run report in S3 holds the recorded rejection, and nothing else changed
    let body = s3.get_object().bucket(BUCKET).key(run.report_key()).send().await.unwrap().body.collect().await;
    let stored: RunReport = serde_json::from_slice(&body.unwrap().into_bytes()).unwrap();
    assert_eq!(stored.decision, Some(rejection));
    assert_eq!(RunReport { decision: None, ..stored }, original);
}
