//! The organisation run's evaluation (`KEYWARD_SCOPE=organization`): reads `discovery.json`, then
//! each selected account's part of the run — its failure record, or else its listing, batches and
//! batch results — and evaluates the swept accounts' users together, once, so that the run's cap
//! holds over the organisation and the per-account cap in each account. The report's coverage
//! places every discovered account: swept, skipped (by the selection) or failed (with the reason
//! and the fix); an account that left no record at all is failed as not recorded, never silently
//! dropped.

use chrono::{DateTime, Utc};
use keyward_core::contracts::{BatchItem, Discovery, Listing, RunRef};
use keyward_core::credential_report::UnreadableRow;
use keyward_core::org::{AccountFailure, AccountId, OrgAccount};
use keyward_core::policy;
use keyward_core::ports::ObjectStore;
use keyward_core::run_report::{Coverage, FailedAccount, REPORT_SCHEMA_VERSION, RunReport, SweptAccount, add_calls};
use keyward_core::run_store::RunStore;

use crate::handler::{Checked, Settings, ValidateKeysError, gather};

/// What one selected account's part of the run holds.
enum Sweep {
    /// Its sweep failed (its record, or none at all).
    Failed(AccountFailure),
    /// It was swept: its listing and what its batches produced.
    Swept { listing: Listing, checked: Checked },
}

/// The run report of the organisation run `run` (the run as a whole), evaluated at `evaluated_at`.
pub(crate) async fn organization_report<S: ObjectStore>(
    runs: &RunStore<S>,
    settings: &Settings,
    run: &RunRef,
    evaluated_at: DateTime<Utc>,
) -> Result<RunReport, ValidateKeysError> {
    let Discovery { selection, api_calls: discovery_calls } = runs.get_json(run, &run.discovery_key()).await?;
    let mut api_calls = discovery_calls;
    let (mut swept, mut failed) = (Vec::new(), Vec::new());
    let mut all = Checked::default();
    let (mut users_listed, mut unreadable_report_rows, mut unavailable) = (0, Vec::new(), Vec::new());
    for account in &selection.swept {
        let (listing, checked) = match sweep_of(runs, run, account).await? {
            Sweep::Failed(failure) => {
                tracing::warn!(account = %account.id, error = failure.error, "account not swept");
                failed.push(FailedAccount { name: account.name.clone(), failure });
                continue;
            }
            Sweep::Swept { listing, checked } => (listing, checked),
        };
        let id = &account.id;
        swept.push(SweptAccount {
            account_id: id.clone(),
            name: account.name.clone(),
            users_listed: listing.users_listed,
            users_checked: checked.users.len(),
            users_not_evaluated: checked.not_evaluated.len(),
        });
        users_listed += listing.users_listed;
        unreadable_report_rows.extend(listing.unreadable_report_rows.into_iter().map(|row| in_account(id, row)));
        unavailable.extend(listing.report_unavailable.map(|reason| format!("account {id}: {reason}")));
        add_calls(&mut api_calls, &listing.api_calls);
        add_calls(&mut api_calls, &checked.api_calls);
        all.users.extend(checked.users);
        all.gone.extend(checked.gone.into_iter().map(|user| qualified(id, &user)));
        all.not_evaluated.extend(checked.not_evaluated.into_iter().map(|user| qualified(id, &user)));
    }
    let coverage = Coverage {
        discovered: selection.swept.len() + selection.not_swept.len(),
        swept,
        skipped: selection.not_swept,
        failed,
        unmatched: selection.unmatched,
    };
    Ok(RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        execution_name: run.execution_name.clone(),
        account_id: None,
        config: settings.policy.clone(),
        screening: settings.screening,
        users_listed,
        users_checked: all.users.len(),
        users_gone: all.gone,
        users_not_evaluated: all.not_evaluated,
        unreadable_report_rows,
        report_unavailable: (!unavailable.is_empty()).then(|| unavailable.join("; ")),
        // One evaluation over every swept account: exemptions and the per-account cap go by each
        // user's ARN, the run's cap over the organisation.
        evaluation: policy::evaluate(&all.users, &settings.policy, evaluated_at),
        decision: None,
        actions: Vec::new(),
        api_calls,
        coverage: Some(coverage),
    })
}

/// Reads `account`'s part of `run`. A failure record wins over a listing (the sweep may have failed
/// after listing); a listing without its batches, or no record at all, is a sweep that ended
/// without saying why. A record that is there but unreadable, or of another account, fails the run
/// (`RunStateInvalid`), as it does in account scope.
async fn sweep_of<S: ObjectStore>(
    runs: &RunStore<S>,
    run: &RunRef,
    account: &OrgAccount,
) -> Result<Sweep, ValidateKeysError> {
    let part = run.in_account(account.id.clone());
    let failure_key = part.account_failure_key();
    if let Some(failure) = runs.get_optional_json::<AccountFailure>(&part, &failure_key).await? {
        if failure.account_id != account.id {
            let problem = format!("is the failure of account {}, not of account {}", failure.account_id, account.id);
            return Err(runs.invalid(&failure_key, problem).into());
        }
        return Ok(Sweep::Failed(failure));
    }
    let listing_key = part.listing_key();
    let Some(listing) = runs.get_optional_json::<Listing>(&part, &listing_key).await? else {
        return Ok(Sweep::Failed(AccountFailure::not_recorded(account.id.clone())));
    };
    if listing.account_id.as_ref() != Some(&account.id) {
        let problem = format!("does not name account {} as the account listed", account.id);
        return Err(runs.invalid(&listing_key, problem).into());
    }
    let Some(batches) = runs.get_optional_json::<Vec<BatchItem>>(&part, &part.batches_key()).await? else {
        return Ok(Sweep::Failed(AccountFailure {
            reason: "the sweep of this account wrote its listing but not its batches, and left no failure record"
                .to_owned(),
            ..AccountFailure::not_recorded(account.id.clone())
        }));
    };
    let checked = gather(runs, &part, &batches).await?;
    Ok(Sweep::Swept { listing, checked })
}

/// A user named across the organisation: `<account id>:<user name>` (user names are unique only
/// within an account).
fn qualified(account: &AccountId, user: &str) -> String {
    format!("{account}:{user}")
}

/// An unreadable credential-report row of `account`, its user and reason naming the account.
fn in_account(account: &AccountId, row: UnreadableRow) -> UnreadableRow {
    UnreadableRow {
        line: row.line,
        user: row.user.map(|user| qualified(account, &user)),
        reason: format!("account {account}: {}", row.reason),
    }
}
