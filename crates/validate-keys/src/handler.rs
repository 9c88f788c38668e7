//! The validate-keys handler: reads `batches.json`, `listing.json` and every batch result of the
//! run, evaluates the policy, writes `report.json`, and returns counts and the next step. A batch
//! whose result is missing (the Map tolerated its failure) is reported as not evaluated; nothing
//! acts on its users. An organisation run (`KEYWARD_SCOPE=organization`) is read account by
//! account in `org.rs`; each deployment refuses the other scope's event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, PolicyConfig, Scope, Screening, vars};
use keyward_core::contracts::{
    BatchItem, BatchResult, InvalidEvent, Listing, NextStep, RunRef, ValidateKeysInput, ValidateKeysOutput, decode,
};
use keyward_core::errors::NamedError;
use keyward_core::model::User;
use keyward_core::policy::{self, PlanStatus};
use keyward_core::ports::ObjectStore;
use keyward_core::run_report::add_calls;
use keyward_core::run_report::{Coverage, REPORT_SCHEMA_VERSION, RunReport};
use keyward_core::run_store::{RunStore, RunStoreError};

/// What validate-keys reads from the configuration, resolved once at init by
/// [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the run's state is.
    pub report_bucket: String,
    /// The policy the run is evaluated against.
    pub policy: PolicyConfig,
    /// `KEYWARD_SCOPE`: which run this deployment evaluates (the other scope's event is refused).
    pub scope: Scope,
    /// `SCREENING`: how the organisation run's accounts were screened (an account's listing says
    /// so for a run of one account).
    pub screening: Screening,
}

impl Settings {
    /// The settings of `config`; `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            policy: config.policy.clone(),
            scope: config.scope,
            screening: config.screening,
        })
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<S> {
    /// The run's state in the report bucket.
    pub runs: RunStore<S>,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why validate-keys failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum ValidateKeysError {
    /// The event does not match [`ValidateKeysInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The event names a run outside the report bucket (`InvalidInput`); an object of the run is
    /// missing, unreadable or for another batch (`RunStateInvalid`); the run's report already
    /// exists and was left as it was (`RunAlreadyRecorded`); or an S3 call failed (its name).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for ValidateKeysError {
    fn error_name(&self) -> &'static str {
        match self {
            ValidateKeysError::InvalidEvent(e) => e.error_name(),
            ValidateKeysError::Runs(e) => e.error_name(),
        }
    }
}

/// What the Map's batches produced.
#[derive(Default)]
pub(crate) struct Checked {
    pub(crate) users: Vec<User>,
    pub(crate) gone: Vec<String>,
    pub(crate) not_evaluated: Vec<String>,
    pub(crate) api_calls: BTreeMap<String, u64>,
}

/// Evaluates the run's live-checked users at the execution's start (`evaluated_at`, the one
/// evaluation instant of the run; `now` is unused) and writes the run report.
pub async fn handle<S: ObjectStore>(
    deps: &Deps<S>,
    _now: DateTime<Utc>,
    event: serde_json::Value,
) -> Result<ValidateKeysOutput, ValidateKeysError> {
    let Deps { runs, settings } = deps;
    let input: ValidateKeysInput = decode(event)?;
    // decode() lets exactly one of the two through; each deployment takes only its own scope's.
    let (run, report) = match (settings.scope, input.listed, input.discovered) {
        (Scope::Account, Some(listed), None) if listed.run.account_id.is_none() => {
            let run = listed.run;
            runs.check(&run)?;
            let batches: Vec<BatchItem> = runs.get_json(&run, &run.batches_key()).await?;
            let listing: Listing = runs.get_json(&run, &run.listing_key()).await?;
            let checked = gather(runs, &run, &batches).await?;
            let report = build_report(&run, &settings.policy, &listing, checked, input.evaluated_at);
            (run, report)
        }
        (Scope::Organization, None, Some(discovered)) => {
            let run = discovered.run;
            runs.check(&run)?;
            let report = crate::org::organization_report(runs, settings, &run, input.evaluated_at).await?;
            (run, report)
        }
        (scope, ..) => return Err(other_scope(scope).into()),
    };
    let report_key = run.report_key();
    // Created, never overwritten: a report already there is an earlier run's record (the same
    // execution name, allowed again 90 days on) or this run's before a redrive.
    runs.create_report(&run, &report).await.inspect_err(|err| {
        tracing::error!(execution = %run.execution_name, error = err.error_name(), %err, "the run report was not written");
    })?;

    let evaluation = &report.evaluation;
    let status = evaluation.plan.status.clone();
    let output = ValidateKeysOutput {
        report_key,
        next: next_step(&status),
        status,
        findings: evaluation.findings.len(),
        warnings: evaluation.warnings.len(),
        planned: evaluation.plan.keys.len(),
        users_not_evaluated: report.users_not_evaluated.len(),
        coverage_complete: report.coverage.as_ref().is_none_or(Coverage::is_complete),
        accounts_failed: report.coverage.as_ref().map_or(0, |c| c.failed.len()),
        run,
    };
    tracing::info!(
        execution = %output.run.execution_name,
        users_checked = report.users_checked,
        users_gone = report.users_gone.len(),
        users_not_evaluated = output.users_not_evaluated,
        accounts_failed = output.accounts_failed,
        findings = output.findings,
        warnings = output.warnings,
        planned = output.planned,
        status = ?output.status,
        next = ?output.next,
        "evaluated the run"
    );
    Ok(output)
}

