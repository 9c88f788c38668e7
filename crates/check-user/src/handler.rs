//! The check-user handler: reads each user of a batch live, a few at a time, and writes the
//! [`BatchResult`] to `runs/<exec>/results/batch-NNNNN.json`. Any failed read fails the whole batch
//! with the read's error name, so the Map retries it: a throttled read never becomes "no MFA".
//!
//! When the Map item carries the credential report's facts about the batch (`SCREENING=report`), a
//! user the report describes is read with them: only existence and tags, MFA devices and keys live,
//! 3 IAM calls instead of 5 + K (`keyward_core::credential_report::facts` says why that is safe). Users without
//! facts are read fully live.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use keyward_core::config::{Config, ConfigError, vars};
use keyward_core::contracts::{BatchResult, CheckUserInput, CheckUserOutput, InvalidEvent, decode};
use keyward_core::credential_report::facts::ReportFacts;
use keyward_core::errors::{self, NamedError};
use keyward_core::model::User;
use keyward_core::ports::{Iam, ObjectStore, PortError};
use keyward_core::run_report::calls_since;
use tokio::task::JoinSet;

/// Live reads in flight at once within one invocation (the adapter's rate limiter still applies).
pub const MAX_READS_IN_FLIGHT: usize = 4;

/// Why check-user failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum CheckUserError {
    /// The event does not match [`CheckUserInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The event names a bucket other than the configured report bucket: `InvalidInput`.
    #[error("invalid CheckUserInput event: run.bucket {got:?} is not the configured report bucket {expected:?}")]
    WrongBucket { got: String, expected: String },
    /// The report bucket is not configured: `InvalidConfig`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A live read or the result write failed: `IamThrottled` or `AwsCallFailed`.
    #[error(transparent)]
    Aws(#[from] PortError),
    /// A read task stopped without an answer (it panicked): `AwsCallFailed`, so the Map retries.
    #[error("reading user {user} stopped without an answer: {message}")]
    ReadAborted { user: String, message: String },
    /// The batch result could not be encoded: `RunStateInvalid`.
    #[error("could not encode {key}: {message}")]
    Encode { key: String, message: String },
}

impl NamedError for CheckUserError {
    fn error_name(&self) -> &'static str {
        match self {
            CheckUserError::InvalidEvent(e) => e.error_name(),
            CheckUserError::WrongBucket { .. } => errors::INVALID_INPUT,
            CheckUserError::Config(_) => errors::INVALID_CONFIG,
            CheckUserError::Aws(e) => e.error_name(),
            CheckUserError::ReadAborted { .. } => errors::AWS_CALL_FAILED,
            CheckUserError::Encode { .. } => errors::RUN_STATE_INVALID,
        }
    }
}

/// Reads the batch's users (with the report's facts where the item carries them) and writes its
/// [`BatchResult`] to the configured report bucket. Users deleted since listing are recorded as
/// gone; nothing is written if any read fails.
pub async fn handle<I: Iam + 'static, S: ObjectStore>(
    iam: Arc<I>,
    store: &S,
    config: &Config,
    event: serde_json::Value,
) -> Result<CheckUserOutput, CheckUserError> {
    let input: CheckUserInput = decode(event)?;
    let bucket = Config::require(&config.report_bucket, vars::REPORT_BUCKET)?;
    // The event must not be able to make us write anywhere but the report bucket.
    if input.run.bucket != bucket {
        return Err(CheckUserError::WrongBucket { got: input.run.bucket, expected: bucket.to_owned() });
    }
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();

    let read = read_users(&iam, &input.batch.users, input.report.as_ref()).await?;
    let mut result =
        BatchResult { index: input.batch.index, users: Vec::new(), gone: Vec::new(), api_calls: BTreeMap::new() };
    for (name, user) in input.batch.users.iter().zip(read) {
        match user {
            Some(user) => result.users.push(user),
            None => result.gone.push(name.clone()),
        }
    }
    result.api_calls = calls_since(&calls_before, &iam.api_calls());

    let result_key = input.run.batch_result_key(input.batch.index);
    let body = serde_json::to_vec(&result)
        .map_err(|e| CheckUserError::Encode { key: result_key.clone(), message: e.to_string() })?;
    store.put(bucket, &result_key, body).await?;

    tracing::info!(
        execution = %input.run.execution_name,
        batch = input.batch.index,
        users_checked = result.users.len(),
        users_gone = result.gone.len(),
        users_with_report_facts = input.report.as_ref().map_or(0, |r| r.users.len()),
        "checked batch live"
    );
    Ok(CheckUserOutput {
        index: input.batch.index,
        users_checked: result.users.len(),
        users_gone: result.gone.len(),
        result_key,
    })
}

/// Reads `names`, at most [`MAX_READS_IN_FLIGHT`] at a time, in a sliding window: with the report's
/// facts for a user `reported` describes, fully live for any other. The answers come back in the
/// order of `names`. The first error stops every read still in flight.
async fn read_users<I: Iam + 'static>(
    iam: &Arc<I>,
    names: &[String],
    reported: Option<&ReportFacts>,
) -> Result<Vec<Option<User>>, CheckUserError> {
    let mut answers: Vec<Option<Option<User>>> = vec![None; names.len()];
    let mut waiting = names.iter().enumerate();
    let mut reads = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, &str> = HashMap::new();
    loop {
        while reads.len() < MAX_READS_IN_FLIGHT {
            let Some((slot, name)) = waiting.next() else { break };
            let (iam, owned) = (Arc::clone(iam), name.clone());
            let facts = reported.and_then(|r| Some((r.users.get(name)?.clone(), r.generated_at)));
            let task = reads.spawn(async move {
                let answer = match facts {
                    Some((facts, generated_at)) => iam.read_user_with_report(&owned, &facts, generated_at).await,
                    None => iam.read_user(&owned).await,
                };
                (slot, answer)
            });
            in_flight.insert(task.id(), name);
        }
        let Some(joined) = reads.join_next_with_id().await else { break };
        let (slot, answer) = match joined {
            Ok((_, done)) => done,
            Err(e) => {
                let user = in_flight.get(&e.id()).copied().unwrap_or("(unknown)").to_owned();
                return Err(CheckUserError::ReadAborted { user, message: e.to_string() });
            }
        };
        let name = names.get(slot).map_or("(unknown)", String::as_str);
        match answer {
            Ok(user) => {
                if let Some(place) = answers.get_mut(slot) {
                    *place = Some(user);
                }
            }
            Err(error) => {
                // Dropping the set aborts the reads still in flight.
                tracing::warn!(user = %name, error = %error, "live read failed; the batch fails so the Map retries it");
                return Err(error.into());
            }
        }
    }
    // Each name was spawned once and joined once, so every slot holds an answer.
    answers
        .into_iter()
        .zip(names)
        .map(|(answer, name)| {
            answer.ok_or_else(|| CheckUserError::ReadAborted { user: name.clone(), message: "no answer".to_owned() })
        })
        .collect()
}
