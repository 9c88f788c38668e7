//! IamAdapter against a real moto server (`.venv/bin/moto_server`, installed by `scripts/venv`):
//! the SDK requests, responses and paging of a real IAM protocol implementation, end to end. A
//! missing moto fails these tests; it never skips them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;
use keyward_aws::iam::{IamAdapter, ReportWait};
use keyward_aws::testing::MotoServer;
use keyward_core::credential_report;
use keyward_core::credential_report::facts::ReportedUser;
use keyward_core::model::{KeyStatus, Provenance, User};
use keyward_core::ports::Iam;
use keyward_core::run_report::calls_since;

/// What the seeded account holds.
struct Account {
    alice_keys: [String; 2],
    bob_key: String,
    bob_mfa: String,
}

/// alice: console password, two keys, tags. bob: a virtual MFA device, one key, path /eng/.
/// carol: nothing at all.
async fn seed(iam: &Client) -> Account {
    iam.create_user()
        .user_name("alice")
        .tags(tag("team", "core"))
        .tags(tag("owner", "alice@example.com"))
        .send()
        .await
        .unwrap();
    iam.create_login_profile().user_name("alice").password("Correct-Horse-9!").send().await.unwrap();
    let mut alice_keys = Vec::new();
    for _ in 0..2 {
        let key = iam.create_access_key().user_name("alice").send().await.unwrap();
        alice_keys.push(key.access_key.unwrap().access_key_id);
    }

    iam.create_user().user_name("bob").path("/eng/").send().await.unwrap();
    let device = iam.create_virtual_mfa_device().virtual_mfa_device_name("bob-phone").send().await.unwrap();
    let bob_mfa = device.virtual_mfa_device.unwrap().serial_number;
    iam.enable_mfa_device()
        .user_name("bob")
        .serial_number(&bob_mfa)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    let bob_key = iam.create_access_key().user_name("bob").send().await.unwrap().access_key.unwrap().access_key_id;

    iam.create_user().user_name("carol").send().await.unwrap();

    Account { alice_keys: alice_keys.try_into().unwrap(), bob_key, bob_mfa }
}

fn tag(key: &str, value: &str) -> aws_sdk_iam::types::Tag {
    aws_sdk_iam::types::Tag::builder().key(key).value(value).build().unwrap()
}

