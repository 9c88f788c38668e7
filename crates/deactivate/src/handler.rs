//! The deactivate handler. Deny by default: it acts only on keys that are in the stored plan AND
//! approved — by the decision the approval function recorded in the decisions table with outcome
//! approved (the event's decision, if any, must be that one, so an invoker cannot bring its own),
//! or by `auto` mode for a plan whose status is `automatic`; any other combination acts on nothing
//! and is an `InvalidInput` error, as is a plan or decision naming a key in another account than
//! the run's ([`in_run_account`]) or, in an organisation run, in an account the run did not sweep
//! ([`in_swept_accounts`]). Only runs in the configured report bucket are accepted ([`RunStore`]),
//! and only runs of this deployment's scope ([`of_this_scope`]): an account-scope deployment never
//! assumes a role, an organisation one never acts with its own credentials.
//!
//! A run is deactivated once: before any IAM write the invocation claims the run
//! (`runs/<exec>/deactivation/claim.json`, created only if absent, [`keyward_core::journal`]); an
//! invocation that finds the claim taken acts on nothing ([`already_executed`]). Then, per key and
//! in plan order ([`crate::act`]): held to the configuration in force now (mode, `PROTECTED_USERS`,
//! exemptions, never its own key), re-checked live, journaled (intent), `UpdateAccessKey
//! Inactive`, read back, journaled (result). One key's failure never stops the others, and a
//! failed deactivation is never retried blindly; a journal write that fails stops the run, so no key
//! is ever changed unrecorded. The decision and the actions, rebuilt from the journal, are written
//! back to the run report. In organisation scope each account's keys are changed through a write
//! session opened afresh in that account, carrying the approver as its `SourceIdentity`.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, PolicyConfig, Scope, vars};
use keyward_core::contracts::{DeactivateInput, DeactivateOutput, InvalidEvent, RunRef, decode};
use keyward_core::decision::{Approver, Decision};
use keyward_core::errors::{self, NamedError};
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::journal::{Claim, Done, Journal, claim_key, done_key};
use keyward_core::policy::{PlanStatus, PlannedDeactivation};
use keyward_core::ports::{AccountAccess, Creation, DecisionOutcome, DecisionStore, Iam, ObjectStore, PortError};
use keyward_core::recheck::InForce;
use keyward_core::run_report::{ActionOutcome, ActionRecord, Coverage, RunReport};
use keyward_core::run_store::{RunStore, RunStoreError};
use serde_json::Value;

use crate::act::{MemberAccounts, OwnAccount, Sessions, act_on_all};

/// What deactivate reads from the configuration and its credentials, resolved once at init by
/// [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the run report is.
    pub report_bucket: String,
    /// The policy configuration in force when deactivate acts (the run report holds the run's):
    /// `KEYWARD_MODE=report` now acts on nothing, and `PROTECTED_USERS`, `EXEMPT_USERS` and
    /// `MAX_EXEMPTION_DAYS` are applied as they are now.
    pub policy: PolicyConfig,
    /// The access key id of deactivate's own credentials: never deactivated.
    pub own_access_key_id: Option<String>,
    /// `KEYWARD_SCOPE`: which runs this deployment acts on (a run of the other scope is refused).
    pub scope: Scope,
    /// `MEMBER_WRITE_ROLE`: the role assumed in each member account (organisation scope).
    pub member_write_role: String,
}

