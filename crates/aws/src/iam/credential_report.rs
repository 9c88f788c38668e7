//! The credential report through IAM: GenerateCredentialReport, then GetCredentialReport, polled
//! with a bounded, doubling wait ([`ReportWait`]) until IAM has it ready. A report generated too
//! recently (`LimitExceeded`) is read as it is; an expired or missing one is regenerated once.
//! Anything else, or no report within the wait, is `PortError::ReportUnavailable` or the request's
//! error: never an empty report.

use std::time::Duration;

use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::types::{ReportFormatType, ReportStateType};
use chrono::DateTime;
use keyward_core::ports::{CredentialReport, PortError};
use tokio::time::Instant;

use super::IamAdapter;
use super::call_error::CallError;

/// GenerateCredentialReport: a report was generated too recently or is being generated.
const LIMIT_EXCEEDED: &str = "LimitExceeded";
const REPORT_IN_PROGRESS: &str = "ReportInProgress";
const REPORT_EXPIRED: &str = "ReportExpired";
const REPORT_NOT_PRESENT: &str = "ReportNotPresent";

/// How long [`IamAdapter::credential_report`](keyward_core::ports::Iam::credential_report) waits
/// for IAM to finish a report, and how often it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWait {
    /// Give up with `PortError::ReportUnavailable` once this much time has passed.
    pub max_wait: Duration,
    /// The first pause between two polls; each pause doubles the next one.
    pub first_poll: Duration,
    /// The longest pause between two polls.
    pub max_poll: Duration,
}

impl Default for ReportWait {
    /// At most 60 s, polling after 1 s, 2 s, 4 s, then every 8 s.
    fn default() -> Self {
        ReportWait {
            max_wait: Duration::from_secs(60),
            first_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(8),
        }
    }
}

impl IamAdapter {
    /// Generates the report (or finds it generated) and reads it, waiting as `report_wait` says.
    pub(super) async fn generate_and_read_report(&self) -> Result<CredentialReport, PortError> {
        let mut poll = Poll::new(self.report_wait);
        let mut generate = true;
        let mut regenerated = false;
        loop {
            if generate {
                match self.generate_report().await {
                    Ok(Some(ReportStateType::Complete)) => generate = false,
                    Ok(state) => {
                        let state = state.as_ref().map_or("unknown", ReportStateType::as_str).to_owned();
                        tracing::info!(state = %state, "credential report not ready yet");
                        poll.pause(&format!("IAM was still generating the report (state {state})")).await?;
                    }
                    // Generated too recently or being generated elsewhere: wait, then read it.
                    Err(err) if err.has_code(LIMIT_EXCEEDED) => {
                        tracing::info!(code = LIMIT_EXCEEDED, "credential report generation refused; reading it");
                        poll.pause("IAM refused to generate the report (LimitExceeded)").await?;
                        generate = false;
                    }
                    Err(err) => return Err(err.into()),
                }
            } else {
                match self.fetch_report().await {
                    Ok(output) => return report_content(output),
                    Err(err) if err.has_code(REPORT_IN_PROGRESS) => {
                        tracing::info!(code = REPORT_IN_PROGRESS, "credential report not ready yet");
                        poll.pause("the report was still in progress").await?;
                    }
                    Err(err) if err.has_code(REPORT_EXPIRED) || err.has_code(REPORT_NOT_PRESENT) => {
                        let code = err.code.as_deref().unwrap_or_default();
                        if regenerated {
                            return Err(PortError::ReportUnavailable {
                                reason: format!("GetCredentialReport said {code} after the report was regenerated"),
                            });
                        }
                        tracing::info!(code, "regenerating the credential report");
                        regenerated = true;
                        generate = true;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }

    async fn generate_report(&self) -> Result<Option<ReportStateType>, CallError> {
        let output = self.send("GenerateCredentialReport", self.client.generate_credential_report().send()).await?;
        Ok(output.state)
    }

    async fn fetch_report(&self) -> Result<GetCredentialReportOutput, CallError> {
        self.send("GetCredentialReport", self.client.get_credential_report().send()).await
    }
}

/// The report's CSV and generation time; a report in another format, or without content, is
/// unavailable.
fn report_content(output: GetCredentialReportOutput) -> Result<CredentialReport, PortError> {
    match &output.report_format {
        Some(ReportFormatType::TextCsv) => {}
        Some(other) => {
            return Err(PortError::ReportUnavailable {
                reason: format!("IAM returned the report as {}, not text/csv", other.as_str()),
            });
        }
        None => return Err(PortError::ReportUnavailable { reason: "IAM returned the report without a format".into() }),
    }
    // A GeneratedTime keyward cannot read is as good as none: the facts are then not used.
    let generated_at = output.generated_time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
    let csv = output
        .content
        .map(aws_smithy_types::Blob::into_inner)
        .ok_or_else(|| PortError::ReportUnavailable { reason: "IAM returned the report without content".into() })?;
    Ok(CredentialReport { csv, generated_at })
}

/// The bounded wait of one `credential_report` call.
struct Poll {
    deadline: Instant,
    max_wait: Duration,
    next: Duration,
    max_poll: Duration,
}

impl Poll {
    fn new(wait: ReportWait) -> Poll {
        Poll {
            deadline: Instant::now() + wait.max_wait,
            max_wait: wait.max_wait,
            next: wait.first_poll,
            max_poll: wait.max_poll,
        }
    }

    /// Sleeps before the next poll, never past the deadline; at the deadline, gives up saying why.
    async fn pause(&mut self, still: &str) -> Result<(), PortError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(PortError::ReportUnavailable {
                reason: format!("{still} after waiting {} s", self.max_wait.as_secs()),
            });
        }
        tokio::time::sleep(self.next.min(remaining)).await;
        self.next = self.next.saturating_mul(2).min(self.max_poll);
        Ok(())
    }
}
