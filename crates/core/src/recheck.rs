//! The live re-check before a deactivation: a key approved hours ago is acted on only if, read live
//! now, it still belongs to that user, is still active, the user is not exempt, and the policy still
//! proposes it ([`recheck`], against the run's policy). Before that, [`InForce`] holds it to what is
//! in force when deactivate acts, whatever the plan says: the mode now (a kill switch that works
//! mid-flight), `PROTECTED_USERS` and `EXEMPT_USERS` and the exemption tags read with the current
//! configuration, and never the access key deactivate is itself running with. Anything else is a
//! skip with its reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Mode, PolicyConfig};
use crate::exemption::{exemption_for, protected_by};
use crate::model::{KeyRef, KeyStatus, User};
use crate::org::AccountId;
use crate::policy::{PlanStatus, PlannedDeactivation, evaluate};

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
    /// More keys of one account (`account_id`) were approved than `MAX_DEACTIVATIONS_PER_ACCOUNT`
    /// allows: nothing was acted on, in any account.
    AccountCapExceeded { account_id: AccountId, approved: usize, cap: u32 },
    /// `KEYWARD_MODE` in force when deactivate acted no longer allows the run's plan (`report`, or
    /// `approve` for a plan made automatic): nothing was acted on.
    ModeChanged { mode: Mode },
    /// `PROTECTED_USERS` in force names the user or a path prefix of theirs (`entry`).
    Protected { entry: String },
    /// The key is the one deactivate itself runs with.
    OwnKey,
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
                format!(
                    "{approved} keys approved, over the cap of {cap} (MAX_DEACTIVATIONS_PER_RUN): nothing deactivated"
                )
            }
            SkipReason::AccountCapExceeded { account_id, approved, cap } => format!(
                "{approved} keys approved in account {account_id}, over the cap of {cap} per account \
                 (MAX_DEACTIVATIONS_PER_ACCOUNT): nothing deactivated"
            ),
            SkipReason::ModeChanged { mode } => {
                let mode = match mode {
                    Mode::ReportOnly => "report",
                    Mode::Approve => "approve",
                    Mode::Auto => "auto",
                };
                format!("KEYWARD_MODE is {mode} now: nothing deactivated")
            }
            SkipReason::Protected { entry } => format!("protected (PROTECTED_USERS lists {entry})"),
            SkipReason::OwnKey => "the key keyward itself runs with: never deactivated".to_owned(),
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

/// What is in force when deactivate acts, read at its init: the current policy configuration and
/// the access key id of its own credentials (none when they carry no IAM user's key).
#[derive(Debug, Clone, Copy)]
pub struct InForce<'a> {
    /// The policy configuration in force now (not the run's).
    pub config: &'a PolicyConfig,
    /// The access key id deactivate's own credentials use.
    pub own_access_key_id: Option<&'a str>,
}

impl InForce<'_> {
    /// Checks before any IAM call whether `key` of a plan in `status` may be acted on at all:
    /// the mode now, deactivate's own key, and a protected user name.
    pub fn allows(&self, key: &KeyRef, status: &PlanStatus) -> Result<(), SkipReason> {
        let mode = self.config.mode;
        if mode == Mode::ReportOnly || (*status == PlanStatus::Automatic && mode != Mode::Auto) {
            return Err(SkipReason::ModeChanged { mode });
        }
        if self.own_access_key_id == Some(key.access_key_id.as_str()) {
            return Err(SkipReason::OwnKey);
        }
        // The path is not known before the live read; `allows_user` checks path prefixes.
        match protected_by(&key.account_id, &key.user_name, "", self.config) {
            Some(entry) => Err(SkipReason::Protected { entry }),
            None => Ok(()),
        }
    }

    /// Checks the user as read live at `now` against the configuration in force: protected by a
    /// path prefix, or exempt now (`EXEMPT_USERS`, or a tag within the current
    /// `MAX_EXEMPTION_DAYS`).
    pub fn allows_user(&self, user: &User, now: DateTime<Utc>) -> Result<(), SkipReason> {
        if let Some(entry) = protected_by(user.arn.account(), &user.name, &user.path, self.config) {
            return Err(SkipReason::Protected { entry });
        }
        match exemption_for(user, self.config, now).0 {
            Some(_) => Err(SkipReason::Exempted),
            None => Ok(()),
        }
    }
}
