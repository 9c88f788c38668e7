//! Typed configuration, read once at init from the environment. Every variable has a safe default
//! (except the resource names each function needs), and a bad value is an error that names the
//! variable and the values it accepts. The names are the same in `template.yaml`, in the local stack
//! and here, and so are the values: each template parameter accepts exactly what its variable
//! accepts here (whole numbers in canonical decimal, lists entry by entry), which the contract test
//! `tests/tests/template.rs` proves at every boundary. Settings that are each valid but together
//! cannot be met within a function's Lambda timeout are refused as well ([`budget`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A configuration value that was present but not acceptable, or a required one that was missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is set to a value outside what it accepts.
    #[error("{variable}={value:?} is not valid: expected {expected}")]
    Invalid { variable: &'static str, value: String, expected: &'static str },
    /// A variable this function cannot run without is not set.
    #[error("{variable} is not set: {expected}")]
    Missing { variable: &'static str, expected: &'static str },
    /// Each setting is valid, but together they ask `function` for more IAM calls than its share of
    /// `IAM_MAX_RPS` can make within its Lambda timeout; `arithmetic` names the variables, their
    /// values and the seconds the work takes.
    #[error("{function} cannot finish within its {timeout_seconds} s Lambda timeout: {arithmetic}")]
    OverTimeBudget { function: &'static str, timeout_seconds: u32, arithmetic: String },
}

/// What keyward does with the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Dry run: the full plan is computed and reported; nothing acts. The configuration value and
    /// the JSON value are `report`.
    #[serde(rename = "report")]
    ReportOnly,
    /// Nothing acts without a human decision (the default).
    #[default]
    Approve,
    /// No approval; still capped and re-checked live before acting.
    Auto,
}

/// Which users the `no-mfa` rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaScope {
    /// Only users with a console password (Security Hub IAM.5).
    #[default]
    Console,
    /// Every user, programmatic-only ones too (Security Hub IAM.19).
    All,
}

/// What the `no-mfa` rule proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoMfaAction {
    /// Report the user only.
    Warn,
    /// Propose each active key of the user for deactivation.
    #[default]
    DeactivateKeys,
}

/// How `list-users` decides which users get a live per-user check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Screening {
    /// Screen with the credential report; check live only the candidates (the default). The
    /// configuration value and the JSON value are `report`.
    #[default]
    #[serde(rename = "report")]
    CredentialReport,
    /// Check every user live (per-user freshness; the benchmark baseline).
    Live,
}

/// One entry of `EXEMPT_USERS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum ExemptEntry {
    /// A user name, matched exactly.
    Name(String),
    /// An IAM path prefix such as `/breakglass/`, matched against the user's path.
    PathPrefix(String),
}

impl ExemptEntry {
    /// Whether this entry exempts the user with this name and path.
    pub fn matches(&self, name: &str, path: &str) -> bool {
        match self {
            ExemptEntry::Name(n) => n == name,
            ExemptEntry::PathPrefix(p) => path.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for ExemptEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExemptEntry::Name(n) => f.write_str(n),
            ExemptEntry::PathPrefix(p) => f.write_str(p),
        }
    }
}

/// The policy settings (README, "The policy"): everything the pure evaluation depends on besides
/// the users and the evaluation time. Recorded in every run report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// `KEYWARD_MODE`.
    pub mode: Mode,
    /// `MAX_KEY_AGE_DAYS`: an active key older than this is `key-too-old`.
    pub max_key_age_days: u32,
    /// `UNUSED_KEY_DAYS`: an active key not used for this long is `key-unused`.
    pub unused_key_days: u32,
    /// `WARN_DAYS`: a key within this many days of either limit is a warning.
    pub warn_days: u32,
    /// `MFA_SCOPE`.
    pub mfa_scope: MfaScope,
    /// `NO_MFA_ACTION`.
    pub no_mfa_action: NoMfaAction,
    /// `EXEMPT_USERS`: names or path prefixes (entries starting with `/`).
    pub exempt_users: Vec<ExemptEntry>,
    /// `MAX_DEACTIVATIONS_PER_RUN`: a larger plan deactivates nothing.
    pub max_deactivations_per_run: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            mode: Mode::Approve,
            max_key_age_days: 90,
            unused_key_days: 90,
            warn_days: 14,
            mfa_scope: MfaScope::Console,
            no_mfa_action: NoMfaAction::DeactivateKeys,
            exempt_users: Vec::new(),
            max_deactivations_per_run: 25,
        }
    }
}

