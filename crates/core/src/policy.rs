//! The policy (README, "The policy") as a pure function of (users, configuration, evaluation time): which
//! rules fire on which user or key, which keys are proposed for deactivation, what is only a
//! warning, who is exempt, and whether the plan may act at all (mode and blast-radius cap).
//!
//! Thresholds are in whole days, rounded down: with `MAX_KEY_AGE_DAYS=90` a key fires on its 91st
//! day (90 days and 23 hours is still 90 days). A warning is raised in the `WARN_DAYS` days before a
//! rule would fire.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{MfaScope, Mode, NoMfaAction, PolicyConfig};
use crate::exemption::{ExemptionProblem, ExemptionSource, exemption_for};
use crate::model::{AccessKey, KeyRef, KeyStatus, KeyUse, Provenance, User, whole_days};
use crate::org::AccountId;

/// A rule of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The user has no MFA device (in the configured scope).
    NoMfa,
    /// An active key is older than `MAX_KEY_AGE_DAYS`.
    KeyTooOld,
    /// An active key has not been used for `UNUSED_KEY_DAYS` (a never-used key counts from creation).
    KeyUnused,
}

impl Rule {
    /// The rule's name as written in reports and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NoMfa => "no-mfa",
            Rule::KeyTooOld => "key-too-old",
            Rule::KeyUnused => "key-unused",
        }
    }
}

/// What a finding proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proposal {
    /// Deactivate the key(s) the finding names (subject to mode, cap and approval).
    Deactivate,
    /// Report only.
    Report,
}

/// A rule that fired, on a user (`no-mfa`) or on exactly one access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The account the user is in.
    pub account_id: AccountId,
    /// The user.
    pub user_name: String,
    /// The key, for key rules; `None` for `no-mfa`.
    pub access_key_id: Option<String>,
    /// What the finding proposes.
    pub proposal: Proposal,
    /// The facts behind it.
    pub evidence: Evidence,
}

/// The facts behind a finding, a warning or a planned deactivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Whole days since the key was created.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_age_days: Option<i64>,
    /// Whole days since the key was last used (since creation when never used).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idle_days: Option<i64>,
    /// The key's last use; `None` with `key_age_days` set means never used.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used: Option<KeyUse>,
    /// Where `last_used` (and so `idle_days`) came from, when not read live: the credential report.
    #[serde(skip_serializing_if = "Provenance::is_live", default)]
    pub last_used_source: Provenance,
    /// Whether the user has a console password.
    pub has_console_password: bool,
    /// Where `has_console_password` came from, when not read live: the credential report.
    #[serde(skip_serializing_if = "Provenance::is_live", default)]
    pub console_password_source: Provenance,
    /// How many MFA devices the user has.
    pub mfa_devices: usize,
    /// One line for humans, e.g. `key created 120 days ago (limit 90)`.
    pub summary: String,
}

/// A key close to a limit: reported, never acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The rule that will fire.
    pub rule: Rule,
    /// The key (and its user).
    #[serde(flatten)]
    pub key: KeyRef,
    /// Days until the rule fires (1 = tomorrow).
    pub days_left: i64,
    /// The facts behind it.
    pub evidence: Evidence,
}

/// An exemption this run honoured (why: an [`ExemptionSource`] of [`crate::exemption`]), and what it
/// held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    /// The account the user is in (from the user's ARN), so an organisation's digest names it.
    /// Absent only in a report written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    /// The exempt user.
    pub user_name: String,
    /// Why they are exempt.
    pub source: ExemptionSource,
    /// The rules that would have fired without the exemption.
    pub suppressed: Vec<Rule>,
}

/// An inactive key: reported, never touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveKey {
    /// The key (and its user).
    #[serde(flatten)]
    pub key: KeyRef,
    /// Whole days since creation.
    pub key_age_days: i64,
}

/// One key the plan proposes to deactivate: exactly one `AccessKeyId` of exactly one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDeactivation {
    /// The key (and its user).
    #[serde(flatten)]
    pub key: KeyRef,
    /// Every rule that proposes it, sorted.
    pub rules: Vec<Rule>,
    /// The facts behind it.
    pub evidence: Evidence,
}

/// Whether the plan may act, and if not, why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PlanStatus {
    /// Nothing to deactivate.
    Empty,
    /// `KEYWARD_MODE=report`: the plan is reported, nothing acts.
    ReportOnly,
    /// The plan holds more keys than `MAX_DEACTIVATIONS_PER_RUN`: nothing acts in this run.
    CapExceeded { planned: usize, cap: u32 },
    /// The plan holds more keys in one account (`account_id`, the first such account in order)
    /// than `MAX_DEACTIVATIONS_PER_ACCOUNT`: nothing acts in this run, in any account.
    AccountCapExceeded { account_id: AccountId, planned: usize, cap: u32 },
    /// `KEYWARD_MODE=approve`: acts only on the keys a human approves.
    AwaitingApproval,
    /// `KEYWARD_MODE=auto`: acts without approval (still re-checked live).
    Automatic,
}