/// The refusal of an event of the other scope than this deployment's: an account-scope deployment
/// never reads an organisation's accounts, an organisation one never evaluates a run of its own
/// account. Nothing was read or written.
fn other_scope(scope: Scope) -> InvalidEvent {
    let message = match scope {
        Scope::Account => {
            "this deployment is KEYWARD_SCOPE=account: it takes `listed` (a run of its own account, naming no \
             account), never `discovered` (an organization run) or an account's part of one"
        }
        Scope::Organization => {
            "this deployment is KEYWARD_SCOPE=organization: it takes `discovered` (an organization run), never \
             `listed` (a run of one account)"
        }
    };
    InvalidEvent { contract: "ValidateKeysInput", message: message.to_owned() }
}

/// What the state machine does for a plan status.
pub fn next_step(status: &PlanStatus) -> NextStep {
    match status {
        PlanStatus::AwaitingApproval => NextStep::RequestApproval,
        PlanStatus::Automatic => NextStep::Deactivate,
        PlanStatus::Empty
        | PlanStatus::ReportOnly
        | PlanStatus::CapExceeded { .. }
        | PlanStatus::AccountCapExceeded { .. } => NextStep::Done,
    }
}

/// Reads every batch's result. A missing result means the Map gave up on that batch: its users
/// are not evaluated. A result that is there but unreadable, or for another batch, is an error; so
/// is, in an account's part of an organisation run, a user of another account (a key is acted on in
/// the account its ARN names, so it must be the one it was swept in).
pub(crate) async fn gather<S: ObjectStore>(
    runs: &RunStore<S>,
    run: &RunRef,
    batches: &[BatchItem],
) -> Result<Checked, ValidateKeysError> {
    let mut checked = Checked::default();
    for batch in batches {
        let key = run.batch_result_key(batch.index);
        let Some(result) = runs.get_optional_json::<BatchResult>(run, &key).await? else {
            tracing::warn!(
                batch = batch.index,
                users = batch.users.len(),
                "batch result missing; its users are not evaluated"
            );
            checked.not_evaluated.extend(batch.users.iter().cloned());
            continue;
        };
        if result.index != batch.index {
            let problem = format!("holds batch {} instead of batch {}", result.index, batch.index);
            return Err(runs.invalid(&key, problem).into());
        }
        if let Some(stray) = run.account_id.as_ref().and_then(|a| result.users.iter().find(|u| u.arn.account() != a)) {
            let problem = format!("holds user {} of account {}, not of this account", stray.name, stray.arn.account());
            return Err(runs.invalid(&key, problem).into());
        }
        checked.users.extend(result.users);
        checked.gone.extend(result.gone);
        add_calls(&mut checked.api_calls, &result.api_calls);
    }
    Ok(checked)
}

fn build_report(
    run: &RunRef,
    policy: &PolicyConfig,
    listing: &Listing,
    checked: Checked,
    evaluated_at: DateTime<Utc>,
) -> RunReport {
    let evaluation = policy::evaluate(&checked.users, policy, evaluated_at);
    let mut api_calls = listing.api_calls.clone();
    add_calls(&mut api_calls, &checked.api_calls);
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: run.execution_name.clone(),
        account_id: listing.account_id.clone(),
        config: policy.clone(),
        screening: listing.screening,
        users_listed: listing.users_listed,
        users_checked: checked.users.len(),
        users_gone: checked.gone,
        users_not_evaluated: checked.not_evaluated,
        unreadable_report_rows: listing.unreadable_report_rows.clone(),
        report_unavailable: listing.report_unavailable.clone(),
        evaluation,
        decision: None,
        actions: Vec::new(),
        api_calls,
        coverage: None,
    }
}