/// A secret value (Slack signing secret, webhook URL) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything keyward reads from the environment. Resource names are optional here; a function
/// asks for the ones it needs with [`Config::require`], which names the missing variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The policy settings.
    pub policy: PolicyConfig,
    /// `APPROVAL_TIMEOUT_SECONDS`: how long an approval request stays open (default one day).
    pub approval_timeout_seconds: u32,
    /// `SCREENING`.
    pub screening: Screening,
    /// `BATCH_SIZE`: users per Distributed Map item (default 50).
    pub batch_size: u32,
    /// `MAX_CONCURRENCY`: the Map's concurrent children (default 5).
    pub max_concurrency: u32,
    /// `IAM_MAX_RPS`: IAM requests per second for the whole account (default 10).
    pub iam_max_rps: f64,
    /// `SLACK_WEBHOOK_URL`: incoming webhook; Slack messages are sent only when set.
    pub slack_webhook_url: Option<Secret>,
    /// `SLACK_SIGNING_SECRET`: verifies Slack interactivity requests; buttons are refused without it.
    pub slack_signing_secret: Option<Secret>,
    /// `SLACK_APPROVER_IDS`: Slack user ids allowed to decide (comma-separated).
    pub slack_approver_ids: Vec<String>,
    /// `KEYWARD_REPORT_BUCKET`.
    pub report_bucket: Option<String>,
    /// `KEYWARD_TOPIC_ARN`.
    pub topic_arn: Option<String>,
    /// `KEYWARD_APPROVALS_TABLE`.
    pub approvals_table: Option<String>,
    /// `KEYWARD_APPROVAL_BASE_URL`: the approval function's URL, without a trailing slash.
    pub approval_base_url: Option<String>,
}

