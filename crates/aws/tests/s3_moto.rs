//! S3Store against a real moto server (`testing::MotoServer`; `cargo test -p keyward-aws --features
//! moto`): a large object round-trips, a missing key is `None`, a missing bucket an error. The
//! bucket is created with the harness's `create_report_bucket`; the adapter is then used as the
//! functions use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_aws::s3::S3Store;
use keyward_aws::testing::MotoServer;
use keyward_core::ports::{Creation, ObjectStore, PortError};

const BUCKET: &str = "keyward-reports";

#[tokio::test]
async fn s3_round_trips_an_object_and_a_missing_key_is_none() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let s3 = moto.create_report_bucket(BUCKET).await;
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
async fn s3_create_writes_once_and_never_overwrites() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    moto.create_report_bucket(BUCKET).await;
    let store = S3Store::new(&sdk);
    let key = "runs/exec-1/claim.json";

    assert_eq!(store.create(BUCKET, key, b"{\"first\":true}".to_vec()).await, Ok(Creation::Created));
    assert_eq!(store.create(BUCKET, key, b"{\"second\":true}".to_vec()).await, Ok(Creation::AlreadyExists));

    assert_eq!(store.get(BUCKET, key).await.unwrap(), Some(b"{\"first\":true}".to_vec()), "the first write stands");
    let err = store.create("no-such-bucket", key, b"{}".to_vec()).await.unwrap_err();
    assert!(matches!(&err, PortError::Failed { operation: "PutObject", message } if message.contains("NoSuchBucket")));
}
