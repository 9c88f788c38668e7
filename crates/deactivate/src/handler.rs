//! The deactivate handler. Deny by default: it acts only on keys that are in the stored plan AND
//! approved — by a decision that the approval function recorded in the run report (the event's
//! decision must be that one, so an invoker cannot bring its own), or by `auto` mode for a plan
//! whose status is `automatic`; any other combination acts on nothing and is an `InvalidInput`
//! error. Only runs in the configured report bucket are accepted. Then, per key
//! and in plan order: re-check live, `UpdateAccessKey Inactive`, read back. One key's failure never
//! stops the others, and a failed deactivation is never retried blindly. The decision and every
//! action are written back to the run report.

use chrono::{DateTime, Utc};
use keyward_core::config::PolicyConfig;
use keyward_core::contracts::{DeactivateInput, DeactivateOutput, InvalidEvent, RunRef, decode};
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{self, NamedError};
use keyward_core::model::{KeyRef, KeyStatus};
use keyward_core::policy::{PlanStatus, PlannedDeactivation};
use keyward_core::ports::{Iam, ObjectStore, PortError};
use keyward_core::recheck::{SkipReason, recheck};
use keyward_core::run_report::calls_since;
use keyward_core::run_report::{ActionOutcome, ActionRecord, RunReport};
use serde_json::Value;

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
    /// The run report is missing or unreadable.
    #[error("run report s3://{bucket}/{key} {reason}")]
    RunStateInvalid { bucket: String, key: String, reason: String },
    /// Reading or writing the run report failed.
    #[error(transparent)]
    Aws(#[from] PortError),
}

impl NamedError for DeactivateError {
    fn error_name(&self) -> &'static str {
        match self {
            DeactivateError::InvalidInput(e) => e.error_name(),
            DeactivateError::NotActionable(_) => errors::INVALID_INPUT,
            DeactivateError::RunStateInvalid { .. } => errors::RUN_STATE_INVALID,
            DeactivateError::Aws(e) => e.error_name(),
        }
    }
}

/// Handles one deactivate invocation; `now` is the time of the live re-check.
pub async fn handle<I: Iam, S: ObjectStore>(
    iam: &I,
    store: &S,
    bucket: &str,
    now: DateTime<Utc>,
    event: Value,
) -> Result<DeactivateOutput, DeactivateError> {
    let input: DeactivateInput = decode(event)?;
    let run = input.run;
    if run.bucket != bucket {
        return Err(DeactivateError::NotActionable(format!(
            "the run is in bucket {:?}, not in this stack's report bucket",
            run.bucket
        )));
    }
    // The adapter may live across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();
    let mut report = read_report(store, &run).await?;
    let (approved, decision) = approved_keys(&report, input.decision, now)?;

    let cap = report.config.max_deactivations_per_run;
    let mut actions = Vec::with_capacity(approved.len());
    for planned in &approved {
        let outcome = if approved.len() > cap as usize {
            ActionOutcome::Skipped { reason: SkipReason::CapExceeded { approved: approved.len(), cap } }
        } else {
            act_on(iam, planned, &report.config, now).await
        };
        tracing::info!(
            execution_name = run.execution_name,
            user_name = planned.key.user_name,
            access_key_id = planned.key.access_key_id,
            outcome = ?outcome,
            "key handled"
        );
        actions.push(ActionRecord { key: planned.key.clone(), at: now, outcome });
    }

    let output = counts(&run, &actions);
    report.decision = Some(decision);
    report.actions.extend(actions);
    report.add_api_calls(&calls_since(&calls_before, &iam.api_calls()));
    write_report(store, &run, &report).await?;
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
            let keys = approved
                .iter()
                .map(|k| KeyRef { user_name: k.key.user_name.clone(), access_key_id: k.key.access_key_id.clone() })
                .collect();
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

/// Re-checks one key live, deactivates it and reads it back.
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
    match iam.read_user(user).await {
        Ok(Some(after)) if after.access_keys.iter().any(|k| k.id == key && k.status == KeyStatus::Inactive) => {
            ActionOutcome::Deactivated
        }
        Ok(_) => {
            ActionOutcome::Failed { error: "UpdateAccessKey returned, but the key did not read back Inactive".into() }
        }
        Err(e) => {
            ActionOutcome::Failed { error: format!("UpdateAccessKey returned, but reading the key back failed: {e}") }
        }
    }
}

fn counts(run: &RunRef, actions: &[ActionRecord]) -> DeactivateOutput {
    let mut output = DeactivateOutput { run: run.clone(), deactivated: 0, skipped: 0, failed: 0 };
    for action in actions {
        match action.outcome {
            ActionOutcome::Deactivated => output.deactivated += 1,
            ActionOutcome::Skipped { .. } => output.skipped += 1,
            ActionOutcome::Failed { .. } => output.failed += 1,
        }
    }
    output
}

fn run_state_invalid(run: &RunRef, reason: String) -> DeactivateError {
    DeactivateError::RunStateInvalid { bucket: run.bucket.clone(), key: run.report_key(), reason }
}

/// Reads and parses the run report; a missing or unparseable report is `RunStateInvalid`.
async fn read_report(store: &impl ObjectStore, run: &RunRef) -> Result<RunReport, DeactivateError> {
    let bytes = store
        .get(&run.bucket, &run.report_key())
        .await?
        .ok_or_else(|| run_state_invalid(run, "does not exist".into()))?;
    let report = RunReport::parse_for(&bytes, &run.execution_name).map_err(|reason| run_state_invalid(run, reason))?;
    Ok(report)
}

async fn write_report(store: &impl ObjectStore, run: &RunRef, report: &RunReport) -> Result<(), DeactivateError> {
    let body =
        serde_json::to_vec_pretty(report).map_err(|e| run_state_invalid(run, format!("cannot be written: {e}")))?;
    store.put(&run.bucket, &run.report_key(), body).await?;
    Ok(())
}
