//! check-user against moto with the real adapters (`IamAdapter`, `S3Store`): users created with the
//! plain SDK, one batch read live, and the batch result read back from S3; and the IAM calls a
//! candidate costs when list-users left the credential report's facts about its batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_iam::types::{StatusType, Tag};
use check_user::handler::{Access, Deps, Settings, handle};
use chrono::Utc;
use keyward_aws::iam::IamAdapter;
use keyward_aws::s3::S3Store;
use keyward_aws::sts::MemberAccounts;
use keyward_aws::testing::MotoServer;
use keyward_core::config::Config;
use keyward_core::contracts::BatchResult;
use keyward_core::contracts::UserBatch;
use keyward_core::credential_report;
use keyward_core::errors::{self, NamedError};
use keyward_core::model::{KeyStatus, Provenance};
use keyward_core::ports::Iam;
use keyward_core::run_store::RunStore;
use keyward_core::screening::batch_items;
use serde_json::json;

const BUCKET: &str = "keyward-reports-moto";
const EXEC: &str = "keyward-moto-check";

/// check-user over moto, with a fresh IAM adapter (its call counts start at zero).
fn deps(sdk: &aws_config::SdkConfig) -> Deps<IamAdapter, S3Store, MemberAccounts> {
    let settings = Settings::from_config(&Config { report_bucket: Some(BUCKET.into()), ..Config::default() }).unwrap();
    Deps { access: Access::Own(IamAdapter::new(sdk, 50.0)), runs: RunStore::new(S3Store::new(sdk), BUCKET), settings }
}

#[tokio::test]
async fn batch_is_read_live_from_moto_and_its_result_lands_in_s3() {
    // GIVEN alice: console password, no MFA, a tag, one active and one inactive key; bob: an MFA
    // device and no keys; and a bucket
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = moto.create_report_bucket(BUCKET).await;
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
    let event = json!({
        "run": {"bucket": BUCKET, "execution_name": EXEC},
        "batch": {"index": 7, "users": ["alice", "ghost", "bob"]}
    });

    // WHEN the batch is checked
    let out = handle(&deps(&sdk), Utc::now(), event).await.unwrap();

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
    let event = json!({"run": {"bucket": BUCKET, "execution_name": EXEC}, "batch": {"index": 0, "users": ["alice"]}});

    let err = handle(&deps(&sdk), Utc::now(), event).await.unwrap_err();

    assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
}

/// A user with a console password, no MFA and `keys` access keys, created at least a second apart:
/// the credential report knows a key only by its creation second.
async fn console_user_with_keys(iam: &aws_sdk_iam::Client, name: &str, keys: usize) {
    iam.create_user().user_name(name).send().await.unwrap();
    iam.create_login_profile().user_name(name).password("Correct-Horse-9").send().await.unwrap();
    for _ in 0..keys {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        iam.create_access_key().user_name(name).send().await.unwrap();
    }
}

fn iam_calls_of(result: &BatchResult) -> u64 {
    result.api_calls.iter().filter(|(op, _)| op.starts_with("iam:")).map(|(_, n)| n).sum()
}

#[tokio::test]
async fn under_report_screening_a_one_or_two_key_candidate_costs_three_iam_calls() {
    // GIVEN console users without MFA holding one and two keys, the credential report (as
    // list-users fetches it), and a user created after the report
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = moto.create_report_bucket(BUCKET).await;
    console_user_with_keys(&iam, "one-key", 1).await;
    console_user_with_keys(&iam, "two-keys", 2).await;
    let lister = IamAdapter::new(&sdk, 50.0);
    let report = lister.credential_report().await.unwrap();
    let rows = credential_report::parse_bytes(&report.csv).unwrap();
    let generated_at = report.generated_at.expect("moto sends GeneratedTime");
    console_user_with_keys(&iam, "newcomer", 1).await;

    // AND list-users' Map items, carrying the report's facts (batch 2: a user without a row)
    let batches = vec![
        UserBatch { index: 0, users: vec!["one-key".into()] },
        UserBatch { index: 1, users: vec!["two-keys".into()] },
        UserBatch { index: 2, users: vec!["newcomer".into()] },
    ];
    let items = batch_items(batches, Some((&rows, generated_at)));
    assert!(items[2].report.is_none());

    // WHEN each batch is checked
    let mut results = Vec::new();
    for item in &items {
        let event = json!({"run": {"bucket": BUCKET, "execution_name": EXEC}, "batch": item});
        let out = handle(&deps(&sdk), Utc::now(), event).await.unwrap();
        let object = s3.get_object().bucket(BUCKET).key(&out.result_key).send().await.unwrap();
        results
            .push(serde_json::from_slice::<BatchResult>(&object.body.collect().await.unwrap().into_bytes()).unwrap());
    }

    // THEN a candidate the report describes costs GetUser, ListMFADevices and ListAccessKeys: 3,
    // within the budget of 4 per candidate (docs/architecture.md, "The IAM call budget"), whether it holds one key or two
    let fresh_only = std::collections::BTreeMap::from([
        ("iam:GetUser".to_owned(), 1),
        ("iam:ListAccessKeys".to_owned(), 1),
        ("iam:ListMFADevices".to_owned(), 1),
    ]);
    for result in &results[..2] {
        assert_eq!(result.api_calls, fresh_only, "batch {}", result.index);
        assert!(iam_calls_of(result) <= 4);
        let user = &result.users[0];
        assert!(user.has_console_password && user.mfa_devices.is_empty());
        assert_eq!(user.console_password_source, Provenance::CredentialReport { generated_at });
        assert!(user.access_keys.iter().all(|k| k.last_used_source == Provenance::CredentialReport { generated_at }));
    }
    assert_eq!(results[1].users[0].access_keys.len(), 2);
    // AND the user created after the report is read fully live: 5 calls + 1 per key
    assert_eq!(iam_calls_of(&results[2]), 6, "{:?}", results[2].api_calls);
    assert!(results[2].users[0].console_password_source.is_live());
}
