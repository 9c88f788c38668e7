//! The run report (`runs/<execution-name>/report.json`): the audit record of one run. Evaluation
//! time, configuration, every finding with its evidence, exemptions, the plan, the decision, every
//! action with its result, and the API calls made.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{PolicyConfig, Screening};
use crate::decision::Decision;
use crate::policy::Evaluation;
use crate::recheck::SkipReason;

/// The version of the report's JSON shape; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The audit record of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The Step Functions execution name.
    pub execution_name: String,
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
    /// The user.
    pub user_name: String,
    /// The key.
    pub access_key_id: String,
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
    /// Not acted on, for this reason.
    Skipped { reason: SkipReason },
    /// The call failed or the key did not read back `Inactive`.
    Failed { error: String },
}

impl RunReport {
    /// Adds `calls` to the report's API-call counts.
    pub fn add_api_calls(&mut self, calls: &BTreeMap<String, u64>) {
        for (op, n) in calls {
            *self.api_calls.entry(op.clone()).or_default() += n;
        }
    }

    /// Counts of actions by outcome: (deactivated, skipped, failed).
    pub fn action_counts(&self) -> (usize, usize, usize) {
        self.actions.iter().fold((0, 0, 0), |(d, s, f), a| match a.outcome {
            ActionOutcome::Deactivated => (d + 1, s, f),
            ActionOutcome::Skipped { .. } => (d, s + 1, f),
            ActionOutcome::Failed { .. } => (d, s, f + 1),
        })
    }

    /// The report's evaluation time.
    pub fn evaluated_at(&self) -> DateTime<Utc> {
        self.evaluation.evaluated_at
    }
}
