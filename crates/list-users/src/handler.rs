//! The list-users handler: decodes a [`ListUsersEvent`], refuses one of the other scope than this
//! deployment's, and hands it to its step: the sweep of the deployment's own account (account
//! scope, module `listing`), or one step of an organisation run: discovery (module `discover`),
//! one account's sweep through its read role, or the record of an account not swept (module
//! `account`). Plain async functions over keyward-core's ports.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, PolicyConfig, Scope, Screening, vars};
use keyward_core::contracts::{
    AccountFailedOutput, DiscoverOutput, InvalidEvent, ListUsersEvent, ListUsersOutput, OrgListUsersInput, decode,
};
use keyward_core::credential_report::CredentialReportError;
use keyward_core::errors::{self, NamedError};
use keyward_core::org::{AccountFilter, AccountId};
use keyward_core::ports::{AccountAccess, Iam, ObjectStore, Organization, PortError};
use keyward_core::run_store::{RunStore, RunStoreError};
use serde::Serialize;

use crate::{account, discover, listing};

/// What list-users reads from the configuration, resolved once at init by [`Settings::from_config`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KEYWARD_REPORT_BUCKET`: where the run's state goes.
    pub report_bucket: String,
    /// `SCREENING`: with the credential report, or every user live.
    pub screening: Screening,
    /// The policy the screening keeps candidates for.
    pub policy: PolicyConfig,
    /// `BATCH_SIZE`: users per Map item, at least 1.
    pub batch_size: usize,
    /// `ORG_INCLUDE`: the accounts and OUs discovery selects (empty: every account).
    pub org_include: AccountFilter,
    /// `ORG_EXCLUDE`: the accounts and OUs discovery leaves out.
    pub org_exclude: AccountFilter,
    /// `MEMBER_READ_ROLE`: the role each account is swept through in organisation scope.
    pub member_read_role: String,
}

impl Settings {
    /// The settings of `config`; `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            screening: config.screening,
            policy: config.policy.clone(),
            batch_size: usize::try_from(config.batch_size).unwrap_or(usize::MAX).max(1),
            org_include: config.org_include.clone(),
            org_exclude: config.org_exclude.clone(),
            member_read_role: config.member_read_role.clone(),
        })
    }
}

/// How this deployment reaches IAM, fixed by `KEYWARD_SCOPE` at init: its own account's IAM, or
/// the organisation and its member accounts. Only one exists per deployment, so an account-scope
/// deployment has no STS or Organizations client at all, and an organisation one has no IAM
/// client with its own credentials to sweep with.
pub enum Access<I, O, A> {
    /// `KEYWARD_SCOPE=account`: the function's own IAM (ListUsers, the credential report).
    Own(I),
    /// `KEYWARD_SCOPE=organization`.
    Members {
        /// Organizations (discovery).
        organization: O,
        /// Sessions in the member accounts (each account's sweep).
        accounts: A,
    },
}

