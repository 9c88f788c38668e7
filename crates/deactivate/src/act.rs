//! Acting on the claimed keys, each journaled before and after its one IAM write. Per key, in claim
//! order: both caps, the run's and those in force (`over_a_cap`), and [`InForce`] (mode now,
//! deactivate's own key, a protected name) before any IAM call; the live read, [`InForce::allows_user`] and [`recheck`]; the intent entry;
//! `UpdateAccessKey Inactive`; one read-back of the key's status; the result entry. Keys IAM does not show `Inactive`
//! yet are re-read with backoff once all are done ([`READ_BACK_DELAYS`]), and a changed outcome is
//! journaled as `settled`.
//!
//! A journal write that fails stops here with its error: an intent not written means the key is
//! not touched, and a result not written leaves its intent, which says the key may have changed.
//! Either way no key is ever changed without the journal saying so.
//!
//! Each key is acted on in its own account through [`Sessions`]: the function's own IAM in account
//! scope, in organisation scope one write session per account, opened afresh when the account's
//! first key is about to be acted on. A session refused fails that account's keys (never touched,
//! journaled as failed) and the other accounts proceed.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::future::Future;

use chrono::{DateTime, Utc};
use keyward_core::config::PolicyConfig;
use keyward_core::config::budget::READ_BACK_DELAYS;
use keyward_core::contracts::RunRef;
use keyward_core::identity::{SessionName, SourceIdentity};
use keyward_core::journal::{Entry, entry_key};
use keyward_core::model::KeyStatus;
use keyward_core::org::AccountId;
use keyward_core::policy::{PlannedDeactivation, over_account_cap};
use keyward_core::ports::{AccountAccess, AccountSession, Creation, Iam, ObjectStore, PortError};
use keyward_core::recheck::{InForce, SkipReason, recheck};
use keyward_core::run_report::{ActionOutcome, ActionRecord, ApiCalls, RunReport, add_calls, calls_since};
use keyward_core::run_store::RunStore;

use crate::handler::DeactivateError;

/// Where each key's IAM is: the account a key is in is the one it is changed in.
pub(crate) trait Sessions: Send {
    /// The IAM of one account.
    type Iam: Iam;
    /// IAM in `account`, the session opened on first use and kept for the invocation; the
    /// refusal, the same each time, when it could not be opened.
    fn iam_in(&mut self, account: &AccountId) -> impl Future<Output = Result<&Self::Iam, PortError>> + Send;
    /// The calls made through these sessions in this invocation.
    fn api_calls(&self) -> ApiCalls;
}

/// Account scope: the function's own IAM, in the one account of the run (the handler has held
/// every key to it).
pub(crate) struct OwnAccount<'a, I> {
    iam: &'a I,
    /// The adapter lives across warm invocations: its counts before this one.
    calls_before: ApiCalls,
}

impl<'a, I: Iam> OwnAccount<'a, I> {
    /// `iam`, counting its calls from now.
    pub(crate) fn new(iam: &'a I) -> OwnAccount<'a, I> {
        OwnAccount { iam, calls_before: iam.api_calls() }
    }
}

impl<I: Iam> Sessions for OwnAccount<'_, I> {
    type Iam = I;
    async fn iam_in(&mut self, _account: &AccountId) -> Result<&I, PortError> {
        Ok(self.iam)
    }
    fn api_calls(&self) -> ApiCalls {
        calls_since(&self.calls_before, &self.iam.api_calls())
    }
}

/// Organisation scope: a session of the write role (`MEMBER_WRITE_ROLE`) in each account, carrying
/// the approver as its `SourceIdentity` so that the account's CloudTrail names who decided.
pub(crate) struct MemberAccounts<'a, A: AccountAccess> {
    access: &'a A,
    role: &'a str,
    name: SessionName,
    source_identity: SourceIdentity,
    opened: BTreeMap<AccountId, Result<A::Iam, PortError>>,
}

impl<'a, A: AccountAccess> MemberAccounts<'a, A> {
    /// Sessions of `role` through `access`, named `name`, on behalf of `source_identity`.
    pub(crate) fn new(
        access: &'a A,
        role: &'a str,
        name: SessionName,
        source_identity: SourceIdentity,
    ) -> MemberAccounts<'a, A> {
        MemberAccounts { access, role, name, source_identity, opened: BTreeMap::new() }
    }
}

