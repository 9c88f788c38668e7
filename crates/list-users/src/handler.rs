//! The list-users handler: ListUsers, screening, and the run's `batches.json` (each item carrying,
//! under `SCREENING=report`, the report's facts about its users for check-user) and `listing.json`.
//! A plain async function over the [`Iam`] and [`ObjectStore`] ports.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, Screening};
use keyward_core::contracts::{
    BatchItem, InvalidEvent, ListUsersInput, ListUsersOutput, Listing, RunRef, UserBatch, account_of_arn, decode,
};
use keyward_core::credential_report::{self, CredentialReportError, CredentialReportRow};
use keyward_core::errors::{self, NamedError};
use keyward_core::ports::{Iam, ObjectStore, PortError};
use keyward_core::run_report::calls_since;
use keyward_core::screening;
use keyward_core::screening::batch_items;
use serde::Serialize;

/// Why list-users failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// The event does not match [`ListUsersInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// An IAM or S3 call failed: `IamThrottled`, `CredentialReportUnavailable` or `AwsCallFailed`.
    #[error(transparent)]
    Aws(#[from] PortError),
    /// The credential report could not be parsed: `CredentialReportInvalid`.
    #[error(transparent)]
    CredentialReport(#[from] CredentialReportError),
    /// A run-state object could not be encoded: `RunStateInvalid`.
    #[error("could not encode {key}: {message}")]
    Encode { key: String, message: String },
}

impl NamedError for ListUsersError {
    fn error_name(&self) -> &'static str {
        match self {
            ListUsersError::InvalidEvent(e) => e.error_name(),
            ListUsersError::Aws(e) => e.error_name(),
            ListUsersError::CredentialReport(e) => e.error_name(),
            ListUsersError::Encode { .. } => errors::RUN_STATE_INVALID,
        }
    }
}

/// Lists and screens the account's users and writes the run's batches (to `bucket`, the configured
/// report bucket) and listing. Nothing is written when any IAM call or the report parse fails.
pub async fn handle<I: Iam, S: ObjectStore>(
    iam: &I,
    store: &S,
    config: &Config,
    bucket: &str,
    event: serde_json::Value,
) -> Result<ListUsersOutput, ListUsersError> {
    let input: ListUsersInput = decode(event)?;
    let run = RunRef { bucket: bucket.to_owned(), execution_name: input.execution_name };
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();

    let names: Vec<String> = iam.list_users().await?.into_iter().map(|u| u.name).collect();
    let (screened, report) = match config.screening {
        Screening::CredentialReport => {
            let report = iam.credential_report().await?;
            let rows = credential_report::parse_bytes(&report.csv)?;
            let screened = screening::screen(&rows, &names, &config.policy, input.evaluated_at);
            (screened, Some(ParsedReport { rows, generated_at: report.generated_at }))
        }
        Screening::Live => (screening::all_candidates(&names), None),
    };

    let batch_size = usize::try_from(config.batch_size).unwrap_or(usize::MAX).max(1);
    let batches: Vec<UserBatch> = (0u32..)
        .zip(screened.candidates.chunks(batch_size))
        .map(|(index, chunk)| UserBatch { index, users: chunk.iter().map(|c| c.user.clone()).collect() })
        .collect();
    // The report's facts about each batch's users, so check-user reads live only what must be fresh
    // (keyward_core::credential_report::facts). Without the report's generation time they are not handed on: the
    // users are then read fully live.
    let report_generated_at = report.as_ref().and_then(|r| r.generated_at);
    if report.is_some() && report_generated_at.is_none() {
        tracing::warn!("IAM did not say when the credential report was generated; candidates are read fully live");
    }
    let facts = report.as_ref().zip(report_generated_at).map(|(r, at)| (r.rows.as_slice(), at));
    let items: Vec<BatchItem> = batch_items(batches, facts);
    let listing = Listing {
        account_id: input.execution_id.as_deref().and_then(account_of_arn),
        users_listed: names.len(),
        screening: config.screening,
        candidates: screened.candidates,
        deleted_since_report: screened.deleted_since_report,
        report_generated_at,
        api_calls: calls_since(&calls_before, &iam.api_calls()),
    };

    put_json(store, &run.bucket, &run.listing_key(), &listing).await?;
    let batches_key = run.batches_key();
    put_json(store, &run.bucket, &batches_key, &items).await?;

    tracing::info!(
        execution = %run.execution_name,
        screening = ?config.screening,
        users_listed = listing.users_listed,
        candidates = listing.candidates.len(),
        batches = items.len(),
        deleted_since_report = listing.deleted_since_report,
        batches_with_report_facts = items.iter().filter(|i| i.report.is_some()).count(),
        "listed and screened users"
    );
    Ok(ListUsersOutput {
        users_listed: listing.users_listed,
        candidates: listing.candidates.len(),
        batches: items.len(),
        batches_key,
        has_candidates: !listing.candidates.is_empty(),
        run,
    })
}

/// The credential report as list-users screened with it.
struct ParsedReport {
    rows: Vec<CredentialReportRow>,
    generated_at: Option<DateTime<Utc>>,
}

async fn put_json<S: ObjectStore, T: Serialize>(
    store: &S,
    bucket: &str,
    key: &str,
    value: &T,
) -> Result<(), ListUsersError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| ListUsersError::Encode { key: key.to_owned(), message: e.to_string() })?;
    store.put(bucket, key, body).await?;
    Ok(())
}
