//! The check-user handler: reads each user of a batch live, a few at a time, and writes the
//! [`BatchResult`] to `runs/<exec>/results/batch-NNNNN.json`. Any failed read fails the whole batch
//! with the read's error name, so the Map retries it: a throttled read never becomes "no MFA".
//!
//! When the Map item carries the credential report's facts about the batch (`SCREENING=report`), a
//! user the report describes is read with them: only existence and tags, MFA devices and keys live,
//! 3 IAM calls instead of 5 + K (`keyward_core::credential_report::facts` says why that is safe). Users without
//! facts are read fully live.
//!
//! In organisation scope the batch is of one member account (`run.account_id`): its users are read
//! through one session of `MEMBER_READ_ROLE` opened in that account per invocation, and the result
//! lands under the account's prefix. Each deployment reads only through its own scope's access: a
//! batch of the other scope is refused before any call.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use keyward_core::config::{Config, ConfigError, Scope, vars};
use keyward_core::contracts::{BatchResult, CheckUserInput, CheckUserOutput, InvalidEvent, decode};
use keyward_core::credential_report::facts::ReportFacts;
use keyward_core::errors::{self, NamedError};
use keyward_core::identity::SessionName;
use keyward_core::model::User;
use keyward_core::ports::{AccountAccess, AccountSession, Iam, ObjectStore, PortError};
use keyward_core::run_report::calls_since;
use keyward_core::run_store::{RunStore, RunStoreError};

/// The function's name in its sessions' names (`check-user.<exec>` in the member's CloudTrail).
const FUNCTION: &str = "check-user";

/// Live reads in flight at once within one invocation (the adapter's rate limiter still applies).
pub const MAX_READS_IN_FLIGHT: usize = 4;

/// What check-user reads from the configuration, resolved once at init by [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the batch results go.
    pub report_bucket: String,
    /// `MEMBER_READ_ROLE`: the role a member account's users are read through in organisation scope.
    pub member_read_role: String,
}

impl Settings {
    /// The settings of `config`; `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            member_read_role: config.member_read_role.clone(),
        })
    }
}

/// How this deployment reaches IAM, fixed by `KEYWARD_SCOPE` at init: only one exists, so an
/// account-scope deployment has no STS client, and an organisation one no IAM client with its own
/// credentials.
pub enum Access<I, A> {
    /// `KEYWARD_SCOPE=account`: the function's own IAM.
    Own(I),
    /// `KEYWARD_SCOPE=organization`: sessions in the member accounts.
    Members(A),
}

