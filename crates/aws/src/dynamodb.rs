//! The approvals table and the decisions table over DynamoDB ([`DynamoApprovals`] implements
//! [`ApprovalStore`] and [`DecisionStore`]).
//!
//! The approvals table: one item per approval request, keyed by `id_hash` (S, the SHA-256 of the
//! approval id; the id itself is never stored). Attributes: `task_token`, `bucket`,
//! `execution_name`, `form_nonce`, `created_at` and `expires_at` (RFC 3339), `expires_at_epoch` (N,
//! seconds: the table's TTL attribute), `state` (`pending` | `decided`) and, once decided, `outcome`
//! and `decided_at`.
//!
//! The decisions table: one item per run, keyed by `execution_name` (S), with `bucket`,
//! `approval_id_hash`, `outcome` (`approved` | `rejected`), `decided_at` (RFC 3339) and `decision`
//! (the [`Decision`] as JSON: the approved keys, who decided, when). Recording a decision is one
//! transaction (TransactWriteItems): the approval's conditional update `pending` → `decided` and the
//! decision's put `attribute_not_exists(execution_name)`. Both or neither: two approvers, or two
//! links of one run, cannot both win, and no decision exists without its approval being decided.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, SecondsFormat, Utc};
use keyward_core::contracts::RunRef;
use keyward_core::decision::Decision;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, DecisionOutcome, DecisionStore, PortError,
    RecordedDecision,
};

use crate::error::sdk_error;

const ID_HASH: &str = "id_hash";
const TASK_TOKEN: &str = "task_token";
const BUCKET: &str = "bucket";
const EXECUTION_NAME: &str = "execution_name";
const FORM_NONCE: &str = "form_nonce";
const CREATED_AT: &str = "created_at";
const EXPIRES_AT: &str = "expires_at";
const EXPIRES_AT_EPOCH: &str = "expires_at_epoch";
const STATE: &str = "state";
const OUTCOME: &str = "outcome";
const DECIDED_AT: &str = "decided_at";
const APPROVAL_ID_HASH: &str = "approval_id_hash";
const DECISION: &str = "decision";

const PENDING: &str = "pending";
const DECIDED: &str = "decided";

/// The approvals table and, beside it, the decisions table.
#[derive(Debug, Clone)]
pub struct DynamoApprovals {
    client: aws_sdk_dynamodb::Client,
    table: String,
    decisions_table: String,
}

impl DynamoApprovals {
    /// The approvals table `table` and the decisions table `decisions_table`, over the shared SDK
    /// configuration.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>, decisions_table: impl Into<String>) -> DynamoApprovals {
        DynamoApprovals::from_client(aws_sdk_dynamodb::Client::new(sdk), table, decisions_table)
    }

    /// The tables over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        decisions_table: impl Into<String>,
    ) -> DynamoApprovals {
        DynamoApprovals { client, table: table.into(), decisions_table: decisions_table.into() }
    }

    async fn read(&self, operation: &'static str, id_hash: &str) -> Result<Option<ApprovalRecord>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID_HASH, AttributeValue::S(id_hash.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(operation, &e))?;
        output
            .item
            .map(|item| record_from_item(&item).map_err(|message| PortError::Failed { operation, message }))
            .transpose()
    }
}

