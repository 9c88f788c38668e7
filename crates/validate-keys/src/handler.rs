//! The validate-keys handler: reads `batches.json`, `listing.json` and every batch result of the
//! run, evaluates the policy, writes `report.json`, and returns counts and the next step. A batch
//! whose result is missing (the Map tolerated its failure) is reported as not evaluated; nothing
//! acts on its users.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, vars};
use keyward_core::contracts::{
    BatchItem, BatchResult, InvalidEvent, Listing, NextStep, RunRef, ValidateKeysInput, ValidateKeysOutput, decode,
};
use keyward_core::errors::{self, NamedError};
use keyward_core::model::User;
use keyward_core::policy::{self, PlanStatus};
use keyward_core::ports::{ObjectStore, PortError};
use keyward_core::run_report::add_calls;
use keyward_core::run_report::{REPORT_SCHEMA_VERSION, RunReport};
use serde::de::DeserializeOwned;

/// Why validate-keys failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum ValidateKeysError {
    /// The event does not match [`ValidateKeysInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The event names a bucket other than the configured report bucket: `InvalidInput`.
    #[error(
        "invalid ValidateKeysInput event: listed.run.bucket {got:?} is not the configured report bucket {expected:?}"
    )]
    WrongBucket { got: String, expected: String },
    /// The report bucket is not configured: `InvalidConfig`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An S3 call failed: `AwsCallFailed`.
    #[error(transparent)]
    Aws(#[from] PortError),
    /// An object of the run is missing or unreadable: `RunStateInvalid`.
    #[error("run state s3://{bucket}/{key} {problem}")]
    RunState { bucket: String, key: String, problem: String },
}

impl NamedError for ValidateKeysError {
    fn error_name(&self) -> &'static str {
        match self {
            ValidateKeysError::InvalidEvent(e) => e.error_name(),
            ValidateKeysError::WrongBucket { .. } => errors::INVALID_INPUT,
            ValidateKeysError::Config(_) => errors::INVALID_CONFIG,
            ValidateKeysError::Aws(e) => e.error_name(),
            ValidateKeysError::RunState { .. } => errors::RUN_STATE_INVALID,
        }
    }
}

/// What the Map's batches produced.
#[derive(Default)]
struct Checked {
    users: Vec<User>,
    gone: Vec<String>,
    not_evaluated: Vec<String>,
    api_calls: BTreeMap<String, u64>,
}

/// Evaluates the run's live-checked users at `evaluated_at` and writes the run report.
pub async fn handle<S: ObjectStore>(
    store: &S,
    config: &Config,
    event: serde_json::Value,
) -> Result<ValidateKeysOutput, ValidateKeysError> {
    let input: ValidateKeysInput = decode(event)?;
    let run = input.listed.run;
    let bucket = Config::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    // The event must not be able to make us read or write anywhere but the report bucket.
    if run.bucket != bucket {
        return Err(ValidateKeysError::WrongBucket { got: run.bucket, expected: bucket.to_owned() });
    }

    let batches: Vec<BatchItem> = get_json(store, &run.bucket, &run.batches_key()).await?;
    let listing: Listing = get_json(store, &run.bucket, &run.listing_key()).await?;
    let checked = gather(store, &run, &batches).await?;

    let report = build_report(&run, config, &listing, checked, input.evaluated_at);
    let report_key = run.report_key();
    let body = serde_json::to_vec(&report).map_err(|e| ValidateKeysError::RunState {
        bucket: run.bucket.clone(),
        key: report_key.clone(),
        problem: format!("could not be encoded: {e}"),
    })?;
    store.put(&run.bucket, &report_key, body).await?;

    let evaluation = &report.evaluation;
    let status = evaluation.plan.status;
    let output = ValidateKeysOutput {
        report_key,
        status,
        next: next_step(status),
        findings: evaluation.findings.len(),
        warnings: evaluation.warnings.len(),
        planned: evaluation.plan.keys.len(),
        users_not_evaluated: report.users_not_evaluated.len(),
        run,
    };
    tracing::info!(
        execution = %output.run.execution_name,
        users_checked = report.users_checked,
        users_gone = report.users_gone.len(),
        users_not_evaluated = output.users_not_evaluated,
        findings = output.findings,
        warnings = output.warnings,
        planned = output.planned,
        status = ?output.status,
        next = ?output.next,
        "evaluated the run"
    );
    Ok(output)
}

/// What the state machine does for a plan status.
pub fn next_step(status: PlanStatus) -> NextStep {
    match status {
        PlanStatus::AwaitingApproval => NextStep::RequestApproval,
        PlanStatus::Automatic => NextStep::Deactivate,
        PlanStatus::Empty | PlanStatus::ReportOnly | PlanStatus::CapExceeded { .. } => NextStep::Done,
    }
}

/// Reads every batch's result. A missing result means the Map gave up on that batch: its users
/// are not evaluated. A result that is there but unreadable, or for another batch, is an error.
async fn gather<S: ObjectStore>(store: &S, run: &RunRef, batches: &[BatchItem]) -> Result<Checked, ValidateKeysError> {
    let mut checked = Checked::default();
    for batch in batches {
        let key = run.batch_result_key(batch.index);
        let Some(result) = get_optional_json::<S, BatchResult>(store, &run.bucket, &key).await? else {
            tracing::warn!(
                batch = batch.index,
                users = batch.users.len(),
                "batch result missing; its users are not evaluated"
            );
            checked.not_evaluated.extend(batch.users.iter().cloned());
            continue;
        };
        if result.index != batch.index {
            return Err(ValidateKeysError::RunState {
                bucket: run.bucket.clone(),
                key,
                problem: format!("holds batch {} instead of batch {}", result.index, batch.index),
            });
        }
        checked.users.extend(result.users);
        checked.gone.extend(result.gone);
        add_calls(&mut checked.api_calls, &result.api_calls);
    }
    Ok(checked)
}

fn build_report(
    run: &RunRef,
    config: &Config,
    listing: &Listing,
    checked: Checked,
    evaluated_at: DateTime<Utc>,
) -> RunReport {
    let evaluation = policy::evaluate(&checked.users, &config.policy, evaluated_at);
    let mut api_calls = listing.api_calls.clone();
    add_calls(&mut api_calls, &checked.api_calls);
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: run.execution_name.clone(),
        account_id: listing.account_id.clone(),
        config: config.policy.clone(),
        screening: listing.screening,
        users_listed: listing.users_listed,
        users_checked: checked.users.len(),
        users_gone: checked.gone,
        users_not_evaluated: checked.not_evaluated,
        evaluation,
        decision: None,
        actions: Vec::new(),
        api_calls,
    }
}

/// Reads and parses a run object that must exist.
async fn get_json<S: ObjectStore, T: DeserializeOwned>(
    store: &S,
    bucket: &str,
    key: &str,
) -> Result<T, ValidateKeysError> {
    get_optional_json(store, bucket, key).await?.ok_or_else(|| ValidateKeysError::RunState {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        problem: "is missing".to_owned(),
    })
}

/// Reads and parses a run object; `None` if it does not exist.
async fn get_optional_json<S: ObjectStore, T: DeserializeOwned>(
    store: &S,
    bucket: &str,
    key: &str,
) -> Result<Option<T>, ValidateKeysError> {
    let Some(body) = store.get(bucket, key).await? else { return Ok(None) };
    serde_json::from_slice(&body).map(Some).map_err(|e| ValidateKeysError::RunState {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        problem: format!("is not valid: {e}"),
    })
}