impl<I, A> Access<I, A> {
    /// The scope this access is of.
    pub fn scope(&self) -> Scope {
        match self {
            Access::Own(_) => Scope::Account,
            Access::Members(_) => Scope::Organization,
        }
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<I, S, A> {
    /// IAM (the live reads), or the member accounts' (by `KEYWARD_SCOPE`).
    pub access: Access<I, A>,
    /// The run's state in the report bucket.
    pub runs: RunStore<S>,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why check-user failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum CheckUserError {
    /// The event does not match [`CheckUserInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The batch is of the other scope than this deployment's (`run.account_id` present in account
    /// scope, absent in organisation scope): `InvalidInput`. Nothing was read or written.
    #[error("invalid event: {}", wrong_scope(*deployed))]
    WrongScope {
        /// This deployment's scope.
        deployed: Scope,
    },
    /// A live read failed (`IamThrottled` or `AwsCallFailed`), or the member account's read
    /// session was refused (`MemberRoleRefused`).
    #[error(transparent)]
    Aws(#[from] PortError),
    /// The event names a run outside the report bucket (`InvalidInput`), or the result could not
    /// be written (`RunStateInvalid`, or the S3 call's name).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for CheckUserError {
    fn error_name(&self) -> &'static str {
        match self {
            CheckUserError::InvalidEvent(e) => e.error_name(),
            CheckUserError::WrongScope { .. } => errors::INVALID_INPUT,
            CheckUserError::Aws(e) => e.error_name(),
            CheckUserError::Runs(e) => e.error_name(),
        }
    }
}

/// Why a batch of the other scope is refused, as the error message says it.
fn wrong_scope(deployed: Scope) -> &'static str {
    match deployed {
        Scope::Account => {
            "run.account_id names a member account, but this deployment sweeps its own account \
             (KEYWARD_SCOPE=account) and never assumes a role in another; nothing was read or written"
        }
        Scope::Organization => {
            "run.account_id is missing, but this deployment sweeps an organisation (KEYWARD_SCOPE=organization): \
             every account is read through MEMBER_READ_ROLE, never with the function's own credentials; nothing \
             was read or written"
        }
    }
}

/// Reads the batch's users (with the report's facts where the item carries them) and writes its
/// [`BatchResult`] to the report bucket. Users deleted since listing are recorded as gone; nothing
/// is written if any read fails. In organisation scope the users are read through one read session
/// in the batch's account. `now` is unused: the reads are live, the evaluation comes later.
pub async fn handle<I: Iam, S: ObjectStore, A: AccountAccess>(
    deps: &Deps<I, S, A>,
    _now: DateTime<Utc>,
    event: serde_json::Value,
) -> Result<CheckUserOutput, CheckUserError> {
    let Deps { access, runs, settings } = deps;
    let input: CheckUserInput = decode(event)?;
    // Refused before any IAM or STS call: the event must not be able to make us write elsewhere.
    runs.check(&input.run)?;
    match (access, &input.run.account_id) {
        (Access::Own(iam), None) => check_batch(iam, runs, input).await,
        (Access::Members(accounts), Some(account)) => {
            let session = AccountSession {
                account: account.clone(),
                role: settings.member_read_role.clone(),
                name: SessionName::new(FUNCTION, &input.run.execution_name),
                source_identity: None,
            };
            let iam = accounts.iam_in(&session).await?;
            check_batch(&iam, runs, input).await
        }
        (access, _) => Err(CheckUserError::WrongScope { deployed: access.scope() }),
    }
}

/// Reads the batch's users through `iam` and writes its result under the run's (or its
/// account's) prefix.
async fn check_batch<I: Iam, S: ObjectStore>(
    iam: &I,
    runs: &RunStore<S>,
    input: CheckUserInput,
) -> Result<CheckUserOutput, CheckUserError> {
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();

    let read = read_users(iam, &input.batch.users, input.report.as_ref()).await?;
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
    runs.put_json(&input.run, &result_key, &result).await?;

    tracing::info!(
        execution = %input.run.execution_name,
        account = input.run.account_id.as_ref().map(|a| a.as_str()),
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

/// Reads `names`, at most [`MAX_READS_IN_FLIGHT`] at a time: with the report's facts for a user
/// `reported` describes, fully live for any other. The answers come back in the order of `names`,
/// one per name. The first read to fail fails the batch at once: the reads still in flight are
/// dropped, not waited for (so the window is unordered, and the answers are put back in order).
async fn read_users<I: Iam>(
    iam: &I,
    names: &[String],
    reported: Option<&ReportFacts>,
) -> Result<Vec<Option<User>>, PortError> {
    let mut answers: Vec<(usize, Option<User>)> = stream::iter(names.iter().enumerate())
        .map(|(slot, name)| async move {
            let facts = reported.and_then(|r| Some((r.users.get(name)?, r.generated_at)));
            let answer = match facts {
                Some((facts, generated_at)) => iam.read_user_with_report(name, facts, generated_at).await,
                None => iam.read_user(name).await,
            };
            match answer {
                Ok(user) => Ok((slot, user)),
                Err(error) => {
                    tracing::warn!(user = %name, error = %error, "live read failed; the batch fails so the Map retries it");
                    Err(error)
                }
            }
        })
        .buffer_unordered(MAX_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    answers.sort_unstable_by_key(|(slot, _)| *slot);
    Ok(answers.into_iter().map(|(_, user)| user).collect())
}