fn time(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// The item stored for a record.
pub fn item_from_record(record: &ApprovalRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (ID_HASH.to_owned(), AttributeValue::S(record.id_hash.clone())),
        (TASK_TOKEN.to_owned(), AttributeValue::S(record.task_token.clone())),
        (BUCKET.to_owned(), AttributeValue::S(record.run.bucket.clone())),
        (EXECUTION_NAME.to_owned(), AttributeValue::S(record.run.execution_name.clone())),
        (FORM_NONCE.to_owned(), AttributeValue::S(record.form_nonce.clone())),
        (CREATED_AT.to_owned(), time(record.created_at)),
        (EXPIRES_AT.to_owned(), time(record.expires_at)),
        (EXPIRES_AT_EPOCH.to_owned(), AttributeValue::N(record.expires_at.timestamp().to_string())),
    ]);
    match &record.state {
        ApprovalState::Pending => {
            item.insert(STATE.to_owned(), AttributeValue::S(PENDING.to_owned()));
        }
        ApprovalState::Decided { outcome, decided_at } => {
            item.insert(STATE.to_owned(), AttributeValue::S(DECIDED.to_owned()));
            item.insert(OUTCOME.to_owned(), AttributeValue::S(outcome.clone()));
            item.insert(DECIDED_AT.to_owned(), time(*decided_at));
        }
    }
    item
}

/// The record an item holds, or a message naming the first missing or malformed attribute (never
/// its value: one of them is the task token).
pub fn record_from_item(item: &HashMap<String, AttributeValue>) -> Result<ApprovalRecord, String> {
    let text = |name: &str| -> Result<String, String> {
        match item.get(name) {
            Some(AttributeValue::S(s)) => Ok(s.clone()),
            Some(_) => Err(format!("malformed approval item: attribute `{name}` is not a string")),
            None => Err(format!("malformed approval item: attribute `{name}` is missing")),
        }
    };
    let when = |name: &str| -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(&text(name)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("malformed approval item: attribute `{name}` is not an RFC 3339 time"))
    };
    let state = match text(STATE)?.as_str() {
        PENDING => ApprovalState::Pending,
        DECIDED => ApprovalState::Decided { outcome: text(OUTCOME)?, decided_at: when(DECIDED_AT)? },
        _ => {
            return Err(format!("malformed approval item: attribute `{STATE}` is neither `{PENDING}` nor `{DECIDED}`"));
        }
    };
    Ok(ApprovalRecord {
        id_hash: text(ID_HASH)?,
        task_token: text(TASK_TOKEN)?,
        run: RunRef::new(text(BUCKET)?, text(EXECUTION_NAME)?),
        form_nonce: text(FORM_NONCE)?,
        created_at: when(CREATED_AT)?,
        expires_at: when(EXPIRES_AT)?,
        state,
    })
}

impl ApprovalStore for DynamoApprovals {
    async fn put_pending(&self, record: &ApprovalRecord) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_from_record(record)))
            // A fresh 256-bit id never collides; if it did, refuse rather than overwrite.
            .condition_expression("attribute_not_exists(id_hash)")
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", &e))?;
        Ok(())
    }

    async fn get(&self, id_hash: &str) -> Result<Option<ApprovalRecord>, PortError> {
        self.read("GetItem", id_hash).await
    }
}

/// The item stored in the decisions table for `recorded`.
pub fn item_from_decision(recorded: &RecordedDecision) -> Result<HashMap<String, AttributeValue>, String> {
    let decision =
        serde_json::to_string(&recorded.decision).map_err(|e| format!("the decision does not encode: {e}"))?;
    Ok(HashMap::from([
        (EXECUTION_NAME.to_owned(), AttributeValue::S(recorded.run.execution_name.clone())),
        (BUCKET.to_owned(), AttributeValue::S(recorded.run.bucket.clone())),
        (APPROVAL_ID_HASH.to_owned(), AttributeValue::S(recorded.approval_id_hash.clone())),
        (OUTCOME.to_owned(), AttributeValue::S(recorded.outcome.as_str().to_owned())),
        (DECIDED_AT.to_owned(), time(recorded.decision.decided_at)),
        (DECISION.to_owned(), AttributeValue::S(decision)),
    ]))
}

