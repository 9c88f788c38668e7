//! The single-use decision protocol. A decision is applied in this order, so that it is single-use
//! and a refusal changes nothing:
//! 1. everything that can be refused is checked first (link, expiry, state, form token or Slack
//!    signature and approver, keys in the plan);
//! 2. one transaction moves the record from pending to decided and records the decision in the
//!    decisions table, the source of truth deactivate acts on and only this function can write (a
//!    second decision, through the same link or another link of the run, loses here);
//! 3. Step Functions is told: SendTaskSuccess with the [`Decision`], or SendTaskFailure
//!    `ApprovalRejected`.
//!
//! The run report is only read here (to show the plan and check the keys): the decision reaches
//! it, the audit record, through deactivate (approved) or notify (rejected), each copying it from
//! the decisions table. Step 1 is shared: [`pending_record`] and [`read_report`] here, the form
//! token in `form`, the signature and the approver in `slack`. Steps 2–3 are [`apply`]. The task
//! token is never logged.

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::approval_id::ApprovalId;
use keyward_core::config::budget;
use keyward_core::contracts::{RunRef, is_valid_execution_name};
use keyward_core::decision::Decision;
use keyward_core::errors::{self, NamedError};
use keyward_core::model::KeyRef;
use keyward_core::policy::PlanStatus;
use keyward_core::ports::{
    ApprovalRecord, ApprovalState, ApprovalStore, DecideError, DecisionOutcome, DecisionStore, ObjectStore, PortError,
    RecordedDecision, TaskCallback,
};
use keyward_core::run_report::RunReport;
use keyward_core::run_store::{RunStore, RunStoreError};

use crate::handler::Deps;
use crate::refusal::Refusal;

/// What an approver chose, checked against the plan but not yet applied.
pub(crate) enum Choice {
    /// Deactivate exactly these keys.
    Approve(Decision),
    /// Deactivate nothing; the cause for SendTaskFailure.
    Reject(Decision, String),
}

/// How Step Functions took the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// The callback was accepted: the run goes on with the decision.
    Delivered,
    /// The run no longer waited for this token, and the decision came in the last moments of the
    /// approval (see [`may_have_timed_out`]): the wait had timed out, too late.
    TooLate,
    /// The run no longer waited for this token although its wait had not timed out: it had
    /// received this decision already (a callback retried after its answer was lost), or the run
    /// was stopped. Never "expired".
    TaskGone,
    /// The callback failed for another reason.
    Failed,
}

impl Delivery {
    /// How the logs name it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::TooLate => "too late",
            Delivery::TaskGone => "task gone",
            Delivery::Failed => "delivery failed",
        }
    }
}

/// A decision that was applied: the record is decided and the decision recorded.
pub(crate) struct Applied {
    /// The decision, as recorded.
    pub(crate) decision: Decision,
    /// Whether it was Reject (SendTaskFailure).
    pub(crate) rejected: bool,
    /// How Step Functions took it (step 3).
    pub(crate) delivery: Delivery,
}

