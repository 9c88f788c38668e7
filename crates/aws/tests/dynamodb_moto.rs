//! DynamoApprovals and DynamoTokens against a real moto server (`testing::MotoServer`; `cargo test
//! -p keyward-aws --features moto`): a request is stored once; a decision is recorded once, with
//! its approval decided in the same transaction; a token is stored once while it lives and taken
//! once. The tables are created with the harness's `create_approvals_table` and
//! `create_decisions_table` (the schemas the adapter expects); the adapter is then used as the
//! functions use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use keyward_aws::dynamodb::DynamoApprovals;
use keyward_aws::testing::MotoServer;
use keyward_aws::tokens::DynamoTokens;
use keyward_core::contracts::RunRef;
use keyward_core::decision::{Approver, Decision};
use keyward_core::model::KeyRef;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, Creation, DecideError, DecisionOutcome, DecisionStore,
    RecordedDecision, TokenStore,
};

const BUCKET: &str = "keyward-reports";
const TABLE: &str = "keyward-approvals";
const DECISIONS: &str = "keyward-decisions";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

fn record(id_hash: &str) -> ApprovalRecord {
    ApprovalRecord {
        id_hash: id_hash.into(),
        task_token: "AQCEAAAAKgAAAAMAAAAAAAAAAXtoken".into(),
        run: RunRef::new(BUCKET, "exec-1"),
        form_nonce: "nonce".into(),
        created_at: at(9),
        expires_at: at(21),
        state: ApprovalState::Pending,
    }
}

#[tokio::test]
async fn approvals_store_keeps_a_pending_request_once() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    moto.create_approvals_table(TABLE).await;
    let table = DynamoApprovals::new(&sdk, TABLE, DECISIONS);
    let pending = record("a1b2");

    table.put_pending(&pending).await.unwrap();
    assert_eq!(table.get("a1b2").await, Ok(Some(pending.clone())));
    assert_eq!(table.get("unknown").await, Ok(None));
    assert!(table.put_pending(&pending).await.is_err(), "a second put of the same id must not overwrite");
}

fn decision(id_hash: &str, outcome: DecisionOutcome, hour: u32) -> RecordedDecision {
    let approved = match outcome {
        DecisionOutcome::Approved => vec![KeyRef {
            account_id: keyward_core::fixtures::account(),
            user_name: "alice".into(),
            access_key_id: "AKIAALICE1".into(),
        }],
        DecisionOutcome::Rejected => vec![],
    };
    RecordedDecision {
        run: record(id_hash).run,
        approval_id_hash: id_hash.into(),
        outcome,
        decision: Decision {
            approved,
            decided_by: Approver::Slack { user_id: "U012APPROVER".into(), team_id: "T0001EXAMPLE".into() },
            decided_at: at(hour),
        },
    }
}

#[tokio::test]
async fn a_decision_is_recorded_once_with_its_approval_decided_in_the_same_transaction() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    moto.create_approvals_table(TABLE).await;
    moto.create_decisions_table(DECISIONS).await;
    let table = DynamoApprovals::new(&sdk, TABLE, DECISIONS);
    // Two approval requests of the same run (a retried notify sent two links).
    table.put_pending(&record("a1b2")).await.unwrap();
    table.put_pending(&record("c3d4")).await.unwrap();
    let run = record("a1b2").run;
    assert_eq!(table.recorded(&run).await, Ok(None));

    let approved = decision("a1b2", DecisionOutcome::Approved, 10);
    assert_eq!(table.record(&approved).await, Ok(()));
    assert_eq!(table.recorded(&run).await, Ok(Some(approved.clone())));
    let decided = table.get("a1b2").await.unwrap().unwrap();
    assert_eq!(decided.state, ApprovalState::Decided { outcome: "approved".into(), decided_at: at(10) });
    assert_eq!(decided.task_token, record("a1b2").task_token);

    // The same link again; the run's other link; a link that does not exist.
    let again = decision("a1b2", DecisionOutcome::Rejected, 11);
    assert_eq!(table.record(&again).await, Err(DecideError::AlreadyDecided));
    let other_link = decision("c3d4", DecisionOutcome::Rejected, 11);
    assert_eq!(table.record(&other_link).await, Err(DecideError::AlreadyDecided));
    assert_eq!(table.record(&decision("unknown", DecisionOutcome::Approved, 11)).await, Err(DecideError::NotFound));

    // Neither lost write changed anything: the decision is the first, the other link still pending.
    assert_eq!(table.recorded(&run).await, Ok(Some(approved)));
    assert_eq!(table.get("c3d4").await.unwrap().unwrap().state, ApprovalState::Pending);
}

#[tokio::test]
async fn a_token_is_stored_once_while_live_and_taken_once() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    moto.create_approvals_table(TABLE).await;
    let tokens = DynamoTokens::new(&sdk, TABLE);
    let key = "oidc-state#5e8f";

    assert_eq!(tokens.put_new(key, "first", at(9), at(10)).await, Ok(Creation::Created));
    assert_eq!(tokens.put_new(key, "second", at(9), at(10)).await, Ok(Creation::AlreadyExists));
    assert_eq!(tokens.get_live(key, at(9)).await, Ok(Some("first".into())));
    assert_eq!(tokens.get_live(key, at(10)).await, Ok(None), "dead from expires_at on");

    assert_eq!(tokens.take(key, at(9)).await, Ok(Some("first".into())));
    assert_eq!(tokens.take(key, at(9)).await, Ok(None), "single use");

    // An expired item that TTL has not removed yet is dead: it may be replaced, and taking it
    // yields nothing.
    assert_eq!(tokens.put_new(key, "old", at(8), at(9)).await, Ok(Creation::Created));
    assert_eq!(tokens.take(key, at(9)).await, Ok(None));
    assert_eq!(tokens.put_new(key, "old", at(8), at(9)).await, Ok(Creation::Created));
    assert_eq!(tokens.put_new(key, "new", at(10), at(11)).await, Ok(Creation::Created));
    assert_eq!(tokens.get_live(key, at(10)).await, Ok(Some("new".into())));
}

#[tokio::test]
async fn a_token_key_without_a_kind_never_reaches_an_approval_record() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    moto.create_approvals_table(TABLE).await;
    let approvals = DynamoApprovals::new(&sdk, TABLE, DECISIONS);
    approvals.put_pending(&record("a1b2")).await.unwrap();
    let tokens = DynamoTokens::new(&sdk, TABLE);

    for key in ["a1b2", "#a1b2", "kind#"] {
        assert!(tokens.take(key, at(9)).await.is_err(), "{key}");
        assert!(tokens.put_new(key, "x", at(9), at(10)).await.is_err(), "{key}");
    }
    assert_eq!(approvals.get("a1b2").await.unwrap().map(|r| r.state), Some(ApprovalState::Pending));
}