impl Settings {
    /// The settings of `config` and of deactivate's credentials (`own_access_key_id`);
    /// `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config, own_access_key_id: Option<String>) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            policy: config.policy.clone(),
            own_access_key_id,
            scope: config.scope,
            member_write_role: config.member_write_role.clone(),
        })
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<I, S, D, A> {
    /// IAM (the live re-check, `UpdateAccessKey`, the read-back) in this account: account scope.
    pub iam: I,
    /// Sessions in the member accounts (organisation scope; `None` in account scope, which never
    /// assumes a role).
    pub members: Option<A>,
    /// The run report, the claim and the journal in the report bucket.
    pub runs: RunStore<S>,
    /// The decisions table, which only the approval function writes.
    pub decisions: D,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why deactivate refused or failed. Step Functions sees [`NamedError::error_name`].
#[derive(Debug, thiserror::Error)]
pub enum DeactivateError {
    /// The event does not match [`DeactivateInput`].
    #[error(transparent)]
    InvalidInput(#[from] InvalidEvent),
    /// The event is well-formed but does not allow acting on this run (no recorded decision in
    /// approve mode, a key outside the plan, report mode, cap exceeded, …). Nothing was done.
    #[error("nothing was deactivated: {0}")]
    NotActionable(String),
    /// Reading the decisions table failed (its name). Nothing was done.
    #[error("nothing was deactivated: reading the recorded decision failed: {0}")]
    Decisions(#[source] PortError),
    /// An earlier invocation claimed this run and did not complete its journal
    /// (`DeactivationIncomplete`). This one did nothing.
    #[error(
        "nothing was done by this invocation: the run's deactivation was claimed at {claimed_at} by Lambda request \
         {request_id} and did not complete; its journal under runs/<exec>/deactivation/ tells which keys were changed"
    )]
    Incomplete {
        /// When the earlier invocation claimed the run.
        claimed_at: DateTime<Utc>,
        /// Its Lambda request id.
        request_id: String,
    },
    /// The run is outside the report bucket (`InvalidInput`, nothing was done); the run report is
    /// missing or unreadable (`RunStateInvalid`); or reading or writing it, the claim or the
    /// journal failed (its name; the journal says what was done).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for DeactivateError {
    fn error_name(&self) -> &'static str {
        match self {
            DeactivateError::InvalidInput(e) => e.error_name(),
            DeactivateError::NotActionable(_) => errors::INVALID_INPUT,
            DeactivateError::Decisions(e) => e.error_name(),
            DeactivateError::Incomplete { .. } => errors::DEACTIVATION_INCOMPLETE,
            DeactivateError::Runs(e) => e.error_name(),
        }
    }
}