impl<I, O, A> Access<I, O, A> {
    /// The scope this access is of.
    pub fn scope(&self) -> Scope {
        match self {
            Access::Own(_) => Scope::Account,
            Access::Members { .. } => Scope::Organization,
        }
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<I, S, O, A> {
    /// IAM, or the organisation's accounts (by `KEYWARD_SCOPE`).
    pub access: Access<I, O, A>,
    /// The run's state in the report bucket.
    pub runs: RunStore<S>,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// What list-users answers, by step: serialised as the step's own output, without a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Output {
    /// An account swept (account scope, or an organisation run's `account` step).
    Listed(ListUsersOutput),
    /// The organisation's accounts discovered (`discover`).
    Discovered(DiscoverOutput),
    /// An account's failure recorded (`account-failed`).
    Recorded(AccountFailedOutput),
}

/// Why list-users failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// The event does not match [`ListUsersEvent`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// The event is a step of the other scope than this deployment's: `InvalidInput`. Nothing was
    /// read or written.
    #[error("invalid event: {}", wrong_scope(*deployed))]
    WrongScope {
        /// This deployment's scope.
        deployed: Scope,
    },
    /// An account step names an account this run's discovery did not select: `InvalidInput`.
    /// Nothing but the run's accounts array was read, and nothing was written.
    #[error(
        "invalid event: account {account} is not one this run sweeps (s3://{bucket}/{key} does not list it); no \
         session was opened and nothing was written"
    )]
    NotInRun {
        /// The account the event names.
        account: AccountId,
        /// The report bucket.
        bucket: String,
        /// The run's accounts array.
        key: String,
    },
    /// An IAM, S3, Organizations or STS call failed: `IamThrottled`, `AwsThrottled`,
    /// `AwsCallFailed` (Organizations refusing to list the organisation among them) or
    /// `MemberRoleRefused`. (A credential report IAM did not have ready is not an error: the run
    /// checks every user live.)
    #[error(transparent)]
    Aws(#[from] PortError),
    /// The credential report as a whole is unusable (no header, a required column missing):
    /// `CredentialReportInvalid`. A row that cannot be read is not an error.
    #[error(transparent)]
    CredentialReport(#[from] CredentialReportError),
    /// The event names a run outside the report bucket (`InvalidInput`), or a run-state object
    /// could not be read or written (`RunStateInvalid`, or the S3 call's name).
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for ListUsersError {
    fn error_name(&self) -> &'static str {
        match self {
            ListUsersError::InvalidEvent(e) => e.error_name(),
            ListUsersError::WrongScope { .. } | ListUsersError::NotInRun { .. } => errors::INVALID_INPUT,
            ListUsersError::Aws(e) => e.error_name(),
            ListUsersError::CredentialReport(e) => e.error_name(),
            ListUsersError::Runs(e) => e.error_name(),
        }
    }
}

/// Why an event of the other scope is refused, as the error message says it.
fn wrong_scope(deployed: Scope) -> &'static str {
    match deployed {
        Scope::Account => {
            "a step of an organisation run (\"phase\"), but this deployment sweeps its own account \
             (KEYWARD_SCOPE=account) and never assumes a role in another; nothing was read or written"
        }
        Scope::Organization => {
            "the sweep of the deployment's own account (no \"phase\"), but this deployment sweeps an organisation \
             (KEYWARD_SCOPE=organization): every account, this one included, is read through MEMBER_READ_ROLE, \
             never with the function's own credentials (start the run with {\"phase\": \"discover\", …}); \
             nothing was read or written"
        }
    }
}

/// Runs the step the event asks for, if it is of this deployment's scope (else
/// [`ListUsersError::WrongScope`] before any call). Nothing is written when an AWS call fails or
/// the report is unusable. `now` is unused: the screening is as of the execution's start
/// (`evaluated_at`), the same instant for every state.
pub async fn handle<I: Iam, S: ObjectStore, O: Organization, A: AccountAccess>(
    deps: &Deps<I, S, O, A>,
    _now: DateTime<Utc>,
    event: serde_json::Value,
) -> Result<Output, ListUsersError> {
    let Deps { access, runs, settings } = deps;
    let event: ListUsersEvent = decode(event)?;
    match (access, event) {
        (Access::Own(iam), ListUsersEvent::Account(input)) => {
            let run = runs.run(input.execution_name);
            let account = input.execution_id.as_deref().and_then(AccountId::of_arn);
            let listed = listing::list_and_screen(iam, runs, settings, run, account, input.evaluated_at).await?;
            Ok(Output::Listed(listed))
        }
        (Access::Members { organization, accounts }, ListUsersEvent::Organization(step)) => match step {
            OrgListUsersInput::Discover { execution_name, .. } => {
                Ok(Output::Discovered(discover::discover(organization, runs, settings, execution_name).await?))
            }
            OrgListUsersInput::Account { run, evaluated_at } => {
                Ok(Output::Listed(account::sweep(accounts, runs, settings, run, evaluated_at).await?))
            }
            OrgListUsersInput::AccountFailed { run, error, cause } => {
                Ok(Output::Recorded(account::record_failure(runs, settings, run, &error, &cause).await?))
            }
        },
        (access, _) => Err(ListUsersError::WrongScope { deployed: access.scope() }),
    }
}
