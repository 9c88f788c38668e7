//! Discovery, the first step of an organisation run: every account Organizations lists, selected by
//! `ORG_INCLUDE` / `ORG_EXCLUDE` ([`keyward_core::org::select`]), written to the run's
//! `discovery.json` (every account, swept or not and why, and the Organizations calls it took) and
//! `accounts.json` (the accounts to sweep, in the selection's order, for the Map over accounts).

use keyward_core::contracts::{AccountItem, DiscoverOutput, Discovery};
use keyward_core::org;
use keyward_core::ports::{ObjectStore, Organization};
use keyward_core::run_report::calls_since;
use keyward_core::run_store::RunStore;

use crate::handler::{ListUsersError, Settings};

/// Discovers and selects the organisation's accounts for the run `execution_name`. Organizations
/// refusing to list them (not the management account, nor one the delegated administrator policy
/// allows) fails the run, naming the fix: without the list, nothing can be swept. Nothing is
/// written when the listing fails.
pub(crate) async fn discover<O: Organization, S: ObjectStore>(
    organization: &O,
    runs: &RunStore<S>,
    settings: &Settings,
    execution_name: String,
) -> Result<DiscoverOutput, ListUsersError> {
    let run = runs.run(execution_name);
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = organization.api_calls();
    let discovered = organization.accounts().await?;
    let selection = org::select(discovered, &settings.org_include, &settings.org_exclude);
    let items: Vec<AccountItem> = selection
        .swept
        .iter()
        .map(|account| AccountItem { run: run.in_account(account.id.clone()), account_name: account.name.clone() })
        .collect();
    let accounts_discovered = selection.swept.len() + selection.not_swept.len();
    for entry in &selection.unmatched {
        tracing::warn!(variable = %entry.variable, entry = %entry.entry, "the filter entry names no discovered account");
    }
    let discovery = Discovery { selection, api_calls: calls_since(&calls_before, &organization.api_calls()) };

    runs.put_json(&run, &run.discovery_key(), &discovery).await?;
    let accounts_key = run.accounts_key();
    runs.put_json(&run, &accounts_key, &items).await?;

    tracing::info!(
        execution = %run.execution_name,
        accounts_discovered,
        accounts_selected = items.len(),
        not_swept = discovery.selection.not_swept.len(),
        unmatched_filter_entries = discovery.selection.unmatched.len(),
        "discovered the organisation's accounts"
    );
    Ok(DiscoverOutput {
        run,
        accounts_key,
        accounts_discovered,
        accounts_selected: items.len(),
        has_accounts: !items.is_empty(),
    })
}