impl<A: AccountAccess> Sessions for MemberAccounts<'_, A>
where
    A::Iam: Send,
{
    type Iam = A::Iam;
    async fn iam_in(&mut self, account: &AccountId) -> Result<&A::Iam, PortError> {
        let opened = match self.opened.entry(account.clone()) {
            btree_map::Entry::Occupied(opened) => opened.into_mut(),
            btree_map::Entry::Vacant(vacant) => {
                let session = AccountSession {
                    account: account.clone(),
                    role: self.role.to_owned(),
                    name: self.name.clone(),
                    source_identity: Some(self.source_identity.clone()),
                };
                let opened = self.access.iam_in(&session).await;
                if let Err(err) = &opened {
                    tracing::error!(%account, error = %err, "write session refused: the account's keys are not touched");
                }
                vacant.insert(opened)
            }
        };
        opened.as_ref().map_err(Clone::clone)
    }
    fn api_calls(&self) -> ApiCalls {
        let mut calls = ApiCalls::new();
        for iam in self.opened.values().flatten() {
            add_calls(&mut calls, &iam.api_calls());
        }
        calls
    }
}

/// Acts on `approved` (the claim's keys, in its order) of `report`'s run, journaling every step,
/// each key in its account's IAM from `sessions`.
pub(crate) async fn act_on_all(
    sessions: &mut impl Sessions,
    runs: &RunStore<impl ObjectStore>,
    run: &RunRef,
    approved: &[PlannedDeactivation],
    report: &RunReport,
    in_force: InForce<'_>,
    now: DateTime<Utc>,
) -> Result<(), DeactivateError> {
    let journal = JournalWriter { runs, run };
    let over_cap = over_a_cap(approved, &report.config).or_else(|| over_a_cap(approved, in_force.config));
    let mut actions = Vec::with_capacity(approved.len());
    for (index, planned) in approved.iter().enumerate() {
        let held_back = match &over_cap {
            Some(reason) => Err(reason.clone()),
            None => in_force.allows(&planned.key, &report.evaluation.plan.status),
        };
        let outcome = match held_back {
            Err(reason) => ActionOutcome::Skipped { reason },
            Ok(()) => match sessions.iam_in(&planned.key.account_id).await {
                Ok(iam) => act_on(iam, &journal, index, planned, &report.config, in_force, now).await?,
                Err(refused) => ActionOutcome::Failed {
                    error: format!("no session in account {}, key not touched: {refused}", planned.key.account_id),
                },
            },
        };
        let record = ActionRecord { key: planned.key.clone(), at: now, outcome };
        journal.write(index, "result", &Entry::Result(record.clone())).await?;
        actions.push(record);
    }
    settle_read_backs(sessions, &journal, &mut actions).await
}

/// Why the whole approved set is held back under `config`'s caps, if it is: more keys than
/// `MAX_DEACTIVATIONS_PER_RUN`, or more in one account than `MAX_DEACTIVATIONS_PER_ACCOUNT`.
/// Checked against the run's configuration and the one in force, so lowering a cap after the plan
/// was made holds back a set the new cap would not allow.
fn over_a_cap(approved: &[PlannedDeactivation], config: &PolicyConfig) -> Option<SkipReason> {
    let cap = config.max_deactivations_per_run;
    if approved.len() > cap as usize {
        return Some(SkipReason::CapExceeded { approved: approved.len(), cap });
    }
    over_account_cap(approved.iter().map(|k| &k.key), config).map(|(account_id, approved)| {
        SkipReason::AccountCapExceeded { account_id, approved, cap: config.max_deactivations_per_account }
    })
}