/// Names of the environment variables, shared with `template.yaml` and the local stack.
pub mod vars {
    pub const MODE: &str = "KEYWARD_MODE";
    pub const MAX_KEY_AGE_DAYS: &str = "MAX_KEY_AGE_DAYS";
    pub const UNUSED_KEY_DAYS: &str = "UNUSED_KEY_DAYS";
    pub const WARN_DAYS: &str = "WARN_DAYS";
    pub const MFA_SCOPE: &str = "MFA_SCOPE";
    pub const NO_MFA_ACTION: &str = "NO_MFA_ACTION";
    pub const EXEMPT_USERS: &str = "EXEMPT_USERS";
    pub const MAX_DEACTIVATIONS_PER_RUN: &str = "MAX_DEACTIVATIONS_PER_RUN";
    pub const APPROVAL_TIMEOUT_SECONDS: &str = "APPROVAL_TIMEOUT_SECONDS";
    pub const SCREENING: &str = "SCREENING";
    pub const BATCH_SIZE: &str = "BATCH_SIZE";
    pub const MAX_CONCURRENCY: &str = "MAX_CONCURRENCY";
    pub const IAM_MAX_RPS: &str = "IAM_MAX_RPS";
    pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";
    pub const SLACK_SIGNING_SECRET: &str = "SLACK_SIGNING_SECRET";
    pub const SLACK_APPROVER_IDS: &str = "SLACK_APPROVER_IDS";
    pub const REPORT_BUCKET: &str = "KEYWARD_REPORT_BUCKET";
    pub const TOPIC_ARN: &str = "KEYWARD_TOPIC_ARN";
    pub const APPROVALS_TABLE: &str = "KEYWARD_APPROVALS_TABLE";
    pub const APPROVAL_BASE_URL: &str = "KEYWARD_APPROVAL_BASE_URL";
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: PolicyConfig::default(),
            approval_timeout_seconds: 86_400,
            screening: Screening::CredentialReport,
            batch_size: 50,
            max_concurrency: 5,
            iam_max_rps: 10.0,
            slack_webhook_url: None,
            slack_signing_secret: None,
            slack_approver_ids: Vec::new(),
            report_bucket: None,
            topic_arn: None,
            approvals_table: None,
            approval_base_url: None,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (a variable name → its value). An unset or empty
    /// variable takes its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let d = Config::default();
        let p = &d.policy;
        let policy = PolicyConfig {
            mode: choice(
                &get,
                vars::MODE,
                p.mode,
                &[("report", Mode::ReportOnly), ("approve", Mode::Approve), ("auto", Mode::Auto)],
            )?,
            max_key_age_days: number(&get, vars::MAX_KEY_AGE_DAYS, p.max_key_age_days, &ranges::KEY_DAYS)?,
            unused_key_days: number(&get, vars::UNUSED_KEY_DAYS, p.unused_key_days, &ranges::KEY_DAYS)?,
            warn_days: number(&get, vars::WARN_DAYS, p.warn_days, &ranges::WARN_DAYS)?,
            mfa_scope: choice(
                &get,
                vars::MFA_SCOPE,
                p.mfa_scope,
                &[("console", MfaScope::Console), ("all", MfaScope::All)],
            )?,
            no_mfa_action: choice(
                &get,
                vars::NO_MFA_ACTION,
                p.no_mfa_action,
                &[("warn", NoMfaAction::Warn), ("deactivate-keys", NoMfaAction::DeactivateKeys)],
            )?,
            exempt_users: exempt_users(get(vars::EXEMPT_USERS))?,
            max_deactivations_per_run: number(
                &get,
                vars::MAX_DEACTIVATIONS_PER_RUN,
                p.max_deactivations_per_run,
                &ranges::MAX_DEACTIVATIONS_PER_RUN,
            )?,
        };
        let config = Config {
            policy,
            approval_timeout_seconds: number(
                &get,
                vars::APPROVAL_TIMEOUT_SECONDS,
                d.approval_timeout_seconds,
                &ranges::APPROVAL_TIMEOUT_SECONDS,
            )?,
            screening: choice(
                &get,
                vars::SCREENING,
                d.screening,
                &[("report", Screening::CredentialReport), ("live", Screening::Live)],
            )?,
            batch_size: number(&get, vars::BATCH_SIZE, d.batch_size, &ranges::BATCH_SIZE)?,
            max_concurrency: number(&get, vars::MAX_CONCURRENCY, d.max_concurrency, &ranges::MAX_CONCURRENCY)?,
            iam_max_rps: rate(&get, vars::IAM_MAX_RPS, d.iam_max_rps)?,
            slack_webhook_url: slack_webhook(get(vars::SLACK_WEBHOOK_URL))?,
            slack_signing_secret: get(vars::SLACK_SIGNING_SECRET).map(Secret),
            slack_approver_ids: slack_ids(get(vars::SLACK_APPROVER_IDS))?,
            report_bucket: get(vars::REPORT_BUCKET),
            topic_arn: get(vars::TOPIC_ARN),
            approvals_table: get(vars::APPROVALS_TABLE),
            approval_base_url: approval_base_url(get(vars::APPROVAL_BASE_URL))?,
        };
        config.check_time_budgets()?;
        Ok(config)
    }

    /// The value of a resource setting this function needs, or an error naming the variable.
    pub fn require<'a>(value: &'a Option<String>, variable: &'static str) -> Result<&'a str, ConfigError> {
        value.as_deref().ok_or(ConfigError::Missing {
            variable,
            expected: "set it to the resource name (template.yaml sets it for every function that needs it)",
        })
    }

    /// Each Map child's share of the account's IAM budget, in requests per second.
    pub fn iam_rps_per_invocation(&self) -> f64 {
        self.iam_max_rps / f64::from(self.max_concurrency.max(1))
    }

    /// The seconds check-user needs, at its share of the rate, for a full batch whose every user
    /// costs the most IAM calls ([`budget::IAM_CALLS_PER_USER`]).
    pub fn check_user_batch_seconds(&self) -> f64 {
        f64::from(self.batch_size) * f64::from(budget::IAM_CALLS_PER_USER) / self.iam_rps_per_invocation()
    }

    /// The seconds deactivate needs, at the whole rate, for `MAX_DEACTIVATIONS_PER_RUN` keys
    /// ([`budget::IAM_CALLS_PER_DEACTIVATION`] each) and the run's read-back waits
    /// ([`budget::READ_BACK_WAIT_SECONDS`]).
    pub fn deactivate_seconds(&self) -> f64 {
        f64::from(self.policy.max_deactivations_per_run) * f64::from(budget::IAM_CALLS_PER_DEACTIVATION)
            / self.iam_max_rps
            + budget::READ_BACK_WAIT_SECONDS
    }

    /// Refuses settings under which check-user's batch or deactivate's run cannot finish within
    /// the function's timeout, at the rate alone (throttling retries and latency come on top: this
    /// refuses only what can never fit).
    fn check_time_budgets(&self) -> Result<(), ConfigError> {
        let batch = self.check_user_batch_seconds();
        if batch > f64::from(budget::CHECK_USER_TIMEOUT_SECONDS) {
            return Err(ConfigError::OverTimeBudget {
                function: "check-user",
                timeout_seconds: budget::CHECK_USER_TIMEOUT_SECONDS,
                arithmetic: format!(
                    "{}={} users × {} IAM calls each = {} calls, at {}={} / {}={} = {} calls/s, take {} s, over {} s; \
                     lower {} or {}, or raise {}",
                    vars::BATCH_SIZE,
                    self.batch_size,
                    budget::IAM_CALLS_PER_USER,
                    u64::from(self.batch_size) * u64::from(budget::IAM_CALLS_PER_USER),
                    vars::IAM_MAX_RPS,
                    shown(self.iam_max_rps),
                    vars::MAX_CONCURRENCY,
                    self.max_concurrency,
                    shown(self.iam_rps_per_invocation()),
                    shown(batch),
                    budget::CHECK_USER_TIMEOUT_SECONDS,
                    vars::BATCH_SIZE,
                    vars::MAX_CONCURRENCY,
                    vars::IAM_MAX_RPS,
                ),
            });
        }
        let deactivate = self.deactivate_seconds();
        if deactivate > f64::from(budget::DEACTIVATE_TIMEOUT_SECONDS) {
            let cap = self.policy.max_deactivations_per_run;
            return Err(ConfigError::OverTimeBudget {
                function: "deactivate",
                timeout_seconds: budget::DEACTIVATE_TIMEOUT_SECONDS,
                arithmetic: format!(
                    "{}={} keys × {} IAM calls each = {} calls, at {}={} calls/s, plus {} s of read-back \
                     waits, take {} s, over {} s; lower {} or raise {}",
                    vars::MAX_DEACTIVATIONS_PER_RUN,
                    cap,
                    budget::IAM_CALLS_PER_DEACTIVATION,
                    u64::from(cap) * u64::from(budget::IAM_CALLS_PER_DEACTIVATION),
                    vars::IAM_MAX_RPS,
                    shown(self.iam_max_rps),
                    shown(budget::READ_BACK_WAIT_SECONDS),
                    shown(deactivate),
                    budget::DEACTIVATE_TIMEOUT_SECONDS,
                    vars::MAX_DEACTIVATIONS_PER_RUN,
                    vars::IAM_MAX_RPS,
                ),
            });
        }
        Ok(())
    }
}

