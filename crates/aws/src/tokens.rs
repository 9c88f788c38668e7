//! Short-lived single-use items in the approvals table ([`DynamoTokens`] implements
//! [`TokenStore`]): an OpenID sign-in's `state`, a sign-in session, a Slack request already
//! accepted.
//!
//! One item per token, keyed by `id_hash` (S) = `<kind>#<hash>`, which never equals an approval
//! record's key (a bare hex hash), with `value` (S) and `expires_at_epoch` (N, seconds: the table's
//! TTL attribute). DynamoDB's TTL deletes expired items late (within days), so every read and the
//! conditional put judge expiry themselves.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use keyward_core::ports::{Creation, PortError, TokenStore};
use std::collections::HashMap;

use crate::error::sdk_error;

const ID_HASH: &str = "id_hash";
const VALUE: &str = "value";
const EXPIRES_AT_EPOCH: &str = "expires_at_epoch";

/// Short-lived items in the approvals table.
#[derive(Debug, Clone)]
pub struct DynamoTokens {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTokens {
    /// The table named `table` (the approvals table), over the shared SDK configuration.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> DynamoTokens {
        DynamoTokens::from_client(aws_sdk_dynamodb::Client::new(sdk), table)
    }

    /// The table over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoTokens {
        DynamoTokens { client, table: table.into() }
    }
}

/// `key`, if it has a kind prefix: without one it could name an approval record, which a `take`
/// would delete.
fn checked(operation: &'static str, key: &str) -> Result<AttributeValue, PortError> {
    match key.split_once('#') {
        Some((kind, rest)) if !kind.is_empty() && !rest.is_empty() => Ok(AttributeValue::S(key.to_owned())),
        _ => Err(PortError::Failed { operation, message: "a token key must be `<kind>#<hash>`".to_owned() }),
    }
}

fn epoch(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp().to_string())
}

/// The item's value if it is live at `now`; a malformed item is an error naming the attribute.
fn live_value(
    operation: &'static str,
    item: &HashMap<String, AttributeValue>,
    now: DateTime<Utc>,
) -> Result<Option<String>, PortError> {
    let malformed = |attribute: &str| PortError::Failed {
        operation,
        message: format!("malformed token item: attribute `{attribute}` is missing or of the wrong type"),
    };
    let expires_at = match item.get(EXPIRES_AT_EPOCH) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().map_err(|_| malformed(EXPIRES_AT_EPOCH))?,
        _ => return Err(malformed(EXPIRES_AT_EPOCH)),
    };
    let Some(AttributeValue::S(value)) = item.get(VALUE) else {
        return Err(malformed(VALUE));
    };
    Ok((now.timestamp() < expires_at).then(|| value.clone()))
}

impl TokenStore for DynamoTokens {
    async fn put_new(
        &self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Creation, PortError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ID_HASH, checked("PutItem", key)?)
            .item(VALUE, AttributeValue::S(value.to_owned()))
            .item(EXPIRES_AT_EPOCH, epoch(expires_at))
            // An expired item that TTL has not removed yet is dead, and may be replaced.
            .condition_expression("attribute_not_exists(id_hash) OR expires_at_epoch <= :now")
            .expression_attribute_values(":now", epoch(now))
            .send()
            .await;
        match written {
            Ok(_) => Ok(Creation::Created),
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(Creation::AlreadyExists)
            }
            Err(e) => Err(sdk_error("PutItem", &e)),
        }
    }

    async fn get_live(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID_HASH, checked("GetItem", key)?)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &e))?;
        match output.item {
            Some(item) => live_value("GetItem", &item, now),
            None => Ok(None),
        }
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ID_HASH, checked("DeleteItem", key)?)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", &e))?;
        match output.attributes {
            Some(item) => live_value("DeleteItem", &item, now),
            None => Ok(None),
        }
    }
}