/// Handles one deactivate invocation (Lambda request `request_id`); `now` is the time of the live
/// re-check.
pub async fn handle<I: Iam, S: ObjectStore, D: DecisionStore, A: AccountAccess>(
    deps: &Deps<I, S, D, A>,
    now: DateTime<Utc>,
    request_id: String,
    event: Value,
) -> Result<DeactivateOutput, DeactivateError> {
    let Deps { iam, members, runs, decisions, settings } = deps;
    let input: DeactivateInput = decode(event)?;
    let run = input.run;
    runs.check(&run)?;
    let mut report = runs.read_report(&run).await?;
    let members = of_this_scope(&report, settings.scope, members.as_ref())?;
    let (approved, decision) = approved_keys(&report, input.decision, decisions, &run, now).await?;
    match &report.coverage {
        None => in_run_account(&report, &decision)?,
        Some(coverage) => in_swept_accounts(coverage, &report, &decision)?,
    }

    let keys = approved.iter().map(|p| p.key.clone()).collect();
    let claim = Claim { keys, decided_by: decision.decided_by.clone(), claimed_at: now, request_id };
    if runs.create_json(&run, &claim_key(&run), &claim).await? == Creation::AlreadyExists {
        return already_executed(runs, &run, report, decision).await;
    }
    let in_force = InForce { config: &settings.policy, own_access_key_id: settings.own_access_key_id.as_deref() };
    let api_calls = match members {
        None => {
            let mut own = OwnAccount::new(iam);
            act_on_all(&mut own, runs, &run, &approved, &report, in_force, now).await?;
            own.api_calls()
        }
        Some(access) => {
            let name = SessionName::new("deactivate", &run.execution_name);
            let approver = SourceIdentity::of(&decision.decided_by);
            let mut sessions = MemberAccounts::new(access, &settings.member_write_role, name, approver);
            act_on_all(&mut sessions, runs, &run, &approved, &report, in_force, now).await?;
            sessions.api_calls()
        }
    };
    runs.create_json(&run, &done_key(&run), &Done { at: now }).await?;

    let actions = journal_actions(runs, &run).await?;
    for action in &actions {
        tracing::info!(
            execution_name = run.execution_name,
            account_id = %action.key.account_id,
            user_name = action.key.user_name,
            access_key_id = action.key.access_key_id,
            outcome = ?action.outcome,
            "key handled"
        );
    }
    let output = counts(&run, &actions, false);
    report.decision = Some(decision);
    report.actions = actions;
    report.add_api_calls(&api_calls);
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

/// The answer to an invocation that finds the run already claimed: it acts on nothing. A complete
/// journal is the outcome of an invocation that did its work — what a Step Functions retry of an
/// invocation that completed (its answer lost, or its report write failed) should see, so the run
/// goes on to the outcome message with the true counts: that outcome, with `already_executed`,
/// and the run report's actions rewritten from the journal if they differ (a failed report write
/// healed). An incomplete journal is an invocation that crashed, timed out or is still running:
/// `DeactivationIncomplete`, which the state machine catches to tell people what the journal says.
async fn already_executed<S: ObjectStore>(
    runs: &RunStore<S>,
    run: &RunRef,
    mut report: RunReport,
    decision: Decision,
) -> Result<DeactivateOutput, DeactivateError> {
    let journal = Journal::read(runs, run)
        .await?
        .ok_or_else(|| runs.invalid(&claim_key(run), "was there when created, and is not when read back".to_owned()))?;
    if journal.done.is_none() {
        tracing::error!(execution_name = run.execution_name, "already claimed, journal incomplete: nothing done");
        return Err(DeactivateError::Incomplete {
            claimed_at: journal.claim.claimed_at,
            request_id: journal.claim.request_id,
        });
    }
    let actions = journal.actions();
    if report.actions != actions {
        report.decision = Some(decision);
        report.actions = actions.clone();
        runs.write_report(run, &report).await?;
    }
    tracing::warn!(execution_name = run.execution_name, "already executed: nothing done, outcome from the journal");
    Ok(counts(run, &actions, true))
}

/// The run's actions as the journal records them: what the run report says was done.
async fn journal_actions<S: ObjectStore>(
    runs: &RunStore<S>,
    run: &RunRef,
) -> Result<Vec<ActionRecord>, DeactivateError> {
    let journal = Journal::read(runs, run).await?;
    Ok(journal.map(|j| j.actions()).unwrap_or_default())
}

/// The planned keys this run may act on, with the decision to record. Refuses, acting on nothing,
/// anything but (an approved decision recorded for a plan awaiting approval) or (no decision on an
/// automatic plan).
async fn approved_keys(
    report: &RunReport,
    given: Option<Decision>,
    decisions: &impl DecisionStore,
    run: &RunRef,
    now: DateTime<Utc>,
) -> Result<(Vec<PlannedDeactivation>, Decision), DeactivateError> {
    let plan = &report.evaluation.plan;
    match (given, &plan.status) {
        (given, PlanStatus::AwaitingApproval) => {
            let recorded = decisions.recorded(run).await.map_err(DeactivateError::Decisions)?.ok_or_else(|| {
                DeactivateError::NotActionable(
                    "the plan awaits approval and the decisions table holds no decision for this run".to_owned(),
                )
            })?;
            if recorded.outcome != DecisionOutcome::Approved {
                return Err(DeactivateError::NotActionable("the recorded decision rejected the plan".to_owned()));
            }
            // Only the approval function writes the decisions table; a decision that is not that
            // record did not come from an approver.
            if given.is_some_and(|given| given != recorded.decision) {
                return Err(DeactivateError::NotActionable(
                    "the decision is not the one recorded in the decisions table by the approval function".to_owned(),
                ));
            }
            let decision = recorded.decision;
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
        (None, status) => Err(DeactivateError::NotActionable(format!("the plan {}", describe(status)))),
    }
}

/// Refuses, before the claim, a run whose plan or decision names a key in another account than the
/// run's (the account of its execution ARN, in the run report): IAM would act in whichever account
/// the credentials are for, so a key planned elsewhere must never reach it. A report without the
/// run's account (list-users invoked by hand, without an execution ARN) is refused too: there is
/// nothing to hold the keys to, and guessing it from the keys would trust what is being checked.
fn in_run_account(report: &RunReport, decision: &Decision) -> Result<(), DeactivateError> {
    let Some(account) = &report.account_id else {
        return Err(DeactivateError::NotActionable(
            "the run report does not name the run's account (account_id, from the execution ARN), so no key can be \
             held to it"
                .to_owned(),
        ));
    };
    let planned = report.evaluation.plan.keys.iter().map(|p| &p.key);
    match planned.chain(&decision.approved).find(|key| key.account_id != *account) {
        Some(key) => Err(DeactivateError::NotActionable(format!(
            "key {} of user {} is in account {}, not the run's account {account}",
            key.access_key_id, key.user_name, key.account_id
        ))),
        None => Ok(()),
    }
}

/// The member accounts' access when `report` is of an organisation run (it has coverage) and this
/// deployment is of that scope; `None` for a run of one account in an account-scope deployment.
/// Any other combination is refused before anything is acted on: an account-scope deployment never
/// assumes a role into another account, an organisation one never acts with its own credentials.
fn of_this_scope<'a, A>(
    report: &RunReport,
    scope: Scope,
    members: Option<&'a A>,
) -> Result<Option<&'a A>, DeactivateError> {
    let refused = |why: &str| Err(DeactivateError::NotActionable(why.to_owned()));
    match (scope, &report.coverage, members) {
        (Scope::Account, None, _) => Ok(None),
        (Scope::Organization, Some(_), Some(members)) => Ok(Some(members)),
        (Scope::Account, Some(_), _) => refused(
            "the run report is of an organization run (it has coverage), and this deployment is \
             KEYWARD_SCOPE=account: it never assumes a role into another account",
        ),
        (Scope::Organization, None, _) => refused(
            "the run report is of one account's run (it has no coverage), and this deployment is \
             KEYWARD_SCOPE=organization: it never acts with its own credentials",
        ),
        (Scope::Organization, Some(_), None) => {
            refused("KEYWARD_SCOPE=organization, but this deactivate has no access to the member accounts")
        }
    }
}

