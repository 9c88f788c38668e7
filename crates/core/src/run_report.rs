//! The run report (`runs/<execution-name>/report.json`): the audit record of one run. Evaluation
//! time, configuration, every finding with its evidence, exemptions, the plan, the decision, every
//! action with its result, and the API calls made.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{PolicyConfig, Screening};
use crate::credential_report::UnreadableRow;
use crate::decision::Decision;
use crate::model::KeyRef;
use crate::policy::Evaluation;
use crate::recheck::SkipReason;

/// The version of the report's JSON shape; bumped on any incompatible change. A field added with a
/// default and left out when empty (`unreadable_report_rows`, `report_unavailable`) is not one: reports written before it
/// read as before, and a keyward built before it reads a report holding it and ignores the field
/// (the report does not deny unknown fields).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The audit record of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The Step Functions execution name.
    pub execution_name: String,
    /// The AWS account swept (from the list-users function's own ARN), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The policy settings in force.
    pub config: PolicyConfig,
    /// How users were screened.
    pub screening: Screening,
    /// Users listed by ListUsers.
    pub users_listed: usize,
    /// Users checked live (the candidates).
    pub users_checked: usize,
    /// Users deleted between listing and the live check.
    pub users_gone: Vec<String>,
    /// Candidates that could not be evaluated (a batch that kept failing): nothing acts on them.
    pub users_not_evaluated: Vec<String>,
    /// The credential report's rows that could not be read (line, user when known, why), as
    /// list-users found them; their users were checked live. Absent when every row was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_report_rows: Vec<UnreadableRow>,
    /// Why the credential report could not be used (`SCREENING=report`, but IAM did not have it
    /// ready within the bounded wait), as list-users found it: every user was checked live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_unavailable: Option<String>,
    /// What the policy concluded; `evaluation.evaluated_at` is the evaluation time.
    pub evaluation: Evaluation,
    /// The approver's decision, once made.
    #[serde(default)]
    pub decision: Option<Decision>,
    /// What happened to each approved key.
    #[serde(default)]
    pub actions: Vec<ActionRecord>,
    /// AWS API calls made by this run, by `service:Operation`.
    #[serde(default)]
    pub api_calls: BTreeMap<String, u64>,
}

/// What happened to one approved key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The key (and its user).
    #[serde(flatten)]
    pub key: KeyRef,
    /// When.
    pub at: DateTime<Utc>,
    /// The result.
    pub outcome: ActionOutcome,
}

/// The result of acting on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ActionOutcome {
    /// `UpdateAccessKey Inactive` succeeded and the key reads back `Inactive`.
    Deactivated,
    /// `UpdateAccessKey Inactive` succeeded, but every read-back within deactivate's bounded wait
    /// still showed the key `Active`. IAM is eventually consistent, so this is most likely a change
    /// not yet visible, not a failure; the key is to be checked again shortly (the outcome message
    /// says so).
    DeactivatedNotYetVisible,
    /// Not acted on, for this reason.
    Skipped { reason: SkipReason },
    /// The call failed or the key did not read back `Inactive`.
    Failed { error: String },
}

impl RunReport {
    /// Parses the stored report of execution `execution_name`, refusing another schema version or
    /// another execution's report. The error says what is wrong (for `RunStateInvalid`).
    pub fn parse_for(bytes: &[u8], execution_name: &str) -> Result<RunReport, String> {
        let report: RunReport = serde_json::from_slice(bytes).map_err(|e| format!("is not a run report: {e}"))?;
        if report.schema_version != REPORT_SCHEMA_VERSION {
            return Err(format!(
                "has schema version {}, this version of keyward reads {REPORT_SCHEMA_VERSION}",
                report.schema_version
            ));
        }
        if report.execution_name != execution_name {
            return Err(format!("belongs to execution {:?}", report.execution_name));
        }
        Ok(report)
    }

    /// Adds `calls` to the report's API-call counts.
    pub fn add_api_calls(&mut self, calls: &ApiCalls) {
        add_calls(&mut self.api_calls, calls);
    }

    /// Counts of the report's actions by outcome.
    pub fn action_counts(&self) -> ActionCounts {
        let mut counts = ActionCounts::default();
        for action in &self.actions {
            match action.outcome {
                ActionOutcome::Deactivated => counts.deactivated += 1,
                ActionOutcome::DeactivatedNotYetVisible => counts.not_yet_visible += 1,
                ActionOutcome::Skipped { .. } => counts.skipped += 1,
                ActionOutcome::Failed { .. } => counts.failed += 1,
            }
        }
        counts
    }

    /// The report's evaluation time.
    pub fn evaluated_at(&self) -> DateTime<Utc> {
        self.evaluation.evaluated_at
    }
}

/// How many actions of a run ended in each [`ActionOutcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionCounts {
    /// [`ActionOutcome::Deactivated`].
    pub deactivated: usize,
    /// [`ActionOutcome::DeactivatedNotYetVisible`]: counted apart from `deactivated`, which IAM
    /// confirmed, and from `failed`, which did not happen.
    pub not_yet_visible: usize,
    /// [`ActionOutcome::Skipped`].
    pub skipped: usize,
    /// [`ActionOutcome::Failed`].
    pub failed: usize,
}

/// API-call counts by `service:Operation`.
pub type ApiCalls = BTreeMap<String, u64>;

/// Adds `calls` to `total`.
pub fn add_calls(total: &mut ApiCalls, calls: &ApiCalls) {
    for (op, n) in calls {
        *total.entry(op.clone()).or_default() += n;
    }
}

/// The calls made between two readings of a counter that only grows (an adapter that lives across
/// warm invocations): `after - before`, without the operations not called since.
pub fn calls_since(before: &ApiCalls, after: &ApiCalls) -> ApiCalls {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n.saturating_sub(before.get(op).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn not_yet_visible_is_its_own_kebab_case_kind() {
        let json = serde_json::to_value(ActionOutcome::DeactivatedNotYetVisible).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "deactivated-not-yet-visible"}));
        assert_eq!(serde_json::from_value::<ActionOutcome>(json).unwrap(), ActionOutcome::DeactivatedNotYetVisible);
    }
}
