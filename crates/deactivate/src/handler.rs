//! The deactivate handler. Deny by default: it acts only on keys that are in the stored plan AND
//! approved — by a decision that the approval function recorded in the run report (the event's
//! decision must be that one, so an invoker cannot bring its own), or by `auto` mode for a plan
//! whose status is `automatic`; any other combination acts on nothing and is an `InvalidInput`
//! error. Only runs in the configured report bucket are accepted ([`RunStore`]). Then, per key
//! and in plan order: re-check live, `UpdateAccessKey Inactive`, read back (re-reading with backoff
//! while IAM has not caught up, see [`READ_BACK_DELAYS`]). One key's failure never stops the others,
//! and a failed deactivation is never retried blindly. The decision and every action are written
//! back to the run report.

use chrono::{DateTime, Utc};
use keyward_core::config::budget::READ_BACK_DELAYS;
use keyward_core::config::{Config, ConfigError, PolicyConfig, vars};
use keyward_core::contracts::{DeactivateInput, DeactivateOutput, InvalidEvent, RunRef, decode};
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{self, NamedError};
use keyward_core::model::KeyStatus;
use keyward_core::policy::{PlanStatus, PlannedDeactivation};
use keyward_core::ports::{Iam, ObjectStore};
use keyward_core::recheck::{SkipReason, recheck};
use keyward_core::run_report::calls_since;
use keyward_core::run_report::{ActionOutcome, ActionRecord, RunReport};
use keyward_core::run_store::{RunStore, RunStoreError};
use serde_json::Value;

/// What deactivate reads from the configuration, resolved once at init by [`Settings::from_config`].
/// The policy is not among it: deactivate re-checks against the policy stored in the run report.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the run report is.
    pub report_bucket: String,
}