/// The keys to deactivate, sorted by user then key, and whether they may be acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Every key the policy proposes, whether or not it may act.
    pub keys: Vec<PlannedDeactivation>,
    /// What may happen to them.
    pub status: PlanStatus,
}

impl Plan {
    /// The keys this run may act on: empty unless the status is `AwaitingApproval` or `Automatic`.
    pub fn actionable(&self) -> &[PlannedDeactivation] {
        match self.status {
            PlanStatus::AwaitingApproval | PlanStatus::Automatic => &self.keys,
            PlanStatus::Empty
            | PlanStatus::ReportOnly
            | PlanStatus::CapExceeded { .. }
            | PlanStatus::AccountCapExceeded { .. } => &[],
        }
    }

    /// Whether this plan names the key of that user.
    pub fn contains(&self, user_name: &str, access_key_id: &str) -> bool {
        self.keys.iter().any(|k| k.key.user_name == user_name && k.key.access_key_id == access_key_id)
    }
}

/// Everything the policy concluded about a set of users at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The instant the rules were evaluated at (the execution's start time).
    pub evaluated_at: DateTime<Utc>,
    /// Rules that fired, sorted by user, key, rule.
    pub findings: Vec<Finding>,
    /// Keys close to a limit.
    pub warnings: Vec<Warning>,
    /// Exemptions honoured.
    pub exemptions: Vec<Exemption>,
    /// Exemption tags that did not exempt (`keyward:exempt-until`, `keyward:exempt-reason`, and the
    /// old `keyward:exempt`).
    pub exemption_problems: Vec<ExemptionProblem>,
    /// Inactive keys (reported, never touched).
    pub inactive_keys: Vec<InactiveKey>,
    /// The plan.
    pub plan: Plan,
}

/// Evaluates the policy on `users` at `now`. Pure and deterministic: the result does not depend on
/// the order of `users` or of their keys.
pub fn evaluate(users: &[User], config: &PolicyConfig, now: DateTime<Utc>) -> Evaluation {
    let mut sorted: Vec<&User> = users.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.arn.cmp(&b.arn)));

    let mut eval = Evaluation {
        evaluated_at: now,
        findings: Vec::new(),
        warnings: Vec::new(),
        exemptions: Vec::new(),
        exemption_problems: Vec::new(),
        inactive_keys: Vec::new(),
        plan: Plan { keys: Vec::new(), status: PlanStatus::Empty },
    };
    let mut planned: BTreeMap<(String, String), PlannedDeactivation> = BTreeMap::new();

    for user in sorted {
        let (exemption, problems) = exemption_for(user, config, now);
        eval.exemption_problems.extend(problems);
        let judged = judge_user(user, config, now);
        eval.inactive_keys.extend(judged.inactive_keys);
        if let Some(source) = exemption {
            let mut suppressed: Vec<Rule> = judged.findings.iter().map(|f| f.rule).collect();
            suppressed.sort();
            suppressed.dedup();
            eval.exemptions.push(Exemption {
                account_id: Some(user.arn.account().clone()),
                user_name: user.name.clone(),
                source,
                suppressed,
            });
            continue;
        }
        for finding in &judged.findings {
            if finding.proposal != Proposal::Deactivate {
                continue;
            }
            let keys: Vec<&AccessKey> = match &finding.access_key_id {
                Some(id) => user.active_keys().filter(|k| &k.id == id).collect(),
                None => user.active_keys().collect(),
            };
            for key in keys {
                let entry = planned.entry((user.name.clone(), key.id.clone())).or_insert_with(|| PlannedDeactivation {
                    key: KeyRef::of(user, key),
                    rules: Vec::new(),
                    evidence: key_evidence(user, key, now, String::new()),
                });
                entry.rules.push(finding.rule);
            }
        }
        eval.findings.extend(judged.findings);
        eval.warnings.extend(judged.warnings);
    }

    let mut keys: Vec<PlannedDeactivation> = planned.into_values().collect();
    for key in &mut keys {
        key.rules.sort();
        key.rules.dedup();
        key.evidence.summary = key.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
    }
    eval.plan = Plan { status: plan_status(&keys, config), keys };
    eval
}

fn plan_status(keys: &[PlannedDeactivation], config: &PolicyConfig) -> PlanStatus {
    let planned = keys.len();
    let cap = config.max_deactivations_per_run;
    if planned == 0 {
        PlanStatus::Empty
    } else if config.mode == Mode::ReportOnly {
        PlanStatus::ReportOnly
    } else if planned > cap as usize {
        PlanStatus::CapExceeded { planned, cap }
    } else if let Some((account_id, planned)) = over_account_cap(keys.iter().map(|k| &k.key), config) {
        PlanStatus::AccountCapExceeded { account_id, planned, cap: config.max_deactivations_per_account }
    } else if config.mode == Mode::Auto {
        PlanStatus::Automatic
    } else {
        PlanStatus::AwaitingApproval
    }
}