/// The decision an item of the decisions table holds, or a message naming the first missing or
/// malformed attribute.
pub fn decision_from_item(item: &HashMap<String, AttributeValue>) -> Result<RecordedDecision, String> {
    let text = |name: &str| -> Result<&str, String> {
        match item.get(name) {
            Some(AttributeValue::S(s)) => Ok(s.as_str()),
            Some(_) => Err(format!("malformed decision item: attribute `{name}` is not a string")),
            None => Err(format!("malformed decision item: attribute `{name}` is missing")),
        }
    };
    let outcome = match text(OUTCOME)? {
        "approved" => DecisionOutcome::Approved,
        "rejected" => DecisionOutcome::Rejected,
        _ => {
            return Err(format!("malformed decision item: attribute `{OUTCOME}` is neither `approved` nor `rejected`"));
        }
    };
    let decision: Decision = serde_json::from_str(text(DECISION)?)
        .map_err(|e| format!("malformed decision item: attribute `{DECISION}` is not a decision: {e}"))?;
    Ok(RecordedDecision {
        run: RunRef::new(text(BUCKET)?.to_owned(), text(EXECUTION_NAME)?.to_owned()),
        approval_id_hash: text(APPROVAL_ID_HASH)?.to_owned(),
        outcome,
        decision,
    })
}

/// A request that did not build (a missing required field: a bug, not a service answer).
fn unbuilt(err: impl std::fmt::Display) -> DecideError {
    DecideError::Store(PortError::Failed { operation: "TransactWriteItems", message: err.to_string() })
}

impl DecisionStore for DynamoApprovals {
    async fn record(&self, recorded: &RecordedDecision) -> Result<(), DecideError> {
        let item = item_from_decision(recorded)
            .map_err(|message| DecideError::Store(PortError::Failed { operation: "TransactWriteItems", message }))?;
        let decide = Update::builder()
            .table_name(&self.table)
            .key(ID_HASH, AttributeValue::S(recorded.approval_id_hash.clone()))
            .update_expression("SET #s = :decided, #o = :outcome, #d = :decided_at")
            .condition_expression("attribute_exists(id_hash) AND #s = :pending")
            .expression_attribute_names("#s", STATE)
            .expression_attribute_names("#o", OUTCOME)
            .expression_attribute_names("#d", DECIDED_AT)
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.to_owned()))
            .expression_attribute_values(":decided", AttributeValue::S(DECIDED.to_owned()))
            .expression_attribute_values(":outcome", AttributeValue::S(recorded.outcome.as_str().to_owned()))
            .expression_attribute_values(":decided_at", time(recorded.decision.decided_at))
            .build()
            .map_err(unbuilt)?;
        let put = Put::builder()
            .table_name(&self.decisions_table)
            .set_item(Some(item))
            // One decision per run: another link of the same run (a retried notify) loses here.
            .condition_expression("attribute_not_exists(execution_name)")
            .build()
            .map_err(unbuilt)?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(decide).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        let Err(e) = written else { return Ok(()) };
        let condition_failed = match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
            }
            _ => false,
        };
        if !condition_failed {
            return Err(DecideError::Store(sdk_error("TransactWriteItems", &e)));
        }
        // The approval is missing or no longer pending, or the run already has a decision: a
        // consistent read of the approval tells a missing one from a decided one.
        match self.read("GetItem", &recorded.approval_id_hash).await? {
            None => Err(DecideError::NotFound),
            Some(_) => Err(DecideError::AlreadyDecided),
        }
    }

    async fn recorded(&self, run: &RunRef) -> Result<Option<RecordedDecision>, PortError> {
        const OPERATION: &str = "GetItem";
        let output = self
            .client
            .get_item()
            .table_name(&self.decisions_table)
            .key(EXECUTION_NAME, AttributeValue::S(run.execution_name.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(OPERATION, &e))?;
        let Some(item) = output.item else { return Ok(None) };
        let recorded =
            decision_from_item(&item).map_err(|message| PortError::Failed { operation: OPERATION, message })?;
        // A decision is its run's only: the same execution name in another bucket is another run.
        Ok(Some(recorded).filter(|d| d.run == *run))
    }
}