/// What the time budgets are made of: each function's Lambda timeout and the most IAM calls one
/// unit of its work costs (docs/architecture.md, "The IAM call budget").
///
/// The timeouts are `template.yaml`'s `Timeout` of `CheckUserFunction` and `DeactivateFunction`,
/// mirrored here and pinned equal by `tests/tests/template.rs`. A function cannot learn its timeout
/// at start-up: Lambda sets no environment variable for it (its reserved variables name the
/// function, its memory and version, not the timeout), and the deadline it gives (the runtime
/// API's `Lambda-Runtime-Deadline-Ms`) arrives with each invocation, too late to refuse the
/// configuration at init. A variable fed from the template would only add a second value to keep
/// equal to `Timeout`, which a constant pinned by the contract test does without.
pub mod budget {
    use std::time::Duration;

    /// `CheckUserFunction`'s `Timeout` in `template.yaml` (Lambda's maximum).
    pub const CHECK_USER_TIMEOUT_SECONDS: u32 = 900;
    /// `DeactivateFunction`'s `Timeout` in `template.yaml` (Lambda's maximum).
    pub const DEACTIVATE_TIMEOUT_SECONDS: u32 = 900;
    /// The most IAM requests check-user makes for one user: read fully live (a user the credential
    /// report does not describe, or `SCREENING=live`), GetUser, ListUserTags, ListMFADevices,
    /// GetLoginProfile, ListAccessKeys and GetAccessKeyLastUsed per key, with IAM's fixed quota of
    /// two access keys per user; each List* fits one page (IAM allows 50 tags and 8 MFA devices
    /// per user, a page holds 1,000). Screened with the report, a user costs 3 to 5.
    pub const IAM_CALLS_PER_USER: u32 = 7;
    /// The waits before each re-read of the keys that still read `Active` after `UpdateAccessKey`
    /// succeeded. IAM is eventually consistent: a change is made in one control plane and copied
    /// to read-only replicas, so a read right after a write can still show the old status for a
    /// few seconds (<https://docs.aws.amazon.com/IAM/latest/UserGuide/disaster-recovery-resiliency.html>).
    /// Doubling from half a second finds the usual lag within a second or two while costing few
    /// reads. The waits are the run's, not each key's (deactivate re-reads all lagging keys after
    /// each wait), so a run waits at most [`READ_BACK_WAIT_SECONDS`] however many keys lag.
    pub const READ_BACK_DELAYS: [Duration; 5] = [
        Duration::from_millis(500),
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(4),
        Duration::from_secs(8),
    ];
    /// The sum of [`READ_BACK_DELAYS`], in seconds.
    pub const READ_BACK_WAIT_SECONDS: f64 = 15.5;
    /// The most IAM requests deactivate makes for one key: the live re-check (a full read,
    /// [`IAM_CALLS_PER_USER`]), UpdateAccessKey, the read-back (a second full read) and one more
    /// full read after each of [`READ_BACK_DELAYS`].
    pub const IAM_CALLS_PER_DEACTIVATION: u32 = (2 + READ_BACK_DELAYS.len() as u32) * IAM_CALLS_PER_USER + 1;
}

