//! The approver's decision and how it turns into the set of keys deactivate may touch. Deny by
//! default: only keys that are both in the stored plan and explicitly approved are acted on, and a
//! decision naming a key outside the plan is refused whole.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::KeyRef;
use crate::policy::{Plan, PlannedDeactivation};

/// Who decided. Serialised with a `kind`: `{"kind": "oidc", "issuer", "subject", "email", …}`,
/// `{"kind": "slack", "user_id", "team_id"}`, `{"kind": "link-holder", …}` or
/// `{"kind": "automatic"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Approver {
    /// A person the organisation's OpenID provider signed in (`APPROVER_AUTH=oidc`), listed in
    /// `APPROVERS`: the ID token's issuer and subject, its verified e-mail when it had one, and
    /// where the decision came from.
    Oidc {
        /// The ID token's `iss`.
        issuer: String,
        /// The ID token's `sub`: the person, as the issuer names them for good.
        subject: String,
        /// The ID token's `email`, only when `email_verified` was true.
        email: Option<String>,
        /// The request's source IP.
        source_ip: Option<String>,
        /// The request's `User-Agent`.
        user_agent: Option<String>,
    },
    /// A Slack user on the `SLACK_APPROVER_IDS` allowlist, in the workspace the click came from.
    Slack {
        /// Slack's user id (`U…`).
        user_id: String,
        /// Slack's workspace id (`T…`).
        team_id: String,
    },
    /// Whoever held the approval link (`APPROVER_AUTH=link`), as far as the request tells: not a
    /// verified person.
    LinkHolder { source_ip: Option<String>, user_agent: Option<String> },
    /// `KEYWARD_MODE=auto`: no human decision.
    Automatic,
}

/// A human (or, in auto mode, the configuration) decided which planned keys to deactivate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The keys approved for deactivation; every one is in the plan.
    pub approved: Vec<KeyRef>,
    /// Who decided.
    pub decided_by: Approver,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Why a decision cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// A key id that the plan does not hold: forged or stale. Nothing is decided.
    #[error("key {access_key_id} is not in this run's plan")]
    NotInPlan { access_key_id: String },
    /// The same key twice.
    #[error("key {0} is named more than once")]
    Duplicate(String),
}

impl Decision {
    /// Builds a decision from the key ids an approver ticked, refusing any id the plan does not hold.
    /// Key ids are unique across users in IAM, so the plan supplies the owner.
    pub fn from_approved_ids(
        plan: &Plan,
        approved_ids: &[String],
        decided_by: Approver,
        decided_at: DateTime<Utc>,
    ) -> Result<Decision, DecisionError> {
        let mut seen = BTreeSet::new();
        let mut approved = Vec::with_capacity(approved_ids.len());
        for id in approved_ids {
            if !seen.insert(id.as_str()) {
                return Err(DecisionError::Duplicate(id.clone()));
            }
            let planned = plan
                .keys
                .iter()
                .find(|k| &k.key.access_key_id == id)
                .ok_or_else(|| DecisionError::NotInPlan { access_key_id: id.clone() })?;
            approved.push(planned.key.clone());
        }
        approved.sort();
        Ok(Decision { approved, decided_by, decided_at })
    }

    /// The planned keys this decision approves: the intersection of plan and decision, checked
    /// pairwise (user and key), in plan order. A key approved but not in the plan is an error.
    pub fn approved_in<'p>(&self, plan: &'p Plan) -> Result<Vec<&'p PlannedDeactivation>, DecisionError> {
        let mut out = Vec::with_capacity(self.approved.len());
        for k in &self.approved {
            match plan.keys.iter().find(|p| p.key == *k) {
                Some(p) => out.push(p),
                None => {
                    return Err(DecisionError::NotInPlan { access_key_id: k.access_key_id.clone() });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key.access_key_id == b.key.access_key_id);
        Ok(out)
    }
}
