//! The S3, SNS, Step Functions and DynamoDB adapters against a real moto server
//! (`testing::MotoServer`; `cargo test -p keyward-aws --features moto`). Resources are created with
//! plain SDK clients; the adapters are then used exactly as the functions use them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use chrono::{DateTime, TimeZone, Utc};
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::s3::S3Store;
use keyward_aws::sfn::SfnCallbacks;
use keyward_aws::sns::SnsTopic;
use keyward_aws::testing::MotoServer;
use keyward_core::contracts::RunRef;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, ObjectStore, PortError, TaskCallback, Topic,
};

const BUCKET: &str = "keyward-reports";
const TABLE: &str = "keyward-approvals";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

#[tokio::test]
async fn s3_round_trips_an_object_and_a_missing_key_is_none() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let store = S3Store::new(&sdk);
    let report: Vec<u8> = serde_json::to_vec(&serde_json::json!({"users": vec!["x".repeat(100); 30_000]})).unwrap();
    assert!(report.len() > 3_000_000);

    store.put(BUCKET, "runs/exec-1/report.json", report.clone()).await.unwrap();

    assert_eq!(store.get(BUCKET, "runs/exec-1/report.json").await.unwrap(), Some(report));
    assert_eq!(store.get(BUCKET, "runs/exec-1/missing.json").await, Ok(None));
    let head = s3.head_object().bucket(BUCKET).key("runs/exec-1/report.json").send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
}

#[tokio::test]
async fn s3_get_from_a_missing_bucket_is_an_error_not_none() {
    let moto = MotoServer::start();
    let store = S3Store::new(&moto.sdk_config().await);

    let err = store.get("no-such-bucket", "runs/x/report.json").await.unwrap_err();

    assert!(matches!(&err, PortError::Failed { operation: "GetObject", message } if message.contains("NoSuchBucket")));
}

#[tokio::test]
async fn sns_publish_returns_a_message_id() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let topic_arn =
        aws_sdk_sns::Client::new(&sdk).create_topic().name("keyward").send().await.unwrap().topic_arn.unwrap();
    let topic = SnsTopic::new(&sdk);
    let long_subject = format!("keyward: {}", "stale key ".repeat(20));

    let id = topic.publish(&topic_arn, &long_subject, "3 keys to deactivate").await.unwrap();

    assert!(!id.is_empty());
}

fn record(id_hash: &str) -> ApprovalRecord {
    ApprovalRecord {
        id_hash: id_hash.into(),
        task_token: "AQCEAAAAKgAAAAMAAAAAAAAAAXtoken".into(),
        run: RunRef { bucket: BUCKET.into(), execution_name: "exec-1".into() },
        form_nonce: "nonce".into(),
        created_at: at(9),
        expires_at: at(21),
        state: ApprovalState::Pending,
    }
}

#[tokio::test]
async fn approvals_store_decides_once_only() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id_hash")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("id_hash").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap();
    let table = DynamoApprovals::new(&sdk, TABLE);
    let pending = record("a1b2");

    table.put_pending(&pending).await.unwrap();
    assert_eq!(table.get("a1b2").await, Ok(Some(pending.clone())));
    assert_eq!(table.get("unknown").await, Ok(None));
    assert!(table.put_pending(&pending).await.is_err(), "a second put of the same id must not overwrite");

    assert_eq!(table.decide("a1b2", "approved", at(10)).await, Ok(()));
    assert_eq!(table.decide("a1b2", "rejected", at(11)).await, Err(DecideError::AlreadyDecided));
    assert_eq!(table.decide("unknown", "approved", at(10)).await, Err(DecideError::NotFound));

    let decided = table.get("a1b2").await.unwrap().unwrap();
    assert_eq!(decided.state, ApprovalState::Decided { outcome: "approved".into(), decided_at: at(10) });
    assert_eq!(decided.task_token, pending.task_token);
}

#[tokio::test]
async fn sfn_callback_with_an_unknown_token_fails_without_showing_it() {
    let moto = MotoServer::start();
    // moto's default Step Functions backend accepts any callback; its executing backend (the one the
    // local stack uses) checks the token as AWS does.
    let configured = reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto.endpoint()))
        .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .unwrap();
    assert!(configured.status().is_success());
    let sfn = SfnCallbacks::new(&moto.sdk_config().await);
    let token = "bogus-token-AQCEAAAAKgAAAAMAAAAAAAAAAZZZ";

    let failure = sfn.fail(token, "ApprovalRejected", "rejected by alice").await.unwrap_err();
    let success = sfn.succeed(token, &serde_json::json!({"approved": []})).await.unwrap_err();

    for err in [failure, success] {
        assert!(matches!(err, PortError::TaskGone { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(token));
    }
}