fn fast_report_wait() -> ReportWait {
    ReportWait {
        max_wait: Duration::from_secs(20),
        first_poll: Duration::from_millis(100),
        max_poll: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_reads_lists_reports_and_deactivates_against_moto() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let account = seed(&Client::new(&sdk)).await;
    let iam = IamAdapter::new(&sdk, 50.0).with_report_wait(fast_report_wait());

    // ListUsers names every user with its path.
    let mut users = iam.list_users().await.unwrap();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let listed: Vec<_> = users.iter().map(|u| (u.name.as_str(), u.path.as_str())).collect();
    assert_eq!(listed, [("alice", "/"), ("bob", "/eng/"), ("carol", "/")]);

    // alice: password, no MFA, two active never-used keys, both tags.
    let alice = iam.read_user("alice").await.unwrap().expect("alice exists");
    assert!(alice.arn.as_str().ends_with(":user/alice"), "{}", alice.arn);
    assert_eq!(alice.path, "/");
    assert!(alice.has_console_password);
    assert!(alice.mfa_devices.is_empty());
    assert_eq!(alice.tags.get("team").map(String::as_str), Some("core"));
    assert_eq!(alice.tags.get("owner").map(String::as_str), Some("alice@example.com"));
    let mut alice_key_ids: Vec<_> = alice.access_keys.iter().map(|k| k.id.clone()).collect();
    alice_key_ids.sort();
    let mut seeded = account.alice_keys.to_vec();
    seeded.sort();
    assert_eq!(alice_key_ids, seeded);
    assert!(alice.access_keys.iter().all(|k| k.status == KeyStatus::Active && k.last_used.is_none()));
    assert!(alice.access_keys.iter().all(|k| k.created <= chrono::Utc::now()));

    // bob: the enabled MFA device, no password, one key, the /eng/ path.
    let bob = iam.read_user("bob").await.unwrap().expect("bob exists");
    assert!(bob.arn.as_str().ends_with(":user/eng/bob"), "{}", bob.arn);
    assert_eq!(bob.path, "/eng/");
    assert!(!bob.has_console_password);
    assert_eq!(bob.mfa_devices, std::slice::from_ref(&account.bob_mfa));
    assert_eq!(bob.access_keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), [account.bob_key.as_str()]);

    // carol: nothing.
    let carol = iam.read_user("carol").await.unwrap().expect("carol exists");
    assert!(!carol.has_console_password && carol.mfa_devices.is_empty());
    assert!(carol.access_keys.is_empty() && carol.tags.is_empty());

    // A user that does not exist.
    assert_eq!(iam.read_user("ghost").await.unwrap(), None);

    // The credential report parses and names every user.
    let report = iam.credential_report().await.unwrap();
    let rows = credential_report::parse_bytes(&report.csv).unwrap();
    for name in ["alice", "bob", "carol"] {
        assert!(rows.iter().any(|r| r.user == name), "{name} missing from the report");
    }
    let alice_row = rows.iter().find(|r| r.user == "alice").unwrap();
    assert!(alice_row.password_enabled);
    assert_eq!(alice_row.active_keys().count(), 2);
    assert!(rows.iter().find(|r| r.user == "bob").unwrap().mfa_active);

    // Read with the report's facts, alice is the same user in 3 requests, plus one per key whose
    // creation second the report cannot tell apart (moto may create both keys in one second).
    let generated_at = report.generated_at.expect("moto sends GeneratedTime");
    let facts = ReportedUser::from_row(alice_row);
    let before = iam.api_calls();
    let from_report = iam.read_user_with_report("alice", &facts, generated_at).await.unwrap().expect("alice exists");
    let calls = calls_since(&before, &iam.api_calls());
    let live_reads = alice.access_keys.iter().filter(|k| facts.key_created_at(k.created).is_none()).count() as u64;
    let mut expected = BTreeMap::from([
        ("iam:GetUser".to_owned(), 1),
        ("iam:ListAccessKeys".to_owned(), 1),
        ("iam:ListMFADevices".to_owned(), 1),
    ]);
    if live_reads > 0 {
        expected.insert("iam:GetAccessKeyLastUsed".to_owned(), live_reads);
    }
    assert_eq!(calls, expected);
    assert_eq!(from_report.tags, alice.tags, "GetUser brings the tags");
    assert!(from_report.has_console_password);
    assert_eq!(from_report.console_password_source, Provenance::CredentialReport { generated_at });
    let without_source = |u: &User| {
        let mut keys = u.access_keys.clone();
        keys.iter_mut().for_each(|k| k.last_used_source = Provenance::Live);
        keys
    };
    assert_eq!(without_source(&from_report), alice.access_keys);

    // Deactivating one key leaves the other active.
    let [target, other] = &account.alice_keys;
    iam.deactivate_key("alice", target).await.unwrap();
    let alice = iam.read_user("alice").await.unwrap().unwrap();
    let status = |id: &str| alice.access_keys.iter().find(|k| k.id == id).map(|k| k.status);
    assert_eq!(status(target), Some(KeyStatus::Inactive));
    assert_eq!(status(other), Some(KeyStatus::Active));
    // The read-back reads the key's status alone: one ListAccessKeys each.
    let before = iam.api_calls();
    assert_eq!(iam.read_key_status("alice", target).await.unwrap(), Some(KeyStatus::Inactive));
    assert_eq!(iam.read_key_status("alice", other).await.unwrap(), Some(KeyStatus::Active));
    assert_eq!(iam.read_key_status("alice", "AKIADOESNOTEXIST0000").await.unwrap(), None, "no such key");
    assert_eq!(iam.read_key_status("nobody", target).await.unwrap(), None, "no such user");
    let spent = keyward_core::run_report::calls_since(&before, &iam.api_calls());
    assert_eq!(spent, BTreeMap::from([("iam:ListAccessKeys".to_owned(), 4)]));
    let raw = Client::new(&sdk).list_access_keys().user_name("alice").send().await.unwrap();
    assert_eq!(raw.access_key_metadata.len(), 2, "deactivation never deletes");
    assert!(
        raw.access_key_metadata
            .iter()
            .any(|k| k.access_key_id() == Some(target) && k.status() == Some(&StatusType::Inactive))
    );

    // Every request was counted, by operation.
    let calls = iam.api_calls();
    assert_eq!(calls.get("iam:ListUsers"), Some(&1));
    assert_eq!(calls.get("iam:GetUser"), Some(&6), "alice three times, bob, carol, ghost");
    assert_eq!(calls.get("iam:ListUserTags"), Some(&4), "not for the read with the report's facts");
    assert_eq!(calls.get("iam:UpdateAccessKey"), Some(&1));
    assert!(calls.get("iam:GetCredentialReport").is_some_and(|n| *n >= 1));
    assert!(!calls.keys().any(|op| op.contains("Delete") || op.contains("Create")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_missing_key_is_an_error() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    Client::new(&sdk).create_user().user_name("dave").send().await.unwrap();
    let iam = IamAdapter::new(&sdk, 50.0);

    let err = iam.deactivate_key("dave", "AKIADOESNOTEXIST0000").await.unwrap_err();

    assert!(matches!(err, keyward_core::ports::PortError::Failed { operation: "UpdateAccessKey", .. }), "{err:?}");
}
