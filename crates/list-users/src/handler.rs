//! The list-users handler: ListUsers, screening, and the run's `batches.json` (each item carrying,
//! under `SCREENING=report`, the report's facts about its users for check-user) and `listing.json`
//! (which names the report rows that could not be read; their users are checked live).
//! A plain async function over the [`Iam`] and [`ObjectStore`] ports.

use chrono::{DateTime, Utc};
use keyward_core::config::{Config, ConfigError, PolicyConfig, Screening, vars};
use keyward_core::contracts::{BatchItem, InvalidEvent, ListUsersInput, ListUsersOutput, Listing, UserBatch, decode};
use keyward_core::credential_report::{CredentialReportError, ParsedReport};
use keyward_core::errors::NamedError;
use keyward_core::org::AccountId;
use keyward_core::ports::{Iam, ObjectStore, PortError};
use keyward_core::run_report::calls_since;
use keyward_core::run_store::{RunStore, RunStoreError};
use keyward_core::screening;
use keyward_core::screening::batch_items;

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
}

impl Settings {
    /// The settings of `config`; `InvalidConfig` if the report bucket is not set.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        Ok(Settings {
            report_bucket: Config::require(&config.report_bucket, vars::REPORT_BUCKET)?.to_owned(),
            screening: config.screening,
            policy: config.policy.clone(),
            batch_size: usize::try_from(config.batch_size).unwrap_or(usize::MAX).max(1),
        })
    }
}

/// Ports and settings, built once per instance in `main.rs`.
pub struct Deps<I, S> {
    /// IAM (ListUsers, the credential report).
    pub iam: I,
    /// The run's state in the report bucket.
    pub runs: RunStore<S>,
    /// What this function reads from the configuration.
    pub settings: Settings,
}

/// Why list-users failed. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// The event does not match [`ListUsersInput`]: `InvalidInput`.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// An IAM or S3 call failed: `IamThrottled` or `AwsCallFailed`. (A credential report IAM did not
    /// have ready is not an error: the run checks every user live.)
    #[error(transparent)]
    Aws(#[from] PortError),
    /// The credential report as a whole is unusable (no header, a required column missing):
    /// `CredentialReportInvalid`. A row that cannot be read is not an error.
    #[error(transparent)]
    CredentialReport(#[from] CredentialReportError),
    /// A run-state object could not be written: `RunStateInvalid`, or the S3 call's name.
    #[error(transparent)]
    Runs(#[from] RunStoreError),
}

impl NamedError for ListUsersError {
    fn error_name(&self) -> &'static str {
        match self {
            ListUsersError::InvalidEvent(e) => e.error_name(),
            ListUsersError::Aws(e) => e.error_name(),
            ListUsersError::CredentialReport(e) => e.error_name(),
            ListUsersError::Runs(e) => e.error_name(),
        }
    }
}

/// Lists and screens the account's users and writes the run's batches and listing to the report
/// bucket. Nothing is written when any IAM call fails or the report is unusable. `now` is unused: the
/// screening is as of the execution's start (`evaluated_at`), the same instant for every state.
pub async fn handle<I: Iam, S: ObjectStore>(
    deps: &Deps<I, S>,
    _now: DateTime<Utc>,
    event: serde_json::Value,
) -> Result<ListUsersOutput, ListUsersError> {
    let Deps { iam, runs, settings } = deps;
    let input: ListUsersInput = decode(event)?;
    let run = runs.run(input.execution_name);
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();

    let names: Vec<String> = iam.list_users().await?.into_iter().map(|u| u.name).collect();
    let mut report_unavailable = None;
    let (screened, report) = match settings.screening {
        Screening::CredentialReport => match iam.credential_report().await {
            Ok(report) => {
                let parsed = ParsedReport::from_bytes(&report.csv)?;
                let screened =
                    screening::screen(&parsed.rows, &parsed.unreadable, &names, &settings.policy, input.evaluated_at);
                (screened, Some(ScreenedReport { parsed, generated_at: report.generated_at }))
            }
            // IAM did not finish the report within the adapter's bounded wait: failing would fail
            // every run of an account whose report is slow, so this run checks every user live
            // (more IAM calls, the same findings) and the listing says why.
            Err(PortError::ReportUnavailable { reason }) => {
                tracing::warn!(%reason, "credential report not ready within the wait; every user is checked live");
                report_unavailable = Some(reason);
                (screening::all_candidates(&names), None)
            }
            Err(e) => return Err(e.into()),
        },
        Screening::Live => (screening::all_candidates(&names), None),
    };

    let batches: Vec<UserBatch> = (0u32..)
        .zip(screened.candidates.chunks(settings.batch_size))
        .map(|(index, chunk)| UserBatch { index, users: chunk.iter().map(|c| c.user.clone()).collect() })
        .collect();
    // The report's facts about each batch's users, so check-user reads live only what must be fresh
    // (keyward_core::credential_report::facts). Without the report's generation time they are not handed on: the
    // users are then read fully live.
    let report_generated_at = report.as_ref().and_then(|r| r.generated_at);
    if report.is_some() && report_generated_at.is_none() {
        tracing::warn!("IAM did not say when the credential report was generated; candidates are read fully live");
    }
    let facts = report.as_ref().zip(report_generated_at).map(|(r, at)| (r.parsed.rows.as_slice(), at));
    let items: Vec<BatchItem> = batch_items(batches, facts);
    let unreadable_report_rows = report.map(|r| r.parsed.unreadable).unwrap_or_default();
    if let Some(first) = unreadable_report_rows.first() {
        tracing::warn!(
            unreadable_rows = unreadable_report_rows.len(),
            first = %first.reason,
            "credential report rows could not be read; their users are checked live"
        );
    }
    let listing = Listing {
        account_id: input.execution_id.as_deref().and_then(AccountId::of_arn),
        users_listed: names.len(),
        screening: settings.screening,
        candidates: screened.candidates,
        deleted_since_report: screened.deleted_since_report,
        unreadable_report_rows,
        report_unavailable,
        report_generated_at,
        api_calls: calls_since(&calls_before, &iam.api_calls()),
    };

    runs.put_json(&run, &run.listing_key(), &listing).await?;
    let batches_key = run.batches_key();
    runs.put_json(&run, &batches_key, &items).await?;

    tracing::info!(
        execution = %run.execution_name,
        screening = ?settings.screening,
        users_listed = listing.users_listed,
        candidates = listing.candidates.len(),
        batches = items.len(),
        deleted_since_report = listing.deleted_since_report,
        unreadable_report_rows = listing.unreadable_report_rows.len(),
        batches_with_report_facts = items.iter().filter(|i| i.report.is_some()).count(),
        "listed and screened users"
    );
    Ok(ListUsersOutput {
        users_listed: listing.users_listed,
        candidates: listing.candidates.len(),
        batches: items.len(),
        batches_key,
        has_candidates: !listing.candidates.is_empty(),
        run,
    })
}

/// The credential report as list-users screened with it.
struct ScreenedReport {
    parsed: ParsedReport,
    generated_at: Option<DateTime<Utc>>,
}