impl Settings {
    /// The settings of `config`; `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        Ok(Settings { report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned() })
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<I, S> {
    /// IAM (the live re-check, `UpdateAccessKey`, the read-back).
    pub iam: I,
    /// The run report in the report bucket.
    pub runs: RunStore<S>,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why deactivate refused or failed. Step Functions sees [`NamedError::error_name`].
#[derive(Debug, thiserror::Error)]
pub enum DeactivateError {
    /// The event does not match [`DeactivateInput`].
    #[error(transparent)]
    InvalidInput(#[from] InvalidEvent),
    /// The event is well-formed but does not allow acting on this run (no decision in approve
    /// mode, a key outside the plan, report mode, cap exceeded, …). Nothing was done.
    #[error("nothing was deactivated: {0}")]
    NotActionable(String),
    /// The run is outside the report bucket (`InvalidInput`, nothing was done); the run report is
    /// missing or unreadable (`RunStateInvalid`); or reading or writing it failed (its name).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for DeactivateError {
    fn error_name(&self) -> &'static str {
        match self {
            DeactivateError::InvalidInput(e) => e.error_name(),
            DeactivateError::NotActionable(_) => errors::INVALID_INPUT,
            DeactivateError::Runs(e) => e.error_name(),
        }
    }
}

/// Handles one deactivate invocation; `now` is the time of the live re-check.
pub async fn handle<I: Iam, S: ObjectStore>(
    deps: &Deps<I, S>,
    now: DateTime<Utc>,
    event: Value,
) -> Result<DeactivateOutput, DeactivateError> {
    let Deps { iam, runs, settings: _ } = deps;
    let input: DeactivateInput = decode(event)?;
    let run = input.run;
    runs.check(&run)?;
    // The adapter may live across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();
    let mut report = runs.read_report(&run).await?;
    let (approved, decision) = approved_keys(&report, input.decision, now)?;

    let cap = report.config.max_deactivations_per_run;
    let mut actions = Vec::with_capacity(approved.len());
    for planned in &approved {
        let outcome = if approved.len() > cap as usize {
            ActionOutcome::Skipped { reason: SkipReason::CapExceeded { approved: approved.len(), cap } }
        } else {
            act_on(iam, planned, &report.config, now).await
        };
        actions.push(ActionRecord { key: planned.key.clone(), at: now, outcome });
    }
    settle_read_backs(iam, &mut actions).await;
    for action in &actions {
        tracing::info!(
            execution_name = run.execution_name,
            user_name = action.key.user_name,
            access_key_id = action.key.access_key_id,
            outcome = ?action.outcome,
            "key handled"
        );
    }

    let output = counts(&run, &actions);
    report.decision = Some(decision);
    report.actions.extend(actions);
    report.add_api_calls(&calls_since(&calls_before, &iam.api_calls()));
    runs.write_report(&run, &report).await?;
    tracing::info!(
        execution_name = run.execution_name,
        deactivated = output.deactivated,
        skipped = output.skipped,
        failed = output.failed,
        "deactivation done"
    );
    Ok(output)
}

/// The planned keys this run may act on, with the decision to record. Refuses, acting on nothing,
/// anything but (a decision on a plan awaiting approval) or (no decision on an automatic plan).
fn approved_keys(
    report: &RunReport,
    decision: Option<Decision>,
    now: DateTime<Utc>,
) -> Result<(Vec<PlannedDeactivation>, Decision), DeactivateError> {
    let plan = &report.evaluation.plan;
    match (decision, plan.status) {
        (Some(decision), PlanStatus::AwaitingApproval) => {
            // The approval function records the decision in the report before it calls back; a
            // decision that is not that record did not come from an approver.
            if report.decision.as_ref() != Some(&decision) {
                return Err(DeactivateError::NotActionable(
                    "the decision is not the one recorded in the run report by the approval function".to_owned(),
                ));
            }
            let approved = decision
                .approved_in(plan)
                .map_err(|e| DeactivateError::NotActionable(format!("the decision is refused: {e}")))?;
            Ok((approved.into_iter().cloned().collect(), decision))
        }
        (Some(_), status) => Err(DeactivateError::NotActionable(format!(
            "a decision was given, but the plan {}; only a plan awaiting approval takes a decision",
            describe(status)
        ))),
        (None, PlanStatus::Automatic) => {
            let approved: Vec<PlannedDeactivation> = plan.keys.clone();
            let keys = approved.iter().map(|k| k.key.clone()).collect();
            Ok((approved, Decision { approved: keys, decided_by: Approver::Automatic, decided_at: now }))
        }
        (None, PlanStatus::AwaitingApproval) => {
            Err(DeactivateError::NotActionable("the plan awaits approval and no decision was given".to_owned()))
        }
        (None, status) => Err(DeactivateError::NotActionable(format!("the plan {}", describe(status)))),
    }
}

fn describe(status: PlanStatus) -> String {
    match status {
        PlanStatus::Empty => "is empty".to_owned(),
        PlanStatus::ReportOnly => "is report-only (KEYWARD_MODE=report)".to_owned(),
        PlanStatus::CapExceeded { planned, cap } => {
            format!("holds {planned} keys, over the cap of {cap} (MAX_DEACTIVATIONS_PER_RUN)")
        }
        PlanStatus::AwaitingApproval => "awaits approval".to_owned(),
        PlanStatus::Automatic => "is automatic (KEYWARD_MODE=auto) and takes no decision".to_owned(),
    }
}

/// Re-checks one key live, deactivates it and reads it back once: `Deactivated` when it reads
/// `Inactive`, `DeactivatedNotYetVisible` while it still reads `Active` (settled later by
/// [`settle_read_backs`]).
async fn act_on(
    iam: &impl Iam,
    planned: &PlannedDeactivation,
    config: &PolicyConfig,
    now: DateTime<Utc>,
) -> ActionOutcome {
    let (user, key) = (planned.key.user_name.as_str(), planned.key.access_key_id.as_str());
    let live = match iam.read_user(user).await {
        Ok(live) => live,
        Err(e) => return ActionOutcome::Failed { error: format!("the live re-check failed, key not touched: {e}") },
    };
    if let Err(reason) = recheck(planned, live.as_ref(), config, now) {
        return ActionOutcome::Skipped { reason };
    }
    if let Err(e) = iam.deactivate_key(user, key).await {
        return ActionOutcome::Failed { error: e.to_string() };
    }
    read_back(iam, user, key).await
}

/// Re-reads every key that `UpdateAccessKey` deactivated but that still read `Active`, after each
/// of [`READ_BACK_DELAYS`], until IAM shows them all or the waits are over. The waits are the
/// run's, not each key's: however many keys lag, deactivate waits at most their sum once, which
/// keeps the run's time within [`budget`](keyward_core::config::budget). A key still `Active`
/// after the last wait stays `DeactivatedNotYetVisible`.
async fn settle_read_backs(iam: &impl Iam, actions: &mut [ActionRecord]) {
    for delay in READ_BACK_DELAYS {
        let mut lagging =
            actions.iter_mut().filter(|a| a.outcome == ActionOutcome::DeactivatedNotYetVisible).peekable();
        if lagging.peek().is_none() {
            return;
        }
        tokio::time::sleep(delay).await;
        for action in lagging {
            action.outcome = read_back(iam, &action.key.user_name, &action.key.access_key_id).await;
        }
    }
}

/// Reads `key` back after `UpdateAccessKey` succeeded: `Deactivated` when it reads `Inactive`,
/// `DeactivatedNotYetVisible` while it reads `Active`. A read that fails, or that no longer shows
/// the user or the key, is not IAM catching up and is `Failed`, as it always was.
async fn read_back(iam: &impl Iam, user: &str, key: &str) -> ActionOutcome {
    let status = match iam.read_user(user).await {
        Ok(after) => after.and_then(|after| after.access_keys.into_iter().find(|k| k.id == key)).map(|k| k.status),
        Err(e) => {
            return ActionOutcome::Failed {
                error: format!("UpdateAccessKey returned, but reading the key back failed: {e}"),
            };
        }
    };
    match status {
        Some(KeyStatus::Inactive) => ActionOutcome::Deactivated,
        Some(KeyStatus::Active) => ActionOutcome::DeactivatedNotYetVisible,
        None => {
            ActionOutcome::Failed { error: "UpdateAccessKey returned, but the key did not read back Inactive".into() }
        }
    }
}

fn counts(run: &RunRef, actions: &[ActionRecord]) -> DeactivateOutput {
    let mut output = DeactivateOutput { run: run.clone(), deactivated: 0, skipped: 0, failed: 0 };
    for action in actions {
        match action.outcome {
            // UpdateAccessKey succeeded for both; the run report and the outcome message tell them
            // apart, the state machine's output has no field for the difference.
            ActionOutcome::Deactivated | ActionOutcome::DeactivatedNotYetVisible => output.deactivated += 1,
            ActionOutcome::Skipped { .. } => output.skipped += 1,
            ActionOutcome::Failed { .. } => output.failed += 1,
        }
    }
    output
}
