//! The sweep of one account's users: ListUsers, screening, and the run's `batches.json` (each item
//! carrying, under `SCREENING=report`, the report's facts about its users for check-user) and
//! `listing.json` (which names the report rows that could not be read; their users are checked
//! live), both under the run's prefix for that account. The same whether the IAM is the
//! deployment's own (account scope) or a member account's read session (organisation scope).

use chrono::{DateTime, Utc};
use keyward_core::config::Screening;
use keyward_core::contracts::{BatchItem, ListUsersOutput, Listing, RunRef, UserBatch};
use keyward_core::credential_report::ParsedReport;
use keyward_core::org::AccountId;
use keyward_core::ports::{Iam, ObjectStore, PortError};
use keyward_core::run_report::calls_since;
use keyward_core::run_store::RunStore;
use keyward_core::screening;
use keyward_core::screening::batch_items;

use crate::handler::{ListUsersError, Settings};

/// Lists and screens the users `iam` reaches and writes `run`'s batches and listing (the listing
/// naming `account`, the account swept, when known). Nothing is written when any IAM call fails or
/// the report is unusable.
pub(crate) async fn list_and_screen<I: Iam, S: ObjectStore>(
    iam: &I,
    runs: &RunStore<S>,
    settings: &Settings,
    run: RunRef,
    account: Option<AccountId>,
    evaluated_at: DateTime<Utc>,
) -> Result<ListUsersOutput, ListUsersError> {
    // The adapter lives across warm invocations: count only this invocation's calls.
    let calls_before = iam.api_calls();

    let names: Vec<String> = iam.list_users().await?.into_iter().map(|u| u.name).collect();
    let mut report_unavailable = None;
    let (screened, report) = match settings.screening {
        Screening::CredentialReport => match iam.credential_report().await {
            Ok(report) => {
                let parsed = ParsedReport::from_bytes(&report.csv)?;
                let screened =
                    screening::screen(&parsed.rows, &parsed.unreadable, &names, &settings.policy, evaluated_at);
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
        account_id: account,
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
        account = listing.account_id.as_ref().map(AccountId::as_str),
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
