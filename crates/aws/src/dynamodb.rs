//! The approvals table over DynamoDB ([`DynamoApprovals`] implements [`ApprovalStore`]).
//!
//! One item per approval request, keyed by `id_hash` (S, the SHA-256 of the approval id; the id
//! itself is never stored). Attributes: `task_token`, `bucket`, `execution_name`, `form_nonce`,
//! `created_at` and `expires_at` (RFC 3339), `expires_at_epoch` (N, seconds: the table's TTL
//! attribute), `state` (`pending` | `decided`) and, once decided, `outcome` and `decided_at`.
//! Deciding is one conditional write (`pending` → `decided`), so two approvers cannot both win.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use keyward_core::contracts::RunRef;
use keyward_core::ports::{ApprovalRecord, ApprovalState, ApprovalStore, DecideError, PortError};

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

const PENDING: &str = "pending";
const DECIDED: &str = "decided";

/// The approvals table.
#[derive(Debug, Clone)]
pub struct DynamoApprovals {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoApprovals {
    /// The table named `table`, over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> DynamoApprovals {
        DynamoApprovals::from_client(aws_sdk_dynamodb::Client::new(sdk), table)
    }

    /// The table over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoApprovals {
        DynamoApprovals { client, table: table.into() }
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
        run: RunRef { bucket: text(BUCKET)?, execution_name: text(EXECUTION_NAME)? },
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

    async fn decide(&self, id_hash: &str, outcome: &str, decided_at: DateTime<Utc>) -> Result<(), DecideError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID_HASH, AttributeValue::S(id_hash.to_owned()))
            .update_expression("SET #s = :decided, #o = :outcome, #d = :decided_at")
            .condition_expression("attribute_exists(id_hash) AND #s = :pending")
            .expression_attribute_names("#s", STATE)
            .expression_attribute_names("#o", OUTCOME)
            .expression_attribute_names("#d", DECIDED_AT)
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.to_owned()))
            .expression_attribute_values(":decided", AttributeValue::S(DECIDED.to_owned()))
            .expression_attribute_values(":outcome", AttributeValue::S(outcome.to_owned()))
            .expression_attribute_values(":decided_at", time(decided_at))
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                // Missing or no longer pending: a consistent read tells which.
                match self.read("GetItem", id_hash).await? {
                    None => Err(DecideError::NotFound),
                    Some(_) => Err(DecideError::AlreadyDecided),
                }
            }
            Err(e) => Err(DecideError::Store(sdk_error("UpdateItem", &e))),
        }
    }
}