/// Re-checks one key live and, if it is still to be deactivated, journals the intent, deactivates
/// it and reads it back once: `Deactivated` when it reads `Inactive`, `DeactivatedNotYetVisible`
/// while it still reads `Active` (settled later by [`settle_read_backs`]).
async fn act_on(
    iam: &impl Iam,
    journal: &JournalWriter<'_, impl ObjectStore>,
    index: usize,
    planned: &PlannedDeactivation,
    config: &PolicyConfig,
    in_force: InForce<'_>,
    now: DateTime<Utc>,
) -> Result<ActionOutcome, DeactivateError> {
    let (user, key) = (planned.key.user_name.as_str(), planned.key.access_key_id.as_str());
    let live = match iam.read_user(user).await {
        Ok(live) => live,
        Err(e) => {
            return Ok(ActionOutcome::Failed { error: format!("the live re-check failed, key not touched: {e}") });
        }
    };
    if let Some(reason) = live.as_ref().and_then(|u| in_force.allows_user(u, now).err()) {
        return Ok(ActionOutcome::Skipped { reason });
    }
    if let Err(reason) = recheck(planned, live.as_ref(), config, now) {
        return Ok(ActionOutcome::Skipped { reason });
    }
    journal.write(index, "intent", &Entry::Intent { key: planned.key.clone(), at: now }).await?;
    if let Err(e) = iam.deactivate_key(user, key).await {
        return Ok(ActionOutcome::Failed { error: e.to_string() });
    }
    Ok(read_back(iam, user, key).await)
}

/// Re-reads every key that `UpdateAccessKey` deactivated but that still read `Active`, after each
/// of [`READ_BACK_DELAYS`], until IAM shows them all or the waits are over. The waits are the
/// run's, not each key's: however many keys lag, deactivate waits at most their sum once, which
/// keeps the run's time within [`budget`](keyward_core::config::budget). A key still `Active`
/// after the last wait stays `DeactivatedNotYetVisible`; a key whose outcome changed is journaled
/// (`settled`).
async fn settle_read_backs(
    sessions: &mut impl Sessions,
    journal: &JournalWriter<'_, impl ObjectStore>,
    actions: &mut [ActionRecord],
) -> Result<(), DeactivateError> {
    let lagged: Vec<usize> =
        (0..actions.len()).filter(|&i| actions[i].outcome == ActionOutcome::DeactivatedNotYetVisible).collect();
    for delay in READ_BACK_DELAYS {
        let mut lagging =
            actions.iter_mut().filter(|a| a.outcome == ActionOutcome::DeactivatedNotYetVisible).peekable();
        if lagging.peek().is_none() {
            break;
        }
        tokio::time::sleep(delay).await;
        for action in lagging {
            // The key was deactivated through this account's session: it is open.
            action.outcome = match sessions.iam_in(&action.key.account_id).await {
                Ok(iam) => read_back(iam, &action.key.user_name, &action.key.access_key_id).await,
                Err(e) => ActionOutcome::Failed { error: format!("reading the key back failed: {e}") },
            };
        }
    }
    for index in lagged {
        if actions[index].outcome != ActionOutcome::DeactivatedNotYetVisible {
            journal.write(index, "settled", &Entry::Result(actions[index].clone())).await?;
        }
    }
    Ok(())
}

/// Reads `key` back after `UpdateAccessKey` succeeded, with the one call that shows its status
/// ([`Iam::read_key_status`]): `Deactivated` when it reads `Inactive`, `DeactivatedNotYetVisible` while
/// it reads `Active`. A read that fails, or that no longer shows the user or the key, is not IAM
/// catching up and is `Failed`, as it always was.
async fn read_back(iam: &impl Iam, user: &str, key: &str) -> ActionOutcome {
    let status = match iam.read_key_status(user, key).await {
        Ok(status) => status,
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

/// Writes the journal entries of one run, each once.
struct JournalWriter<'a, S> {
    runs: &'a RunStore<S>,
    run: &'a RunRef,
}

impl<S: ObjectStore> JournalWriter<'_, S> {
    /// Creates the entry `kind` of the `index`-th claimed key. One already there is refused: only
    /// the claim holder writes the journal, each entry once.
    async fn write(&self, index: usize, kind: &str, entry: &Entry) -> Result<(), DeactivateError> {
        let key = match entry {
            Entry::Intent { key, .. } => key,
            Entry::Result(record) => &record.key,
        };
        let object = entry_key(self.run, index, key, kind);
        match self.runs.create_json(self.run, &object, entry).await? {
            Creation::Created => Ok(()),
            Creation::AlreadyExists => {
                Err(self.runs.invalid(&object, "already exists: a journal entry is written once".to_owned()).into())
            }
        }
    }
}
