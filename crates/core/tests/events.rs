//! Every sample event in `events/` decodes into its contract, and every `invalid-*` sample is refused
//! with an `InvalidInput` error that says what is wrong. The same files feed `cargo lambda invoke`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use keyward_core::contracts::{
    CheckUserInput, Contract, DeactivateInput, InvalidEvent, ListUsersEvent, ListUsersInput, NotifyEvent,
    ValidateKeysInput, decode,
};
use keyward_core::errors::{INVALID_INPUT, NamedError};

fn events_dir(function: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(function)
}

/// Decodes every sample of `function` as `T`; returns (valid count, invalid count).
fn check<T: Contract>(function: &str) -> (usize, usize) {
    let mut counts = (0, 0);
    let mut entries: Vec<_> = std::fs::read_dir(events_dir(function)).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let result: Result<T, InvalidEvent> = decode(value);
        if name.starts_with("invalid-") {
            let err = result.err().unwrap_or_else(|| panic!("{function}/{name} was accepted"));
            assert_eq!(err.error_name(), INVALID_INPUT);
            assert!(err.to_string().starts_with(&format!("invalid {} event: ", T::NAME)), "{err}");
            counts.1 += 1;
        } else {
            result.unwrap_or_else(|e| panic!("{function}/{name}: {e}"));
            counts.0 += 1;
        }
    }
    counts
}

#[test]
fn list_users_events() {
    assert_eq!(check::<ListUsersEvent>("list-users"), (4, 2));
}

#[test]
fn check_user_events() {
    assert_eq!(check::<CheckUserInput>("check-user"), (2, 3));
}

#[test]
fn validate_keys_events() {
    assert_eq!(check::<ValidateKeysInput>("validate-keys"), (2, 1));
}

#[test]
fn notify_events() {
    assert_eq!(check::<NotifyEvent>("notify"), (7, 2));
}

#[test]
fn deactivate_events() {
    assert_eq!(check::<DeactivateInput>("deactivate"), (2, 1));
}

#[test]
fn invalid_events_name_the_problem() {
    let err = decode::<ListUsersInput>(serde_json::json!({"execution_name": "x"})).unwrap_err();
    assert!(err.message.contains("evaluated_at"), "{err}");
    let err =
        decode::<ListUsersInput>(serde_json::json!({"execution_name": "a/b", "evaluated_at": "2026-11-21T06:00:00Z"}))
            .unwrap_err();
    assert!(err.message.contains("a/b"), "{err}");
    let err = decode::<NotifyEvent>(serde_json::json!("not an object")).unwrap_err();
    assert_eq!(err.contract, "NotifyEvent");
    let err = decode::<ListUsersInput>(
        serde_json::json!({"execution_name": "x", "evaluated_at": "2026-11-21T06:00:00Z", "extra": 1}),
    )
    .unwrap_err();
    assert!(err.message.contains("extra"), "{err}");
}

#[test]
fn debug_output_never_shows_a_task_token() {
    let token = "AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken";
    let event: NotifyEvent = decode(serde_json::json!({
        "kind": "approval-request",
        "run": {"bucket": "b", "execution_name": "x"},
        "task_token": token,
    }))
    .unwrap();
    assert!(!format!("{event:?}").contains(token));
    let record = keyward_core::ports::ApprovalRecord {
        id_hash: "ab".repeat(32),
        task_token: token.into(),
        run: event.run().clone(),
        form_nonce: "nonce-value".into(),
        created_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now(),
        state: keyward_core::ports::ApprovalState::Pending,
    };
    let shown = format!("{record:?} {record:#?}");
    assert!(!shown.contains(token) && !shown.contains("nonce-value"), "{shown}");
}

#[test]
fn check_user_item_carries_the_report_facts_beside_the_batch() {
    let path = events_dir("check-user").join("batch-with-report.json");
    let sent: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();

    let input: CheckUserInput = decode(sent.clone()).unwrap();

    assert_eq!(input.batch.users, ["alice", "bob", "svc-ci"]);
    let report = input.report.as_ref().expect("the item's report");
    assert_eq!(report.users.keys().collect::<Vec<_>>(), ["alice", "svc-ci"], "bob has no row");
    assert_eq!(report.users["svc-ci"].keys.len(), 2);
    // Encoded again, it is the payload Step Functions sent: the report inside the batch.
    assert_eq!(serde_json::to_value(&input).unwrap(), sent);
    // And an item without a report decodes to no facts.
    let bare: CheckUserInput = decode(serde_json::json!({
        "run": sent["run"].clone(),
        "batch": {"index": 0, "users": ["alice"]}
    }))
    .unwrap();
    assert_eq!(bare.report, None);
}
