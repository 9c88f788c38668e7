//! The approver's decision and how it turns into the set of keys deactivate may touch. Deny by
//! default: only keys that are both in the stored plan and explicitly approved are acted on, and a
//! decision naming a key outside the plan (or in another account than the one it was planned in)
//! is refused whole.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::KeyRef;
use crate::org::AccountId;
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

/// Why a decision cannot be accepted. Each names the entry as the approver's selection wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// A key that the plan does not hold: forged or stale. Nothing is decided.
    #[error("key {entry} is not in this run's plan")]
    NotInPlan { entry: String },
    /// A planned key id named with another account than the one it was planned in. Nothing is
    /// decided.
    #[error("key {entry} names another account: the plan holds that key id in account {planned_in}")]
    OtherAccount { entry: String, planned_in: AccountId },
    /// An entry that is not `<account_id>:<access_key_id>` (a bare key id, say). Nothing is decided.
    #[error("{entry:?} does not name a key as <12-digit account id>:<access key id>")]
    Malformed { entry: String },
    /// The same key twice.
    #[error("key {0} is named more than once")]
    Duplicate(String),
}

impl Decision {
    /// Builds a decision from the keys an approver ticked, each named `<account_id>:<access_key_id>`
    /// ([`KeyRef::selection`]), refusing the whole selection at the first entry that is malformed,
    /// repeated, or not a planned key of that account. Key ids are unique across users in IAM, so
    /// the plan supplies the owner; the account is matched too, so a key id planned in one account
    /// can never be approved under another.
    pub fn from_approved_ids(
        plan: &Plan,
        approved_ids: &[String],
        decided_by: Approver,
        decided_at: DateTime<Utc>,
    ) -> Result<Decision, DecisionError> {
        let mut seen = BTreeSet::new();
        let mut approved = Vec::with_capacity(approved_ids.len());
        for entry in approved_ids {
            let (account, key_id) = entry
                .split_once(':')
                .and_then(|(account, key_id)| Some((AccountId::parse(account)?, key_id)))
                .filter(|(_, key_id)| !key_id.is_empty())
                .ok_or_else(|| DecisionError::Malformed { entry: entry.clone() })?;
            if !seen.insert((account.clone(), key_id)) {
                return Err(DecisionError::Duplicate(entry.clone()));
            }
            let planned = plan.keys.iter().find(|k| k.key.access_key_id == key_id).map(|k| &k.key);
            match planned {
                Some(key) if key.account_id == account => approved.push(key.clone()),
                Some(key) => {
                    return Err(DecisionError::OtherAccount {
                        entry: entry.clone(),
                        planned_in: key.account_id.clone(),
                    });
                }
                None => return Err(DecisionError::NotInPlan { entry: entry.clone() }),
            }
        }
        approved.sort();
        Ok(Decision { approved, decided_by, decided_at })
    }

    /// The planned keys this decision approves: the intersection of plan and decision, checked
    /// whole (account, user and key), in plan order. A key approved but not in the plan is an error.
    pub fn approved_in<'p>(&self, plan: &'p Plan) -> Result<Vec<&'p PlannedDeactivation>, DecisionError> {
        let mut out = Vec::with_capacity(self.approved.len());
        for k in &self.approved {
            match plan.keys.iter().find(|p| p.key == *k) {
                Some(p) => out.push(p),
                None => {
                    return Err(DecisionError::NotInPlan { entry: k.selection() });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }
}
