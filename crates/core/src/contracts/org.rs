//! The payloads only an organisation run (`KEYWARD_SCOPE=organization`) has: list-users' three steps
//! ([`OrgListUsersInput`], decoded through [`ListUsersEvent`] beside the account sweep's
//! [`super::ListUsersInput`]), discovery's output and objects ([`DiscoverOutput`], [`Discovery`]),
//! the Map over accounts' items ([`AccountItem`]), and the record of an account not swept
//! ([`AccountFailedOutput`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Contract, ListUsersInput, RunRef, check_run, is_valid_execution_name};

/// One item of [`RunRef::accounts_key`]: an account the organisation run sweeps, as the Map over
/// accounts hands it to its child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountItem {
    /// The run's part for this account ([`RunRef::in_account`]).
    pub run: RunRef,
    /// The account's name in the organisation.
    pub account_name: String,
}

/// What list-users' discovery wrote to [`RunRef::discovery_key`]: every account Organizations
/// listed, swept or not and why, and the Organizations calls it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Which accounts the run sweeps (the same, in the same order, as the accounts array).
    pub selection: crate::org::Selection,
    /// Calls made, by `organizations:Operation`.
    #[serde(default)]
    pub api_calls: std::collections::BTreeMap<String, u64>,
}

/// Output of list-users' discovery (`{"phase": "discover", …}`, organisation scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverOutput {
    /// The run as a whole.
    pub run: RunRef,
    /// The S3 key of the accounts array (the Map over accounts' ItemReader reads it).
    pub accounts_key: String,
    /// Accounts Organizations listed.
    pub accounts_discovered: usize,
    /// Accounts to sweep (ACTIVE, selected by `ORG_INCLUDE` / `ORG_EXCLUDE`).
    pub accounts_selected: usize,
    /// `accounts_selected > 0`.
    pub has_accounts: bool,
}

/// One step of an organisation run asked of list-users (`KEYWARD_SCOPE=organization`), tagged by
/// `phase`: discover the accounts, list one account's users, or record why an account was not swept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "phase", deny_unknown_fields)]
pub enum OrgListUsersInput {
    /// `{"phase": "discover", "execution_name", "execution_id"?, "evaluated_at"}`: list the
    /// organisation's accounts, select them, write discovery.json and accounts.json
    /// ([`DiscoverOutput`]).
    Discover {
        /// The execution name.
        execution_name: String,
        /// The execution's ARN.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        execution_id: Option<String>,
        /// The execution's start time.
        evaluated_at: DateTime<Utc>,
    },
    /// `{"phase": "account", "run": {…, "account_id"}, "evaluated_at"}`: the sweep of one account
    /// through its read role ([`ListUsersOutput`], its run naming the account).
    Account {
        /// The run's part for the account.
        run: RunRef,
        /// The execution's start time.
        evaluated_at: DateTime<Utc>,
    },
    /// `{"phase": "account-failed", "run": {…, "account_id"}, "error", "cause"?}`: the Map over
    /// accounts caught a failure of the account's sweep; write its failure.json
    /// ([`AccountFailedOutput`]).
    AccountFailed {
        /// The run's part for the account.
        run: RunRef,
        /// Step Functions' `Error`.
        error: String,
        /// Step Functions' `Cause` (may be absent).
        #[serde(default)]
        cause: String,
    },
}

impl OrgListUsersInput {
    /// The run's account part an `account` or `account-failed` step names; `None` for discovery.
    pub fn account_run(&self) -> Option<&RunRef> {
        match self {
            OrgListUsersInput::Discover { .. } => None,
            OrgListUsersInput::Account { run, .. } | OrgListUsersInput::AccountFailed { run, .. } => Some(run),
        }
    }
}

/// Output of list-users' `account-failed` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailedOutput {
    /// The run's part for the account.
    pub run: RunRef,
    /// The account.
    pub account_id: crate::org::AccountId,
    /// The failure was written to the account's failure.json.
    pub recorded: bool,
}

/// What list-users is asked: an event with `phase` is a step of an organisation run
/// ([`OrgListUsersInput`]), one without is the account-scope sweep ([`ListUsersInput`]), so each
/// is judged against its own shape and its errors name its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ListUsersEvent {
    /// The sweep of the account keyward runs in.
    Account(ListUsersInput),
    /// A step of an organisation run.
    Organization(OrgListUsersInput),
}

impl<'de> Deserialize<'de> for ListUsersEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("phase").is_some() {
            serde_json::from_value(value).map(ListUsersEvent::Organization).map_err(D::Error::custom)
        } else {
            serde_json::from_value(value).map(ListUsersEvent::Account).map_err(D::Error::custom)
        }
    }
}

impl Contract for ListUsersEvent {
    const NAME: &'static str = "ListUsersEvent";
    fn validate(&self) -> Result<(), String> {
        match self {
            ListUsersEvent::Account(input) => input.validate(),
            ListUsersEvent::Organization(OrgListUsersInput::Discover { execution_name, .. }) => {
                if is_valid_execution_name(execution_name) {
                    Ok(())
                } else {
                    Err(format!("execution_name {execution_name:?} is not a Step Functions execution name"))
                }
            }
            ListUsersEvent::Organization(step) => {
                let run = step.account_run().ok_or("an account step names no run")?;
                check_run(run)?;
                if run.account_id.is_none() {
                    return Err("run.account_id is missing: an account step of an organisation run names its account"
                        .to_owned());
                }
                Ok(())
            }
        }
    }
}
