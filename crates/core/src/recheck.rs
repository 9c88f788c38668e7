//! The live re-check before a deactivation: a key approved hours ago is acted on only if, read live
//! now, it still belongs to that user, is still active, the user is not exempt, and the policy still
//! proposes it. Anything else is a skip with its reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::PolicyConfig;
use crate::model::{KeyStatus, User};
use crate::policy::{PlannedDeactivation, evaluate};

/// Why an approved key was not deactivated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum SkipReason {
    /// The user no longer exists.
    UserDeleted,
    /// The key no longer exists (deleted, or rotated away).
    KeyDeleted,
    /// Someone deactivated the key already.
    AlreadyInactive,
    /// The user became exempt since the plan was made.
    Exempted,
    /// The key no longer violates any rule that proposes deactivation (used, MFA enabled, …).
    NoLongerViolates { detail: String },
    /// More keys were approved than `MAX_DEACTIVATIONS_PER_RUN` allows: nothing was acted on.
    CapExceeded { approved: usize, cap: u32 },
}

impl SkipReason {
    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            SkipReason::UserDeleted => "the user no longer exists".to_owned(),
            SkipReason::KeyDeleted => "the key no longer exists".to_owned(),
            SkipReason::AlreadyInactive => "the key is already inactive".to_owned(),
            SkipReason::Exempted => "the user is exempt now".to_owned(),
            SkipReason::NoLongerViolates { detail } => format!("no longer violates: {detail}"),
            SkipReason::CapExceeded { approved, cap } => {
                format!("{approved} keys approved, over the cap of {cap}: nothing deactivated")
            }
        }
    }
}

/// Re-checks one planned key against the user as read live at `now`. `Ok` means: deactivate it.
pub fn recheck(
    planned: &PlannedDeactivation,
    live: Option<&User>,
    config: &PolicyConfig,
    now: DateTime<Utc>,
) -> Result<(), SkipReason> {
    let Some(user) = live else { return Err(SkipReason::UserDeleted) };
    let Some(key) = user.access_keys.iter().find(|k| k.id == planned.key.access_key_id) else {
        return Err(SkipReason::KeyDeleted);
    };
    if key.status == KeyStatus::Inactive {
        return Err(SkipReason::AlreadyInactive);
    }
    let now_eval = evaluate(std::slice::from_ref(user), config, now);
    if now_eval.exemptions.iter().any(|e| e.user_name == user.name) {
        return Err(SkipReason::Exempted);
    }
    if now_eval.plan.contains(&user.name, &key.id) {
        Ok(())
    } else {
        let detail = match (user.has_mfa(), &key.last_used) {
            (true, _) if planned.rules.contains(&crate::policy::Rule::NoMfa) => "the user has MFA now".to_owned(),
            (_, Some(u)) => format!("the key was used at {}", u.at.format("%Y-%m-%d %H:%M UTC")),
            _ => "no rule proposes it any more".to_owned(),
        };
        Err(SkipReason::NoLongerViolates { detail })
    }
}