/// Steps 2–3 of the protocol, for a record that passed every check.
pub(crate) async fn apply<S, A: ApprovalStore + DecisionStore, C: TaskCallback, K, L, T>(
    deps: &Deps<S, A, C, K, L, T>,
    record: &ApprovalRecord,
    choice: Choice,
) -> Result<Applied, Refusal> {
    let (decision, outcome, callback) = match choice {
        Choice::Approve(decision) => {
            // Serialised before the write, so that nothing can fail between deciding and telling.
            let output = serde_json::to_value(&decision).map_err(|e| Refusal::RunState(e.to_string()))?;
            (decision, DecisionOutcome::Approved, Callback::Succeed(output))
        }
        Choice::Reject(decision, cause) => (decision, DecisionOutcome::Rejected, Callback::Fail(cause)),
    };
    let recorded =
        RecordedDecision { run: record.run.clone(), approval_id_hash: record.id_hash.clone(), outcome, decision };
    match deps.approvals.record(&recorded).await {
        Ok(()) => {}
        Err(DecideError::AlreadyDecided) => {
            let state = deps.approvals.get(&record.id_hash).await.ok().flatten().map(|r| r.state);
            // Still pending: the run was decided through another of its links.
            let state = state.filter(|s| *s != ApprovalState::Pending);
            return Err(Refusal::AlreadyDecided { state });
        }
        Err(DecideError::NotFound) => return Err(Refusal::UnknownLink),
        Err(DecideError::Store(err)) => return Err(Refusal::Storage(err)),
    }
    let result = match &callback {
        Callback::Succeed(output) => deps.callbacks.succeed(&record.task_token, output).await,
        Callback::Fail(cause) => deps.callbacks.fail(&record.task_token, errors::APPROVAL_REJECTED, cause).await,
    };
    let delivery = match result {
        Ok(()) => Delivery::Delivered,
        Err(err) => {
            let delivery = match err {
                PortError::TaskGone { .. } if may_have_timed_out(record, recorded.decision.decided_at) => {
                    Delivery::TooLate
                }
                PortError::TaskGone { .. } => Delivery::TaskGone,
                _ => Delivery::Failed,
            };
            // Only the error's name is logged, never its text.
            tracing::warn!(error = err.error_name(), delivery = delivery.as_str(), "task callback failed");
            delivery
        }
    };
    Ok(Applied { rejected: matches!(callback, Callback::Fail(_)), decision: recorded.decision, delivery })
}

/// Whether the run's wait may have timed out by `at`. The record expires `APPROVAL_TIMEOUT_SECONDS`
/// after notify stored it, but the task's timer started when notify was invoked, up to notify's
/// Lambda timeout earlier: a refused callback before that window cannot be a timeout.
fn may_have_timed_out(record: &ApprovalRecord, at: DateTime<Utc>) -> bool {
    at + TimeDelta::seconds(budget::NOTIFY_TIMEOUT_SECONDS.into()) >= record.expires_at
}

/// What step 3 sends: the decision as SendTaskSuccess output, or the cause of SendTaskFailure.
enum Callback {
    Succeed(serde_json::Value),
    Fail(String),
}

/// The record, if it exists, has not expired and is still pending.
pub(crate) async fn pending_record<A: ApprovalStore>(
    approvals: &A,
    id: &ApprovalId,
    now: DateTime<Utc>,
) -> Result<ApprovalRecord, Refusal> {
    let record = approvals.get(&id.key_hash()).await?.ok_or(Refusal::UnknownLink)?;
    if now >= record.expires_at {
        return Err(Refusal::Expired { expires_at: record.expires_at });
    }
    if let ApprovalState::Decided { .. } = record.state {
        return Err(Refusal::AlreadyDecided { state: Some(record.state) });
    }
    Ok(record)
}

/// The run report, if it is this run's and its plan still awaits this decision: a report that
/// already holds a decision (made through another link of the same run) is already decided.
pub(crate) async fn read_report<S: ObjectStore>(runs: &RunStore<S>, run: &RunRef) -> Result<RunReport, Refusal> {
    if !is_valid_execution_name(&run.execution_name) {
        return Err(Refusal::RunState("the record names an invalid execution".to_owned()));
    }
    let location = run.report_location();
    let report = runs.read_report(run).await.map_err(|err| match err {
        RunStoreError::Port(err) => Refusal::Storage(err),
        // A record naming another bucket, or a report that is missing or not this run's.
        other @ (RunStoreError::WrongBucket { .. }
        | RunStoreError::Invalid { .. }
        | RunStoreError::AlreadyRecorded { .. }) => Refusal::RunState(other.to_string()),
    })?;
    if report.decision.is_some() {
        return Err(Refusal::AlreadyDecided { state: None });
    }
    if report.evaluation.plan.status != PlanStatus::AwaitingApproval {
        return Err(Refusal::RunState(format!("{location}: the plan does not await approval")));
    }
    Ok(report)
}

/// The keys of the plan, as the identities a decision names.
pub(crate) fn planned_keys(report: &RunReport) -> Vec<KeyRef> {
    report.evaluation.plan.keys.iter().map(|k| k.key.clone()).collect()
}
