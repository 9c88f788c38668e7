//! check-user against moto with the real adapters (`IamAdapter`, `S3Store`): users created with the
//! plain SDK, one batch read live, and the batch result read back from S3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aws_sdk_iam::types::{StatusType, Tag};
use check_user::handler::handle;
use keyward_aws::iam::IamAdapter;
use keyward_aws::objects::S3Store;
use keyward_aws::testing::MotoServer;
use keyward_core::config::Config;
use keyward_core::contracts::BatchResult;
use keyward_core::errors::{self, NamedError};
use keyward_core::model::KeyStatus;
use serde_json::json;

const BUCKET: &str = "keyward-reports-moto";
const EXEC: &str = "keyward-moto-check";

fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

#[tokio::test]
async fn batch_is_read_live_from_moto_and_its_result_lands_in_s3() {
    // GIVEN alice: console password, no MFA, a tag, one active and one inactive key; bob: an MFA
    // device and no keys; and a bucket
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let tag = Tag::builder().key("team").value("payments").build().unwrap();
    iam.create_user().user_name("alice").tags(tag).send().await.unwrap();
    iam.create_login_profile().user_name("alice").password("Correct-Horse-9").send().await.unwrap();
    let active = iam.create_access_key().user_name("alice").send().await.unwrap().access_key.unwrap().access_key_id;
    let retired = iam.create_access_key().user_name("alice").send().await.unwrap().access_key.unwrap().access_key_id;
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&retired)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("bob").send().await.unwrap();
    let device = iam.create_virtual_mfa_device().virtual_mfa_device_name("bob-mfa").send().await.unwrap();
    let serial = device.virtual_mfa_device.unwrap().serial_number;
    iam.enable_mfa_device()
        .user_name("bob")
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    let config = Config { report_bucket: Some(BUCKET.into()), ..Config::default() };
    let adapter = Arc::new(IamAdapter::new(&sdk, 50.0));
    let event = json!({
        "run": {"bucket": BUCKET, "execution_name": EXEC},
        "batch": {"index": 7, "users": ["alice", "ghost", "bob"]}
    });

    // WHEN the batch is checked
    let out = handle(adapter, &S3Store::new(&sdk), &config, event).await.unwrap();

    // THEN the result in S3 holds both users as IAM has them, and the missing user as gone
    assert_eq!(out.result_key, format!("runs/{EXEC}/results/batch-00007.json"));
    assert_eq!((out.users_checked, out.users_gone), (2, 1));
    let object = s3.get_object().bucket(BUCKET).key(&out.result_key).send().await.unwrap();
    let result: BatchResult = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(result.index, 7);
    assert_eq!(result.gone, vec!["ghost".to_owned()]);
    let [alice, bob] = result.users.as_slice() else { panic!("{:?}", result.users) };
    assert_eq!(alice.name, "alice");
    assert!(alice.has_console_password);
    assert!(alice.mfa_devices.is_empty());
    assert_eq!(alice.tags.get("team").map(String::as_str), Some("payments"));
    let mut keys: Vec<(String, KeyStatus)> = alice.access_keys.iter().map(|k| (k.id.clone(), k.status)).collect();
    keys.sort();
    let mut expected = vec![(active, KeyStatus::Active), (retired, KeyStatus::Inactive)];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(bob.name, "bob");
    assert!(!bob.has_console_password);
    assert_eq!(bob.mfa_devices, vec![serial]);
    assert!(result.api_calls.get("iam:GetUser").is_some_and(|n| *n >= 3), "{:?}", result.api_calls);
    assert!(result.api_calls.contains_key("iam:ListAccessKeys"), "{:?}", result.api_calls);
}

#[tokio::test]
async fn missing_bucket_in_moto_fails_the_batch_by_name() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    aws_sdk_iam::Client::new(&sdk).create_user().user_name("alice").send().await.unwrap();
    let config = Config { report_bucket: Some(BUCKET.into()), ..Config::default() };
    let event = json!({"run": {"bucket": BUCKET, "execution_name": EXEC}, "batch": {"index": 0, "users": ["alice"]}});

    let err = handle(Arc::new(IamAdapter::new(&sdk, 50.0)), &S3Store::new(&sdk), &config, event).await.unwrap_err();

    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
}