/// The first account, in account order, in which `keys` hold more than
/// `MAX_DEACTIVATIONS_PER_ACCOUNT`, with its count: the plan's status and deactivate's hold on an
/// approved set both come from here, so the two can never count differently.
pub fn over_account_cap<'k>(
    keys: impl IntoIterator<Item = &'k KeyRef>,
    config: &PolicyConfig,
) -> Option<(AccountId, usize)> {
    let mut per_account: BTreeMap<&AccountId, usize> = BTreeMap::new();
    for key in keys {
        *per_account.entry(&key.account_id).or_default() += 1;
    }
    let cap = config.max_deactivations_per_account as usize;
    per_account.into_iter().find(|(_, n)| *n > cap).map(|(account, n)| (account.clone(), n))
}

/// The rules that fire on one user, regardless of exemptions.
struct Judged {
    findings: Vec<Finding>,
    warnings: Vec<Warning>,
    inactive_keys: Vec<InactiveKey>,
}

fn judge_user(user: &User, config: &PolicyConfig, now: DateTime<Utc>) -> Judged {
    let mut judged = Judged { findings: Vec::new(), warnings: Vec::new(), inactive_keys: Vec::new() };
    let in_mfa_scope = match config.mfa_scope {
        MfaScope::Console => user.has_console_password,
        MfaScope::All => true,
    };
    if in_mfa_scope && !user.has_mfa() {
        let proposal = match config.no_mfa_action {
            NoMfaAction::DeactivateKeys if user.active_keys().next().is_some() => Proposal::Deactivate,
            NoMfaAction::DeactivateKeys | NoMfaAction::Warn => Proposal::Report,
        };
        let scope = if user.has_console_password { "console password" } else { "programmatic access only" };
        let scope = format!("{scope}{}", user.console_password_source.as_of_suffix());
        judged.findings.push(Finding {
            rule: Rule::NoMfa,
            account_id: user.arn.account().clone(),
            user_name: user.name.clone(),
            access_key_id: None,
            proposal,
            evidence: Evidence {
                key_age_days: None,
                idle_days: None,
                last_used: None,
                last_used_source: Provenance::Live,
                has_console_password: user.has_console_password,
                console_password_source: user.console_password_source,
                mfa_devices: 0,
                summary: format!("no MFA device ({scope}); {} active key(s)", user.active_keys().count()),
            },
        });
    }

    let mut keys: Vec<&AccessKey> = user.access_keys.iter().collect();
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    for key in keys {
        let age = whole_days(key.created, now);
        if key.status == KeyStatus::Inactive {
            judged.inactive_keys.push(InactiveKey { key: KeyRef::of(user, key), key_age_days: age });
            continue;
        }
        let idle = whole_days(key.last_activity(), now);
        let checks = [
            (Rule::KeyTooOld, age, config.max_key_age_days, format!("created {age} days ago")),
            (Rule::KeyUnused, idle, config.unused_key_days, idle_phrase(key, idle)),
        ];
        for (rule, days, limit, what) in checks {
            let limit = i64::from(limit);
            if days > limit {
                judged.findings.push(Finding {
                    rule,
                    account_id: user.arn.account().clone(),
                    user_name: user.name.clone(),
                    access_key_id: Some(key.id.clone()),
                    proposal: Proposal::Deactivate,
                    evidence: key_evidence(user, key, now, format!("{what} (limit {limit})")),
                });
            } else {
                let days_left = limit + 1 - days;
                if days_left <= i64::from(config.warn_days) {
                    judged.warnings.push(Warning {
                        rule,
                        key: KeyRef::of(user, key),
                        days_left,
                        evidence: key_evidence(
                            user,
                            key,
                            now,
                            format!("{what}; {rule} in {days_left} day(s)", rule = rule.as_str()),
                        ),
                    });
                }
            }
        }
    }
    judged
}

fn idle_phrase(key: &AccessKey, idle: i64) -> String {
    let as_of = key.last_used_source.as_of_suffix();
    match &key.last_used {
        None => format!("never used{as_of}, created {idle} days ago"),
        Some(_) => format!("last used {idle} days ago{as_of}"),
    }
}

fn key_evidence(user: &User, key: &AccessKey, now: DateTime<Utc>, summary: String) -> Evidence {
    Evidence {
        key_age_days: Some(whole_days(key.created, now)),
        idle_days: Some(whole_days(key.last_activity(), now)),
        last_used: key.last_used.clone(),
        last_used_source: key.last_used_source,
        has_console_password: user.has_console_password,
        console_password_source: user.console_password_source,
        mfa_devices: user.mfa_devices.len(),
        summary,
    }
}
