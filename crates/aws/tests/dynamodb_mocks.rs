//! DynamoApprovals over `aws-smithy-mocks`: the items and conditional writes of the approvals
//! table and the decisions table (one transaction), and how a malformed item, a decided or missing
//! request, a run already decided and throttling read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{DateTime, TimeZone, Utc};
use keyward_aws::dynamodb::{DynamoApprovals, item_from_decision, item_from_record};
use keyward_core::contracts::RunRef;
use keyward_core::decision::{Approver, Decision};
use keyward_core::model::KeyRef;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, DecisionOutcome, DecisionStore, PortError,
    RecordedDecision,
};
use support::failed_message;

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3tT0k3n";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

fn pending_record() -> ApprovalRecord {
    ApprovalRecord {
        id_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        task_token: TOKEN.into(),
        run: RunRef::new("keyward-reports", "run-2026-03-02"),
        form_nonce: "nonce-1".into(),
        created_at: at(9),
        expires_at: at(21),
        state: ApprovalState::Pending,
    }
}

fn decided_record() -> ApprovalRecord {
    ApprovalRecord {
        state: ApprovalState::Decided { outcome: "approved".into(), decided_at: at(10) },
        ..pending_record()
    }
}

fn get_item_returning(item: Option<HashMap<String, AttributeValue>>) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|req| req.consistent_read() == Some(true) && req.table_name() == Some("approvals"))
        .then_output(move || GetItemOutput::builder().set_item(item.clone()).build())
}

/// A transaction cancelled with these reasons, one per item (approval update, decision put).
fn cancelled(codes: &'static [&'static str]) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(move || {
        let reasons = codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect();
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("Transaction cancelled, please refer cancellation reasons for specific reasons")
                .set_cancellation_reasons(Some(reasons))
                .build(),
        )
    })
}

fn recorded() -> RecordedDecision {
    RecordedDecision {
        run: pending_record().run,
        approval_id_hash: pending_record().id_hash,
        outcome: DecisionOutcome::Approved,
        decision: Decision {
            approved: vec![KeyRef {
                account_id: keyward_core::fixtures::account(),
                user_name: "alice".into(),
                access_key_id: "AKIAALICE1OLDKEY0001".into(),
            }],
            decided_by: Approver::Slack { user_id: "U012APPROVER".into(), team_id: "T0001EXAMPLE".into() },
            decided_at: at(10),
        },
    }
}

fn decision_get_returning(item: Option<HashMap<String, AttributeValue>>) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|req| {
            req.consistent_read() == Some(true)
                && req.table_name() == Some("decisions")
                && req.key().and_then(|k| k.get("execution_name")) == Some(&AttributeValue::S("run-2026-03-02".into()))
        })
        .then_output(move || GetItemOutput::builder().set_item(item.clone()).build())
}

