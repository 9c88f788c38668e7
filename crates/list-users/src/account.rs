//! One account's steps of an organisation run: its sweep, through a session of `MEMBER_READ_ROLE`
//! opened in it ([`sweep`]), and the record of why it was not swept when the Map over accounts
//! caught a failure ([`record_failure`]). Both first check that the run's discovery selected the
//! account (its `accounts.json`), so an event cannot send keyward into an account the run does not
//! sweep, nor write a record there.

use chrono::{DateTime, Utc};
use keyward_core::contracts::{AccountFailedOutput, AccountItem, InvalidEvent, ListUsersOutput, RunRef};
use keyward_core::identity::SessionName;
use keyward_core::org::{AccountFailure, AccountId};
use keyward_core::ports::{AccountAccess, AccountSession, ObjectStore};
use keyward_core::run_store::RunStore;

use crate::handler::{ListUsersError, Settings};
use crate::listing;

/// The function's name in its sessions' names (`list-users.<exec>` in the member's CloudTrail).
const FUNCTION: &str = "list-users";

/// Sweeps `run`'s account: refuses it ([`ListUsersError::NotInRun`], no session opened) if the
/// run's accounts array does not list it, else opens the read session and lists and screens the
/// account's users through it, under the account's prefix. A refused session is
/// `MemberRoleRefused`, and nothing is written.
pub(crate) async fn sweep<A: AccountAccess, S: ObjectStore>(
    accounts: &A,
    runs: &RunStore<S>,
    settings: &Settings,
    run: RunRef,
    evaluated_at: DateTime<Utc>,
) -> Result<ListUsersOutput, ListUsersError> {
    let account = selected(runs, &run).await?;
    let session = AccountSession {
        account: account.clone(),
        role: settings.member_read_role.clone(),
        name: SessionName::new(FUNCTION, &run.execution_name),
        source_identity: None,
    };
    let iam = accounts.iam_in(&session).await?;
    listing::list_and_screen(&iam, runs, settings, run, Some(account), evaluated_at).await
}

/// Writes why `run`'s account was not swept, from Step Functions' `error` and `cause`, to its
/// failure record (refused, writing nothing, if the run's accounts array does not list it).
pub(crate) async fn record_failure<S: ObjectStore>(
    runs: &RunStore<S>,
    settings: &Settings,
    run: RunRef,
    error: &str,
    cause: &str,
) -> Result<AccountFailedOutput, ListUsersError> {
    let account = selected(runs, &run).await?;
    let failure = AccountFailure::new(account.clone(), error, cause, &settings.member_read_role);
    runs.put_json(&run, &run.account_failure_key(), &failure).await?;
    tracing::warn!(
        execution = %run.execution_name,
        account = %account,
        error = %failure.error,
        reason = %failure.reason,
        "recorded an account the run did not sweep"
    );
    Ok(AccountFailedOutput { run, account_id: account, recorded: true })
}

/// The account `run` names, if the run's accounts array lists exactly this part of the run.
async fn selected<S: ObjectStore>(runs: &RunStore<S>, run: &RunRef) -> Result<AccountId, ListUsersError> {
    // decode() already refuses an account step without an account: this keeps the check whole.
    let Some(account) = run.account_id.clone() else {
        return Err(InvalidEvent { contract: "ListUsersEvent", message: "run.account_id is missing".to_owned() }.into());
    };
    let whole = run.whole();
    let key = whole.accounts_key();
    let items: Vec<AccountItem> = runs.get_json(&whole, &key).await?;
    if items.iter().any(|item| item.run == *run) {
        Ok(account)
    } else {
        Err(ListUsersError::NotInRun { account, bucket: run.bucket.clone(), key })
    }
}