/// Refuses, before the claim, an organisation run whose plan or decision names a key in an account
/// the run did not sweep (skipped, failed, or never discovered): a key is changed only in an
/// account whose users this run read, through that account's own write session.
fn in_swept_accounts(coverage: &Coverage, report: &RunReport, decision: &Decision) -> Result<(), DeactivateError> {
    let planned = report.evaluation.plan.keys.iter().map(|p| &p.key);
    match planned.chain(&decision.approved).find(|key| !coverage.swept(&key.account_id)) {
        Some(key) => Err(DeactivateError::NotActionable(format!(
            "key {} of user {} is in account {}, which this run did not sweep",
            key.access_key_id, key.user_name, key.account_id
        ))),
        None => Ok(()),
    }
}

fn describe(status: &PlanStatus) -> String {
    match status {
        PlanStatus::Empty => "is empty".to_owned(),
        PlanStatus::ReportOnly => "is report-only (KEYWARD_MODE=report)".to_owned(),
        PlanStatus::CapExceeded { planned, cap } => {
            format!("holds {planned} keys, over the cap of {cap} (MAX_DEACTIVATIONS_PER_RUN)")
        }
        PlanStatus::AccountCapExceeded { account_id, planned, cap } => format!(
            "holds {planned} keys in account {account_id}, over the cap of {cap} per account \
             (MAX_DEACTIVATIONS_PER_ACCOUNT)"
        ),
        PlanStatus::AwaitingApproval => "awaits approval".to_owned(),
        PlanStatus::Automatic => "is automatic (KEYWARD_MODE=auto) and takes no decision".to_owned(),
    }
}

fn counts(run: &RunRef, actions: &[ActionRecord], already_executed: bool) -> DeactivateOutput {
    let mut output = DeactivateOutput { run: run.clone(), deactivated: 0, skipped: 0, failed: 0, already_executed };
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