#[tokio::test]
async fn dynamo_put_pending_writes_every_attribute_once_only() {
    let record = pending_record();
    let rule = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|req| {
            let item = req.item().cloned().unwrap_or_default();
            req.condition_expression() == Some("attribute_not_exists(id_hash)")
                && item.get("expires_at_epoch") == Some(&AttributeValue::N(at(21).timestamp().to_string()))
                && item.get("state") == Some(&AttributeValue::S("pending".into()))
                && item.get("task_token") == Some(&AttributeValue::S(TOKEN.into()))
                && item.get("execution_name") == Some(&AttributeValue::S("run-2026-03-02".into()))
                && !item.contains_key("outcome")
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = DynamoApprovals::from_client(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        "approvals",
        "decisions",
    );

    assert_eq!(table.put_pending(&record).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn dynamo_get_parses_a_stored_item() {
    let item = item_from_record(&decided_record());
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    assert_eq!(table.get(&pending_record().id_hash).await, Ok(Some(decided_record())));
}

#[tokio::test]
async fn dynamo_times_round_trip_to_the_nanosecond() {
    let exact = at(9) + chrono::Duration::nanoseconds(123_456_789);
    let record = ApprovalRecord { created_at: exact, ..pending_record() };
    let rule = get_item_returning(Some(item_from_record(&record)));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    assert_eq!(table.get(&record.id_hash).await, Ok(Some(record)));
}

#[tokio::test]
async fn dynamo_get_of_an_unknown_id_is_none() {
    let rule = get_item_returning(None);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    assert_eq!(table.get("unknown").await, Ok(None));
}

#[tokio::test]
async fn dynamo_get_refuses_a_malformed_item_naming_the_attribute() {
    let mut item = item_from_record(&pending_record());
    item.insert("created_at".into(), AttributeValue::S("yesterday".into()));
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    let err = table.get("x").await.unwrap_err();
    assert!(matches!(&err, PortError::Failed { operation: "GetItem", .. }));
    let message = failed_message(err);
    assert!(message.contains("`created_at`"), "{message}");
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn dynamo_get_refuses_a_token_of_the_wrong_type_without_showing_it() {
    let mut item = item_from_record(&pending_record());
    item.insert("task_token".into(), AttributeValue::Ss(vec![TOKEN.into()]));
    let rule = get_item_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    let message = failed_message(table.get("x").await.unwrap_err());
    assert!(message.contains("`task_token` is not a string"), "{message}");
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn dynamo_record_decides_the_approval_and_puts_the_decision_in_one_transaction() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|req| {
            let [decide, put] = req.transact_items() else { return false };
            let (Some(decide), Some(put)) = (decide.update(), put.put()) else { return false };
            let values = decide.expression_attribute_values().cloned().unwrap_or_default();
            let names = decide.expression_attribute_names().cloned().unwrap_or_default();
            decide.table_name() == "approvals"
                && decide.key().get("id_hash") == Some(&AttributeValue::S(pending_record().id_hash))
                && decide.condition_expression() == Some("attribute_exists(id_hash) AND #s = :pending")
                && names.get("#s").map(String::as_str) == Some("state")
                && values.get(":pending") == Some(&AttributeValue::S("pending".into()))
                && values.get(":decided") == Some(&AttributeValue::S("decided".into()))
                && values.get(":outcome") == Some(&AttributeValue::S("approved".into()))
                && values.get(":decided_at") == Some(&AttributeValue::S("2026-03-02T10:00:00Z".into()))
                && put.table_name() == "decisions"
                && put.condition_expression() == Some("attribute_not_exists(execution_name)")
                && *put.item() == item_from_decision(&recorded()).unwrap()
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let table = DynamoApprovals::from_client(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        "approvals",
        "decisions",
    );

    assert_eq!(table.record(&recorded()).await, Ok(()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn dynamo_record_over_a_decided_approval_is_already_decided() {
    let write = cancelled(&["ConditionalCheckFailed", "None"]);
    let get = get_item_returning(Some(item_from_record(&decided_record())));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&write, &get]), "approvals", "decisions");

    assert_eq!(table.record(&recorded()).await, Err(DecideError::AlreadyDecided));
}

#[tokio::test]
async fn dynamo_record_for_a_run_already_decided_through_another_link_is_already_decided() {
    let write = cancelled(&["None", "ConditionalCheckFailed"]);
    let get = get_item_returning(Some(item_from_record(&pending_record())));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&write, &get]), "approvals", "decisions");

    assert_eq!(table.record(&recorded()).await, Err(DecideError::AlreadyDecided));
}

#[tokio::test]
async fn dynamo_record_of_a_missing_approval_is_not_found() {
    let write = cancelled(&["ConditionalCheckFailed", "None"]);
    let get = get_item_returning(None);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&write, &get]), "approvals", "decisions");

    assert_eq!(table.record(&recorded()).await, Err(DecideError::NotFound));
}

#[tokio::test]
async fn dynamo_a_transaction_cancelled_by_a_conflict_is_a_store_error_not_a_decision() {
    let write = cancelled(&["TransactionConflict", "None"]);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&write]), "approvals", "decisions");

    let Err(DecideError::Store(err)) = table.record(&recorded()).await else { panic!("not a store error") };
    assert!(failed_message(err).contains("TransactionCanceledException"));
}

#[tokio::test]
async fn dynamo_throttling_on_record_is_a_store_error() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::generic(
            ErrorMetadata::builder().code("ProvisionedThroughputExceededException").build(),
        )
    });
    let table = DynamoApprovals::from_client(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        "approvals",
        "decisions",
    );

    assert_eq!(
        table.record(&recorded()).await,
        Err(DecideError::Store(PortError::AwsThrottled { operation: "TransactWriteItems" }))
    );
}

#[tokio::test]
async fn dynamo_recorded_reads_the_decision_back_consistently() {
    let rule = decision_get_returning(Some(item_from_decision(&recorded()).unwrap()));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    assert_eq!(table.recorded(&recorded().run).await, Ok(Some(recorded())));
}

#[tokio::test]
async fn dynamo_recorded_of_an_undecided_run_or_another_buckets_is_none() {
    let none = decision_get_returning(None);
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&none]), "approvals", "decisions");
    assert_eq!(table.recorded(&recorded().run).await, Ok(None));

    let rule = decision_get_returning(Some(item_from_decision(&recorded()).unwrap()));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");
    let elsewhere = RunRef { bucket: "another-stack-reports".into(), ..recorded().run };
    assert_eq!(table.recorded(&elsewhere).await, Ok(None));
}

#[tokio::test]
async fn dynamo_recorded_refuses_a_malformed_decision_naming_the_attribute() {
    let mut item = item_from_decision(&recorded()).unwrap();
    item.insert("outcome".into(), AttributeValue::S("maybe".into()));
    let rule = decision_get_returning(Some(item));
    let table = DynamoApprovals::from_client(mock_client!(aws_sdk_dynamodb, [&rule]), "approvals", "decisions");

    let message = failed_message(table.recorded(&recorded().run).await.unwrap_err());
    assert!(message.contains("`outcome` is neither"), "{message}");
}