/// A number in an error, to three decimals at most and without trailing zeros (`2`, `0.1`, `901.5`).
fn shown(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn choice<T: Copy>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    accepted: &[(&'static str, T)],
) -> Result<T, ConfigError> {
    let Some(raw) = get(variable) else { return Ok(default) };
    accepted
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&raw))
        .map(|(_, v)| *v)
        .ok_or_else(|| ConfigError::Invalid { variable, value: raw, expected: expected_choice(variable) })
}

fn expected_choice(variable: &str) -> &'static str {
    match variable {
        vars::MODE => "one of report, approve, auto",
        vars::MFA_SCOPE => "one of console, all",
        vars::NO_MFA_ACTION => "one of warn, deactivate-keys",
        vars::SCREENING => "one of report, live",
        _ => "one of the documented values",
    }
}

/// The values a whole-number variable accepts, and the words its error uses for them: written side
/// by side so that a range and its message are edited together.
struct Range {
    min: u32,
    max: u32,
    expected: &'static str,
}

/// The range of each whole-number variable.
mod ranges {
    use super::Range;

    /// `MAX_KEY_AGE_DAYS` and `UNUSED_KEY_DAYS`.
    pub(super) const KEY_DAYS: Range = Range { min: 1, max: 3650, expected: "a whole number of days from 1 to 3650" };
    pub(super) const WARN_DAYS: Range = Range { min: 0, max: 365, expected: "a whole number of days from 0 to 365" };
    pub(super) const MAX_DEACTIVATIONS_PER_RUN: Range =
        Range { min: 0, max: 10_000, expected: "a whole number from 0 to 10000" };
    pub(super) const APPROVAL_TIMEOUT_SECONDS: Range =
        Range { min: 60, max: 604_800, expected: "a whole number of seconds from 60 to 604800 (7 days)" };
    pub(super) const BATCH_SIZE: Range = Range { min: 1, max: 500, expected: "a whole number of users from 1 to 500" };
    pub(super) const MAX_CONCURRENCY: Range = Range { min: 1, max: 1000, expected: "a whole number from 1 to 1000" };
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u32,
    range: &Range,
) -> Result<u32, ConfigError> {
    let Some(raw) = get(variable) else { return Ok(default) };
    match canonical_whole(&raw).then(|| raw.parse::<u32>()) {
        Some(Ok(v)) if v >= range.min && v <= range.max => Ok(v),
        _ => Err(ConfigError::Invalid { variable, value: raw, expected: range.expected }),
    }
}

/// Whether `raw` is a whole number as the template's patterns write one: decimal digits, without a
/// sign or a leading zero. MaxConcurrency and ApprovalTimeoutSeconds are substituted into the ASL
/// as JSON numbers, where `+5` and `07` are not valid; so no variable takes them.
fn canonical_whole(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'))
}

fn rate(get: &impl Fn(&str) -> Option<String>, variable: &'static str, default: f64) -> Result<f64, ConfigError> {
    let Some(raw) = get(variable) else { return Ok(default) };
    match rate_in_range(&raw).then(|| raw.parse::<f64>()) {
        Some(Ok(v)) => Ok(v),
        _ => Err(ConfigError::Invalid {
            variable,
            value: raw,
            expected: "a number of requests per second from 0.1 to 1000, written with digits and at most one '.'",
        }),
    }
}

