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
use crate::org::{AccountFailure, AccountId, UnmatchedEntry, Unswept};
use crate::policy::Evaluation;
use crate::recheck::SkipReason;

/// The version of the report's JSON shape; bumped on any incompatible change. A field added with a
/// default and left out when empty (`unreadable_report_rows`, `report_unavailable`) is not one: reports written before it
/// read as before, and a keyward built before it reads a report holding it and ignores the field
/// (the report does not deny unknown fields).
///
/// Version 2 names every key by account, user and key id: each record that names a key (the plan,
/// warnings, inactive keys, the decision's `approved`, `actions`) has `account_id` beside
/// `user_name` and `access_key_id`. Version 1 had the last two only.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// What changed since each older version, for the error refusing a report of that version.
fn changed_since(version: u32) -> &'static str {
    match version {
        1 => {
            "; version 2 names every key by account_id, user_name and access_key_id (version 1 had no \
             account_id), so a run started before the upgrade cannot be finished by this version: start a new run"
        }
        _ => "",
    }
}

/// The one field read before the rest, so that an older report is refused for its version and not
/// for a field it lacks.
#[derive(Deserialize)]
struct Version {
    schema_version: u32,
}

/// The audit record of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The Step Functions execution name.
    pub execution_name: String,
    /// The AWS account swept (from the execution's ARN), when known: absent when list-users was
    /// invoked without an execution ARN (by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
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
    /// Which accounts of the organisation the run swept, skipped and failed to sweep
    /// (`KEYWARD_SCOPE=organization`); absent in account scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// Which of the organisation's accounts a run covered: every discovered account is in exactly one
/// of `swept`, `skipped` and `failed`, so the report is never silently partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Accounts Organizations listed.
    pub discovered: usize,
    /// Accounts swept, by id.
    pub swept: Vec<SweptAccount>,
    /// Accounts not swept by configuration or state (`ORG_EXCLUDE`, `ORG_INCLUDE`, not `ACTIVE`).
    pub skipped: Vec<Unswept>,
    /// Accounts selected whose sweep failed, each with the reason and the fix: the run ends
    /// `AccountsNotSwept` when there is any.
    pub failed: Vec<FailedAccount>,
    /// `ORG_INCLUDE` / `ORG_EXCLUDE` entries that named no discovered account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<UnmatchedEntry>,
}

impl Coverage {
    /// Whether every selected account was swept.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
    /// Whether `account` was swept this run.
    pub fn swept(&self, account: &AccountId) -> bool {
        self.swept.iter().any(|a| &a.account_id == account)
    }
    /// The name of `account` as discovery found it, if it was discovered.
    pub fn name_of(&self, account: &AccountId) -> Option<&str> {
        self.swept
            .iter()
            .map(|a| (&a.account_id, a.name.as_str()))
            .chain(self.failed.iter().map(|a| (&a.failure.account_id, a.name.as_str())))
            .chain(self.skipped.iter().map(|a| (&a.account.id, a.account.name.as_str())))
            .find(|(id, _)| *id == account)
            .map(|(_, name)| name)
    }
}

/// An account the run swept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweptAccount {
    /// The account.
    pub account_id: AccountId,
    /// Its name in the organisation.
    pub name: String,
    /// Users listed there.
    pub users_listed: usize,
    /// Users checked live there.
    pub users_checked: usize,
    /// Candidates there that could not be evaluated (a batch that kept failing).
    pub users_not_evaluated: usize,
}

/// An account selected for the sweep whose sweep failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAccount {
    /// Its name in the organisation.
    pub name: String,
    /// What failed and what to do.
    pub failure: AccountFailure,
}

/// What happened to one approved key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The key (and its user and account).
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
    /// another execution's report. The error says what is wrong (for `RunStateInvalid`), and for
    /// an older version what changed since.
    pub fn parse_for(bytes: &[u8], execution_name: &str) -> Result<RunReport, String> {
        let not_a_report = |e: serde_json::Error| format!("is not a run report: {e}");
        let Version { schema_version } = serde_json::from_slice(bytes).map_err(not_a_report)?;
        if schema_version != REPORT_SCHEMA_VERSION {
            return Err(format!(
                "has schema version {schema_version}, this version of keyward reads {REPORT_SCHEMA_VERSION}{}",
                changed_since(schema_version)
            ));
        }
        let report: RunReport = serde_json::from_slice(bytes).map_err(not_a_report)?;
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
    fn a_version_1_report_is_refused_saying_what_version_2_changed() {
        // A version 1 plan key has no account_id: refused for its version, not for the missing field.
        let v1 = br#"{"schema_version":1,"execution_name":"x","evaluation":{"plan":{"keys":[{"user_name":"alice","access_key_id":"AKIA1"}]}}}"#;
        let err = RunReport::parse_for(v1, "x").unwrap_err();
        assert!(err.starts_with("has schema version 1, this version of keyward reads 2"), "{err}");
        assert!(err.contains("account_id") && err.contains("start a new run"), "{err}");
        let v3 = br#"{"schema_version":3,"execution_name":"x"}"#;
        assert_eq!(RunReport::parse_for(v3, "x").unwrap_err(), "has schema version 3, this version of keyward reads 2");
        assert!(RunReport::parse_for(b"[]", "x").unwrap_err().starts_with("is not a run report"));
    }

    #[test]
    fn not_yet_visible_is_its_own_kebab_case_kind() {
        let json = serde_json::to_value(ActionOutcome::DeactivatedNotYetVisible).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "deactivated-not-yet-visible"}));
        assert_eq!(serde_json::from_value::<ActionOutcome>(json).unwrap(), ActionOutcome::DeactivatedNotYetVisible);
    }
}