/// Whether `raw` is a decimal from 0.1 to 1000 (`12`, `0.5`, `1000.0`), decided on the digits, not on
/// a float (which would round `0.09999999999999999999` up to 0.1): the same grammar as the
/// template's pattern. No sign, exponent, leading zero or bare point.
fn rate_in_range(raw: &str) -> bool {
    let (whole, fraction) = match raw.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (raw, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !canonical_whole(whole) || !fraction.is_none_or(digits) {
        return false;
    }
    let fraction = fraction.unwrap_or("");
    match whole.parse::<u32>() {
        // Below 1: at least 0.1, so the first decimal is not 0.
        Ok(0) => fraction.starts_with(|c: char| c != '0'),
        Ok(1..=999) => true,
        Ok(1000) => fraction.bytes().all(|b| b == b'0'),
        _ => false,
    }
}

fn exempt_users(raw: Option<String>) -> Result<Vec<ExemptEntry>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let mut entries = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let entry = if item.starts_with('/') {
            if !is_exempt_path_prefix(item) {
                return Err(ConfigError::Invalid {
                    variable: vars::EXEMPT_USERS,
                    value: raw.clone(),
                    expected: "comma-separated user names or IAM path prefixes that start and end with '/' (at most 512 printable characters, no space), e.g. alice,/breakglass/",
                });
            }
            ExemptEntry::PathPrefix(item.to_owned())
        } else if is_iam_user_name(item) {
            ExemptEntry::Name(item.to_owned())
        } else {
            return Err(ConfigError::Invalid {
                variable: vars::EXEMPT_USERS,
                value: raw.clone(),
                expected: "comma-separated user names (letters, digits and +=.@_-) or path prefixes such as /breakglass/",
            });
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// Whether `item` is an IAM path (`/` + 1–510 of `!`–`~` + `/`, IAM's own pattern and length) other
/// than `/` itself, which would exempt every user. A comma cannot occur: it separates the entries.
fn is_exempt_path_prefix(item: &str) -> bool {
    item.len() >= 3
        && item.len() <= 512
        && item.starts_with('/')
        && item.ends_with('/')
        && item.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `name` is a valid IAM user name (1–64 of `A-Za-z0-9+=,.@_-`). A comma is valid in IAM
/// but cannot be written in the comma-separated `EXEMPT_USERS`.
pub fn is_iam_user_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn slack_webhook(raw: Option<String>) -> Result<Option<Secret>, ConfigError> {
    match raw {
        None => Ok(None),
        // A URL with nothing after the scheme is not a webhook (nor does the template take one).
        Some(url)
            if url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty())
                || url.starts_with("http://127.0.0.1")
                || url.starts_with("http://localhost") =>
        {
            Ok(Some(Secret(url)))
        }
        // The value is a secret: the error names the variable, not the value.
        Some(_) => Err(ConfigError::Invalid {
            variable: vars::SLACK_WEBHOOK_URL,
            value: "(hidden)".to_owned(),
            expected: "an https:// Slack incoming-webhook URL",
        }),
    }
}

fn slack_ids(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let ids: Vec<String> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if ids.iter().all(|id| id.len() >= 2 && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())) {
        Ok(ids)
    } else {
        Err(ConfigError::Invalid {
            variable: vars::SLACK_APPROVER_IDS,
            value: raw,
            expected: "comma-separated Slack member ids such as U012ABCDEF",
        })
    }
}

fn approval_base_url(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.starts_with("https://") || raw.starts_with("http://127.0.0.1") || raw.starts_with("http://localhost") {
        Ok(Some(raw.trim_end_matches('/').to_owned()))
    } else {
        Err(ConfigError::Invalid {
            variable: vars::APPROVAL_BASE_URL,
            value: raw,
            expected: "an https:// URL (the approval Function URL), or http://127.0.0.1 in the local stack",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn each_range_message_states_its_bounds() {
        use ranges::*;
        for range in
            [KEY_DAYS, WARN_DAYS, MAX_DEACTIVATIONS_PER_RUN, APPROVAL_TIMEOUT_SECONDS, BATCH_SIZE, MAX_CONCURRENCY]
        {
            let bounds = format!("from {} to {}", range.min, range.max);
            assert!(range.expected.contains(&bounds), "{:?} should say {bounds:?}", range.expected);
        }
    }

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn empty_environment_gives_safe_defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.policy.mode, Mode::Approve);
        assert_eq!(c.policy.max_key_age_days, 90);
        assert_eq!(c.policy.unused_key_days, 90);
        assert_eq!(c.policy.warn_days, 14);
        assert_eq!(c.policy.mfa_scope, MfaScope::Console);
        assert_eq!(c.policy.no_mfa_action, NoMfaAction::DeactivateKeys);
        assert_eq!(c.policy.max_deactivations_per_run, 25);
        assert_eq!(c.screening, Screening::CredentialReport);
        assert_eq!(c.batch_size, 50);
        assert_eq!(c.iam_max_rps, 10.0);
        assert!(c.slack_webhook_url.is_none());
    }

    #[test]
    fn every_variable_is_read() {
        let c = from(&[
            ("KEYWARD_MODE", "AUTO"),
            ("MAX_KEY_AGE_DAYS", "30"),
            ("UNUSED_KEY_DAYS", "45"),
            ("WARN_DAYS", "0"),
            ("MFA_SCOPE", "all"),
            ("NO_MFA_ACTION", "warn"),
            ("EXEMPT_USERS", "alice, /breakglass/ ,svc-ci"),
            ("MAX_DEACTIVATIONS_PER_RUN", "3"),
            ("APPROVAL_TIMEOUT_SECONDS", "120"),
            ("SCREENING", "live"),
            ("BATCH_SIZE", "10"),
            ("MAX_CONCURRENCY", "4"),
            ("IAM_MAX_RPS", "8"),
            ("SLACK_APPROVER_IDS", "U012AB,U99"),
            ("KEYWARD_APPROVAL_BASE_URL", "https://x.lambda-url.us-east-1.on.aws/"),
        ])
        .unwrap();
        assert_eq!(c.policy.mode, Mode::Auto);
        assert_eq!(c.policy.max_key_age_days, 30);
        assert_eq!(c.policy.unused_key_days, 45);
        assert_eq!(c.policy.warn_days, 0);
        assert_eq!(c.policy.mfa_scope, MfaScope::All);
        assert_eq!(c.policy.no_mfa_action, NoMfaAction::Warn);
        assert_eq!(
            c.policy.exempt_users,
            vec![
                ExemptEntry::Name("alice".into()),
                ExemptEntry::PathPrefix("/breakglass/".into()),
                ExemptEntry::Name("svc-ci".into())
            ]
        );
        assert_eq!(c.policy.max_deactivations_per_run, 3);
        assert_eq!(c.approval_timeout_seconds, 120);
        assert_eq!(c.screening, Screening::Live);
        assert_eq!(c.batch_size, 10);
        assert_eq!(c.iam_rps_per_invocation(), 2.0);
        assert_eq!(c.slack_approver_ids, vec!["U012AB", "U99"]);
        assert_eq!(c.approval_base_url.as_deref(), Some("https://x.lambda-url.us-east-1.on.aws"));
    }

    #[test]
    fn bad_mode_names_variable_and_accepted_values() {
        let err = from(&[("KEYWARD_MODE", "yolo")]).unwrap_err().to_string();
        assert!(err.contains("KEYWARD_MODE"), "{err}");
        assert!(err.contains("\"yolo\""), "{err}");
        assert!(err.contains("report, approve, auto"), "{err}");
    }

    #[test]
    fn out_of_range_and_non_numeric_numbers_are_refused() {
        for (var, value) in [
            ("MAX_KEY_AGE_DAYS", "0"),
            ("MAX_KEY_AGE_DAYS", "-5"),
            ("UNUSED_KEY_DAYS", "ninety"),
            ("WARN_DAYS", "366"),
            ("BATCH_SIZE", "0"),
            ("APPROVAL_TIMEOUT_SECONDS", "5"),
            ("IAM_MAX_RPS", "0"),
            ("IAM_MAX_RPS", "NaN"),
            ("MAX_DEACTIVATIONS_PER_RUN", "1.5"),
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable, .. } if variable == var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn exempt_path_must_end_with_slash() {
        let err = from(&[("EXEMPT_USERS", "/breakglass")]).unwrap_err().to_string();
        assert!(err.contains("EXEMPT_USERS"), "{err}");
    }

    #[test]
    fn exempt_users_refuses_invalid_names() {
        assert!(from(&[("EXEMPT_USERS", "alice;bob")]).is_err());
    }

    #[test]
    fn webhook_error_never_shows_the_secret() {
        let err = from(&[("SLACK_WEBHOOK_URL", "ftp://hooks/T000/B000/SECRET")]).unwrap_err().to_string();
        assert!(err.contains("SLACK_WEBHOOK_URL"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        let ok = from(&[("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/SECRET")]).unwrap();
        assert!(!format!("{ok:?}").contains("SECRET"));
    }

    #[test]
    fn required_resource_names_the_variable() {
        let c = from(&[]).unwrap();
        let err = Config::require(&c.report_bucket, vars::REPORT_BUCKET).unwrap_err().to_string();
        assert!(err.contains("KEYWARD_REPORT_BUCKET"), "{err}");
    }

    #[test]
    fn bad_slack_approver_ids_are_refused() {
        assert!(from(&[("SLACK_APPROVER_IDS", "alice@example.com")]).is_err());
    }

    #[test]
    fn whole_numbers_take_no_sign_and_no_leading_zero() {
        for value in ["+5", "05", "5.0", "1e1", "0x5"] {
            assert!(from(&[("BATCH_SIZE", value)]).is_err(), "BATCH_SIZE={value}");
        }
        assert_eq!(from(&[("WARN_DAYS", "0")]).unwrap().policy.warn_days, 0);
        assert_eq!(from(&[("BATCH_SIZE", " 7 ")]).unwrap().batch_size, 7);
    }

    #[test]
    fn the_rate_is_a_plain_decimal_from_a_tenth_to_a_thousand() {
        for (value, rate) in [("0.1", 0.1), ("0.10", 0.1), ("2.5", 2.5), ("1000", 1000.0), ("1000.00", 1000.0)] {
            // One user per batch, one child, no deactivations: the time budgets hold at the lowest rate.
            let c = from(&[
                ("IAM_MAX_RPS", value),
                ("BATCH_SIZE", "1"),
                ("MAX_CONCURRENCY", "1"),
                ("MAX_DEACTIVATIONS_PER_RUN", "0"),
            ])
            .unwrap();
            assert_eq!(c.iam_max_rps, rate, "{value}");
        }
        for value in ["0.09", "0.0999999999999999999999", "1000.01", "1e2", ".5", "5.", "+5", "05", "inf", "0"] {
            let err = from(&[
                ("IAM_MAX_RPS", value),
                ("BATCH_SIZE", "1"),
                ("MAX_CONCURRENCY", "1"),
                ("MAX_DEACTIVATIONS_PER_RUN", "0"),
            ])
            .unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "IAM_MAX_RPS", .. }), "{value}: {err}");
        }
    }

    #[test]
    fn exempt_path_prefixes_are_iam_paths_but_not_the_root() {
        for value in ["/", "//", "/a b/", "/a\tb/"] {
            assert!(from(&[("EXEMPT_USERS", value)]).is_err(), "EXEMPT_USERS={value:?}");
        }
        let c = from(&[("EXEMPT_USERS", "/a/b/,///")]).unwrap();
        assert_eq!(c.policy.exempt_users.len(), 2);
    }

    #[test]
    fn a_webhook_needs_more_than_the_scheme() {
        assert!(from(&[("SLACK_WEBHOOK_URL", "https://")]).is_err());
    }

    #[test]
    fn the_defaults_fit_both_time_budgets() {
        let c = Config::default();
        assert_eq!(c.check_user_batch_seconds(), 175.0);
        assert_eq!(c.deactivate_seconds(), 140.5);
    }

    #[test]
    fn the_read_back_wait_is_the_sum_of_its_delays() {
        let sum: f64 = budget::READ_BACK_DELAYS.iter().map(std::time::Duration::as_secs_f64).sum();
        assert_eq!(sum, budget::READ_BACK_WAIT_SECONDS);
        assert_eq!(budget::IAM_CALLS_PER_DEACTIVATION, 50);
    }

    #[test]
    fn a_batch_that_cannot_finish_in_check_users_timeout_is_refused_with_the_arithmetic() {
        // 257 users × 7 calls at 10 / 5 = 2 calls/s is 899.5 s; 258 is 903 s.
        assert!(from(&[("BATCH_SIZE", "257")]).is_ok());
        let err = from(&[("BATCH_SIZE", "258")]).unwrap_err();
        assert!(matches!(err, ConfigError::OverTimeBudget { function: "check-user", timeout_seconds: 900, .. }));
        let err = err.to_string();
        for part in ["check-user", "BATCH_SIZE=258", "7 IAM calls", "IAM_MAX_RPS=10", "MAX_CONCURRENCY=5", "2 calls/s"]
        {
            assert!(err.contains(part), "{part:?} missing from {err}");
        }
        assert!(err.contains("take 903 s, over 900 s"), "{err}");
        // The same batch fits when the rate per child is higher.
        assert!(from(&[("BATCH_SIZE", "258"), ("MAX_CONCURRENCY", "4")]).is_ok());
    }

    #[test]
    fn a_deactivation_cap_that_cannot_fit_deactivates_timeout_is_refused_with_the_arithmetic() {
        // 176 keys × 50 calls at 10 calls/s is 880 s, plus 15.5 s of read-back waits: 895.5 s; 177
        // keys take 900.5 s.
        assert!(from(&[("MAX_DEACTIVATIONS_PER_RUN", "176")]).is_ok());
        let err = from(&[("MAX_DEACTIVATIONS_PER_RUN", "177")]).unwrap_err().to_string();
        for part in [
            "deactivate",
            "MAX_DEACTIVATIONS_PER_RUN=177",
            "50 IAM calls",
            "IAM_MAX_RPS=10",
            "15.5 s of read-back waits",
            "900.5 s",
            "900 s",
        ] {
            assert!(err.contains(part), "{part:?} missing from {err}");
        }
        assert!(from(&[("MAX_DEACTIVATIONS_PER_RUN", "177"), ("IAM_MAX_RPS", "11")]).is_ok());
    }
}
