//! Typed configuration, read once at init from the environment. Every variable has a safe default
//! (except the resource names each function needs), and a bad value is an error that names the
//! variable and the values it accepts. The names are the same in `template.yaml`, in the local stack
//! and here, and so are the values: each template parameter accepts exactly what its variable
//! accepts here (whole numbers in canonical decimal, lists entry by entry), which the contract test
//! `tests/tests/template.rs` proves at every boundary. Settings that are each valid but together
//! cannot be met within a function's Lambda timeout are refused as well ([`budget`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::org::{AccountFilter, AccountId};

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

/// Which accounts a run sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The account keyward is deployed in (the default; no Organizations call at all).
    #[default]
    Account,
    /// Every account of the AWS Organization `ORG_INCLUDE` / `ORG_EXCLUDE` select, each through
    /// the member roles (`MEMBER_READ_ROLE`, `MEMBER_WRITE_ROLE`).
    Organization,
}

/// One entry of `EXEMPT_USERS` or `PROTECTED_USERS`: a plain entry applies in every account of the
/// organisation, an entry written `<account id>:<entry>` in that account only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum ExemptEntry {
    /// A user name, matched exactly.
    Name(String),
    /// An IAM path prefix such as `/breakglass/`, matched against the user's path.
    PathPrefix(String),
    /// `123456789012:alice`: a user name, matched exactly, in that account only.
    AccountName { account_id: AccountId, name: String },
    /// `123456789012:/breakglass/`: a path prefix, in that account only.
    AccountPathPrefix { account_id: AccountId, prefix: String },
}

impl ExemptEntry {
    /// Whether this entry exempts the user with this name and path in `account`.
    pub fn matches(&self, account: &AccountId, name: &str, path: &str) -> bool {
        match self {
            ExemptEntry::Name(n) => n == name,
            ExemptEntry::PathPrefix(p) => path.starts_with(p.as_str()),
            ExemptEntry::AccountName { account_id, name: n } => account_id == account && n == name,
            ExemptEntry::AccountPathPrefix { account_id, prefix } => {
                account_id == account && path.starts_with(prefix.as_str())
            }
        }
    }

    /// The account the entry is limited to; `None` for an entry of every account.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            ExemptEntry::Name(_) | ExemptEntry::PathPrefix(_) => None,
            ExemptEntry::AccountName { account_id, .. } | ExemptEntry::AccountPathPrefix { account_id, .. } => {
                Some(account_id)
            }
        }
    }
}

/// As written in the variable.
impl fmt::Display for ExemptEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExemptEntry::Name(n) => f.write_str(n),
            ExemptEntry::PathPrefix(p) => f.write_str(p),
            ExemptEntry::AccountName { account_id, name } => write!(f, "{account_id}:{name}"),
            ExemptEntry::AccountPathPrefix { account_id, prefix } => write!(f, "{account_id}:{prefix}"),
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
    /// `MAX_EXEMPTION_DAYS`: a `keyward:exempt-until` tag further ahead than this does not exempt.
    pub max_exemption_days: u32,
    /// `MAX_DEACTIVATIONS_PER_RUN`: a larger plan deactivates nothing.
    pub max_deactivations_per_run: u32,
    /// `MAX_DEACTIVATIONS_PER_ACCOUNT`: a plan with more keys than this in any one account
    /// deactivates nothing. Absent from reports written before it (read as the default, 25).
    #[serde(default = "default_max_deactivations_per_account")]
    pub max_deactivations_per_account: u32,
    /// `PROTECTED_USERS`: names or path prefixes (entries starting with `/`) whose keys are never
    /// planned and never deactivated, whatever a plan says. Absent from reports written before it
    /// (read as none) and left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_users: Vec<ExemptEntry>,
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
            max_exemption_days: 90,
            max_deactivations_per_run: 25,
            max_deactivations_per_account: default_max_deactivations_per_account(),
            protected_users: Vec::new(),
        }
    }
}

/// The per-run cap's default: one account's cap is the whole run's, so a single account sees no
/// change unless it is set.
fn default_max_deactivations_per_account() -> u32 {
    25
}

/// How the confirm page knows who decides (`APPROVER_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApproverAuth {
    /// The approver signs in with the organisation's OpenID provider (`OIDC_ISSUER`) and must be in
    /// `APPROVERS`: every decision names a verified person. The default when an issuer is set.
    Oidc,
    /// Whoever holds the approval link decides (the default without an issuer): the link is a
    /// bearer credential, and every message and page says so.
    Link,
}

/// One entry of `APPROVERS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum ApproverEntry {
    /// An e-mail address, matched case-insensitively against a verified `email` claim.
    Email(String),
    /// `sub:<subject>`: the ID token's `sub`, matched exactly.
    Subject(String),
}

impl ApproverEntry {
    /// Whether this entry names the person with this `sub` and, when the provider verified it
    /// (`email_verified` true), this e-mail address.
    pub fn matches(&self, subject: &str, verified_email: Option<&str>) -> bool {
        match self {
            ApproverEntry::Email(listed) => verified_email.is_some_and(|e| e.to_lowercase() == listed.to_lowercase()),
            ApproverEntry::Subject(listed) => listed == subject,
        }
    }
}

/// What the OpenID sign-in needs, when `APPROVER_AUTH` is `oidc` ([`Config::oidc_sign_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// `OIDC_ISSUER`, exactly as the provider's discovery document must name itself.
    pub issuer: String,
    /// `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `APPROVERS`: never empty.
    pub approvers: Vec<ApproverEntry>,
}

/// Where Slack's `response_url`s point (`https://hooks.slack.com/actions/…`): the default, and in
/// a deployment the only, value of `SLACK_RESPONSE_URL_PREFIX`.
pub const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

/// A secret value (read from keyward's secret, `crate::secrets`) that never prints.
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
    /// `KEYWARD_SECRET_ARN`: the Secrets Manager secret holding keyward's secrets (the Slack webhook
    /// and signing secret, `crate::secrets`); the functions that use them read it at init. No
    /// secret is ever an environment variable.
    pub secret_arn: Option<String>,
    /// `SLACK_APPROVER_IDS`: Slack user ids allowed to decide (comma-separated).
    pub slack_approver_ids: Vec<String>,
    /// `SLACK_TEAM_ID`: the Slack workspace (`T…`) whose clicks count; required when
    /// `SLACK_APPROVER_IDS` is set, since a Slack app installed in several workspaces signs every
    /// workspace's clicks with the same secret.
    pub slack_team_id: Option<String>,
    /// `SLACK_RESPONSE_URL_PREFIX`: where a button's `response_url` may point; Slack's own
    /// [`SLACK_RESPONSE_URL_PREFIX`] unless the local stack names its loopback listener. The template
    /// never sets it, so a deployment posts only to Slack.
    pub slack_response_url_prefix: String,
    /// `APPROVER_AUTH`: `oidc` or `link`; unset, `oidc` when `OIDC_ISSUER` is set, else `link`.
    pub approver_auth: ApproverAuth,
    /// `OIDC_ISSUER`: the OpenID provider (https, or loopback http in the local stack).
    pub oidc_issuer: Option<String>,
    /// `OIDC_CLIENT_ID`: keyward's client id at the provider.
    pub oidc_client_id: Option<String>,
    /// `APPROVERS`: who may decide on the confirm page under `oidc`.
    pub approvers: Vec<ApproverEntry>,
    /// `KEYWARD_SCOPE`: `account` (default) or `organization`.
    pub scope: Scope,
    /// `ORG_INCLUDE`: the accounts and OUs swept in organisation scope (empty: every account).
    pub org_include: AccountFilter,
    /// `ORG_EXCLUDE`: the accounts and OUs never swept (exclusion wins over inclusion).
    pub org_exclude: AccountFilter,
    /// `MEMBER_READ_ROLE`: the role list-users and check-user assume in each member account
    /// (default `keyward-read`, member/keyward-member.yaml).
    pub member_read_role: String,
    /// `MEMBER_WRITE_ROLE`: the role deactivate assumes, naming the approver as its source
    /// identity (default `keyward-deactivate`).
    pub member_write_role: String,
    /// `MAX_ACCOUNT_CONCURRENCY`: accounts swept at once in organisation scope (default 5); each
    /// has its own `MAX_CONCURRENCY` children and its own `IAM_MAX_RPS`, since IAM's rate is per account.
    pub max_account_concurrency: u32,
    /// `KEYWARD_REPORT_BUCKET`.
    pub report_bucket: Option<String>,
    /// `KEYWARD_TOPIC_ARN`.
    pub topic_arn: Option<String>,
    /// `KEYWARD_APPROVALS_TABLE`.
    pub approvals_table: Option<String>,
    /// `KEYWARD_DECISIONS_TABLE`: one recorded decision per run, written by the approval function only.
    pub decisions_table: Option<String>,
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
    pub const MAX_EXEMPTION_DAYS: &str = "MAX_EXEMPTION_DAYS";
    pub const MAX_DEACTIVATIONS_PER_RUN: &str = "MAX_DEACTIVATIONS_PER_RUN";
    pub const MAX_DEACTIVATIONS_PER_ACCOUNT: &str = "MAX_DEACTIVATIONS_PER_ACCOUNT";
    pub const APPROVAL_TIMEOUT_SECONDS: &str = "APPROVAL_TIMEOUT_SECONDS";
    pub const SCREENING: &str = "SCREENING";
    pub const BATCH_SIZE: &str = "BATCH_SIZE";
    pub const MAX_CONCURRENCY: &str = "MAX_CONCURRENCY";
    pub const IAM_MAX_RPS: &str = "IAM_MAX_RPS";
    pub const SECRET_ARN: &str = "KEYWARD_SECRET_ARN";
    pub const SLACK_APPROVER_IDS: &str = "SLACK_APPROVER_IDS";
    pub const SLACK_TEAM_ID: &str = "SLACK_TEAM_ID";
    pub const SLACK_RESPONSE_URL_PREFIX: &str = "SLACK_RESPONSE_URL_PREFIX";
    pub const APPROVER_AUTH: &str = "APPROVER_AUTH";
    pub const OIDC_ISSUER: &str = "OIDC_ISSUER";
    pub const OIDC_CLIENT_ID: &str = "OIDC_CLIENT_ID";
    pub const APPROVERS: &str = "APPROVERS";
    pub const SCOPE: &str = "KEYWARD_SCOPE";
    pub const ORG_INCLUDE: &str = "ORG_INCLUDE";
    pub const ORG_EXCLUDE: &str = "ORG_EXCLUDE";
    pub const MEMBER_READ_ROLE: &str = "MEMBER_READ_ROLE";
    pub const MEMBER_WRITE_ROLE: &str = "MEMBER_WRITE_ROLE";
    pub const MAX_ACCOUNT_CONCURRENCY: &str = "MAX_ACCOUNT_CONCURRENCY";
    pub const REPORT_BUCKET: &str = "KEYWARD_REPORT_BUCKET";
    pub const TOPIC_ARN: &str = "KEYWARD_TOPIC_ARN";
    pub const APPROVALS_TABLE: &str = "KEYWARD_APPROVALS_TABLE";
    pub const DECISIONS_TABLE: &str = "KEYWARD_DECISIONS_TABLE";
    pub const PROTECTED_USERS: &str = "PROTECTED_USERS";
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
            secret_arn: None,
            slack_approver_ids: Vec::new(),
            slack_team_id: None,
            slack_response_url_prefix: SLACK_RESPONSE_URL_PREFIX.to_owned(),
            approver_auth: ApproverAuth::Link,
            oidc_issuer: None,
            oidc_client_id: None,
            approvers: Vec::new(),
            report_bucket: None,
            topic_arn: None,
            approvals_table: None,
            decisions_table: None,
            approval_base_url: None,
            scope: Scope::Account,
            org_include: AccountFilter::none(vars::ORG_INCLUDE),
            org_exclude: AccountFilter::none(vars::ORG_EXCLUDE),
            member_read_role: DEFAULT_MEMBER_READ_ROLE.to_owned(),
            member_write_role: DEFAULT_MEMBER_WRITE_ROLE.to_owned(),
            max_account_concurrency: 5,
        }
    }
}

/// `MEMBER_READ_ROLE`'s default: the read role of member/keyward-member.yaml.
pub const DEFAULT_MEMBER_READ_ROLE: &str = "keyward-read";
/// `MEMBER_WRITE_ROLE`'s default: the write role of member/keyward-member.yaml.
pub const DEFAULT_MEMBER_WRITE_ROLE: &str = "keyward-deactivate";

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
            exempt_users: user_entries(vars::EXEMPT_USERS, get(vars::EXEMPT_USERS))?,
            max_exemption_days: number(
                &get,
                vars::MAX_EXEMPTION_DAYS,
                p.max_exemption_days,
                &ranges::MAX_EXEMPTION_DAYS,
            )?,
            max_deactivations_per_run: number(
                &get,
                vars::MAX_DEACTIVATIONS_PER_RUN,
                p.max_deactivations_per_run,
                &ranges::MAX_DEACTIVATIONS_PER_RUN,
            )?,
            max_deactivations_per_account: number(
                &get,
                vars::MAX_DEACTIVATIONS_PER_ACCOUNT,
                p.max_deactivations_per_account,
                &ranges::MAX_DEACTIVATIONS_PER_ACCOUNT,
            )?,
            protected_users: user_entries(vars::PROTECTED_USERS, get(vars::PROTECTED_USERS))?,
        };
        let oidc_issuer = oidc_issuer(get(vars::OIDC_ISSUER))?;
        let approver_auth_default = if oidc_issuer.is_some() { ApproverAuth::Oidc } else { ApproverAuth::Link };
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
            secret_arn: secret_arn(get(vars::SECRET_ARN))?,
            slack_approver_ids: slack_ids(get(vars::SLACK_APPROVER_IDS))?,
            slack_team_id: slack_team_id(get(vars::SLACK_TEAM_ID))?,
            slack_response_url_prefix: slack_response_url_prefix(get(vars::SLACK_RESPONSE_URL_PREFIX))?,
            approver_auth: choice(
                &get,
                vars::APPROVER_AUTH,
                approver_auth_default,
                &[("oidc", ApproverAuth::Oidc), ("link", ApproverAuth::Link)],
            )?,
            oidc_issuer,
            oidc_client_id: oidc_client_id(get(vars::OIDC_CLIENT_ID))?,
            approvers: approvers(get(vars::APPROVERS))?,
            scope: choice(
                &get,
                vars::SCOPE,
                d.scope,
                &[("account", Scope::Account), ("organization", Scope::Organization)],
            )?,
            org_include: org_filter(vars::ORG_INCLUDE, get(vars::ORG_INCLUDE))?,
            org_exclude: org_filter(vars::ORG_EXCLUDE, get(vars::ORG_EXCLUDE))?,
            member_read_role: role_name(vars::MEMBER_READ_ROLE, get(vars::MEMBER_READ_ROLE), &d.member_read_role)?,
            member_write_role: role_name(vars::MEMBER_WRITE_ROLE, get(vars::MEMBER_WRITE_ROLE), &d.member_write_role)?,
            max_account_concurrency: number(
                &get,
                vars::MAX_ACCOUNT_CONCURRENCY,
                d.max_account_concurrency,
                &ranges::MAX_ACCOUNT_CONCURRENCY,
            )?,
            report_bucket: get(vars::REPORT_BUCKET),
            topic_arn: get(vars::TOPIC_ARN),
            approvals_table: get(vars::APPROVALS_TABLE),
            decisions_table: get(vars::DECISIONS_TABLE),
            approval_base_url: approval_base_url(get(vars::APPROVAL_BASE_URL))?,
        };
        if !config.slack_approver_ids.is_empty() && config.slack_team_id.is_none() {
            return Err(ConfigError::Missing {
                variable: vars::SLACK_TEAM_ID,
                expected: "SLACK_APPROVER_IDS is set, so name their Slack workspace (its id, T…): a click from \
                           another workspace is refused",
            });
        }
        config.check_time_budgets()?;
        Ok(config)
    }

    /// The sign-in settings under `APPROVER_AUTH=oidc` (`None` under `link`): an error naming the
    /// first of `OIDC_ISSUER`, `OIDC_CLIENT_ID` and `APPROVERS` that is not set. Checked by the
    /// function that signs people in, at init, rather than by [`Config::from_lookup`], which judges
    /// each variable on its own as the template's parameters do.
    pub fn oidc_sign_in(&self) -> Result<Option<OidcSettings>, ConfigError> {
        if self.approver_auth == ApproverAuth::Link {
            return Ok(None);
        }
        let missing = |variable, expected| ConfigError::Missing { variable, expected };
        let issuer = self.oidc_issuer.clone().ok_or_else(|| {
            missing(
                vars::OIDC_ISSUER,
                "APPROVER_AUTH=oidc signs approvers in with this OpenID provider (its https URL)",
            )
        })?;
        let client_id = self.oidc_client_id.clone().ok_or_else(|| {
            missing(vars::OIDC_CLIENT_ID, "APPROVER_AUTH=oidc needs keyward's client id at the OpenID provider")
        })?;
        if self.approvers.is_empty() {
            return Err(missing(
                vars::APPROVERS,
                "APPROVER_AUTH=oidc lets only the people it lists decide (e-mail addresses or sub:<subject>)",
            ));
        }
        Ok(Some(OidcSettings { issuer, client_id, approvers: self.approvers.clone() }))
    }

    /// The value of a resource setting this function needs, or an error naming the variable.
    pub fn require<'a>(value: &'a Option<String>, variable: &'static str) -> Result<&'a str, ConfigError> {
        value.as_deref().ok_or(ConfigError::Missing {
            variable,
            expected: "set it to the resource name (template.yaml sets it for every function that needs it)",
        })
    }
}

pub mod budget;
mod values;

use values::{
    approval_base_url, approvers, choice, number, oidc_client_id, oidc_issuer, org_filter, ranges, rate, role_name,
    secret_arn, slack_ids, slack_response_url_prefix, slack_team_id, user_entries,
};
pub use values::{is_iam_user_name, is_loopback_http};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn each_range_message_states_its_bounds() {
        use values::ranges::*;
        for range in [
            KEY_DAYS,
            WARN_DAYS,
            MAX_EXEMPTION_DAYS,
            MAX_DEACTIVATIONS_PER_RUN,
            MAX_DEACTIVATIONS_PER_ACCOUNT,
            APPROVAL_TIMEOUT_SECONDS,
            BATCH_SIZE,
            MAX_CONCURRENCY,
            MAX_ACCOUNT_CONCURRENCY,
        ] {
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
        assert_eq!(c.policy.max_exemption_days, 90);
        assert_eq!(c.policy.max_deactivations_per_run, 25);
        assert_eq!(c.screening, Screening::CredentialReport);
        assert_eq!(c.batch_size, 50);
        assert_eq!(c.iam_max_rps, 10.0);
        assert!(c.secret_arn.is_none());
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
            ("MAX_EXEMPTION_DAYS", "30"),
            ("MAX_DEACTIVATIONS_PER_RUN", "3"),
            ("APPROVAL_TIMEOUT_SECONDS", "120"),
            ("SCREENING", "live"),
            ("BATCH_SIZE", "10"),
            ("MAX_CONCURRENCY", "4"),
            ("IAM_MAX_RPS", "8"),
            ("SLACK_APPROVER_IDS", "U012AB,U99"),
            ("SLACK_TEAM_ID", "T012AB"),
            ("KEYWARD_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyward-Ab12Cd"),
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
        assert_eq!(c.policy.max_exemption_days, 30);
        assert_eq!(c.policy.max_deactivations_per_run, 3);
        assert_eq!(c.approval_timeout_seconds, 120);
        assert_eq!(c.screening, Screening::Live);
        assert_eq!(c.batch_size, 10);
        assert_eq!(c.iam_rps_per_invocation(), 2.0);
        assert_eq!(c.slack_approver_ids, vec!["U012AB", "U99"]);
        assert_eq!(
            c.secret_arn.as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyward-Ab12Cd")
        );
        assert_eq!(c.approval_base_url.as_deref(), Some("https://x.lambda-url.us-east-1.on.aws"));
    }

    #[test]
    fn organisation_settings_default_to_one_account_and_the_member_templates_roles() {
        let c = from(&[]).unwrap();
        assert_eq!(c.scope, Scope::Account);
        assert!(c.org_include.is_empty() && c.org_exclude.is_empty());
        assert_eq!((c.member_read_role.as_str(), c.member_write_role.as_str()), ("keyward-read", "keyward-deactivate"));
        assert_eq!(c.max_account_concurrency, 5);

        let c = from(&[
            ("KEYWARD_SCOPE", "organization"),
            ("ORG_INCLUDE", "ou-ab12-prod0001, 111122223333"),
            ("ORG_EXCLUDE", "444455556666"),
            ("MEMBER_READ_ROLE", "audit-read"),
            ("MEMBER_WRITE_ROLE", "audit.write@x"),
            ("MAX_ACCOUNT_CONCURRENCY", "100"),
        ])
        .unwrap();
        assert_eq!(c.scope, Scope::Organization);
        assert_eq!(c.org_include.entries().count(), 2);
        assert_eq!(c.org_exclude.variable(), "ORG_EXCLUDE");
        assert_eq!((c.member_read_role.as_str(), c.member_write_role.as_str()), ("audit-read", "audit.write@x"));
        assert_eq!(c.max_account_concurrency, 100);
    }

    #[test]
    fn bad_organisation_settings_name_the_variable_and_the_entry() {
        for (var, value, expected) in [
            ("KEYWARD_SCOPE", "org", "account, organization"),
            ("ORG_INCLUDE", "111122223333,prod", "\"prod\""),
            ("ORG_EXCLUDE", "ou-AB12-prod0001", "\"ou-AB12-prod0001\""),
            ("MEMBER_READ_ROLE", "arn:aws:iam::111122223333:role/keyward-read", "role name"),
            ("MEMBER_WRITE_ROLE", &"r".repeat(65), "1 to 64"),
            ("MAX_ACCOUNT_CONCURRENCY", "0", "from 1 to 100"),
            ("MAX_ACCOUNT_CONCURRENCY", "101", "from 1 to 100"),
        ] {
            let err = from(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(expected), "{var}={value}: {err}");
        }
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
            ("MAX_EXEMPTION_DAYS", "0"),
            ("MAX_EXEMPTION_DAYS", "366"),
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
    fn max_deactivations_per_account_is_0_to_10000_and_defaults_to_the_run_cap() {
        assert_eq!(from(&[]).unwrap().policy.max_deactivations_per_account, 25);
        for (value, cap) in [("0", 0), ("7", 7), ("10000", 10_000)] {
            let c = from(&[("MAX_DEACTIVATIONS_PER_ACCOUNT", value), ("MAX_DEACTIVATIONS_PER_RUN", "10")]).unwrap();
            assert_eq!(c.policy.max_deactivations_per_account, cap, "{value}");
        }
        for value in ["10001", "-1", "07", "1.5", "many"] {
            let err = from(&[("MAX_DEACTIVATIONS_PER_ACCOUNT", value)]).unwrap_err().to_string();
            assert!(err.contains("MAX_DEACTIVATIONS_PER_ACCOUNT"), "{err}");
            assert!(err.contains("from 0 to 10000"), "{err}");
        }
    }

    #[test]
    fn max_exemption_days_is_one_day_to_a_year() {
        for (value, days) in [("1", 1), ("90", 90), ("365", 365)] {
            assert_eq!(from(&[("MAX_EXEMPTION_DAYS", value)]).unwrap().policy.max_exemption_days, days);
        }
        let err = from(&[("MAX_EXEMPTION_DAYS", "400")]).unwrap_err().to_string();
        assert!(err.contains("MAX_EXEMPTION_DAYS") && err.contains("from 1 to 365"), "{err}");
    }

    #[test]
    fn protected_users_take_names_and_path_prefixes_and_a_bad_entry_names_the_variable() {
        let c = from(&[("PROTECTED_USERS", "root-ops, /breakglass/")]).unwrap();
        assert_eq!(
            c.policy.protected_users,
            vec![ExemptEntry::Name("root-ops".into()), ExemptEntry::PathPrefix("/breakglass/".into())]
        );
        assert!(from(&[]).unwrap().policy.protected_users.is_empty());
        let err = from(&[("PROTECTED_USERS", "/breakglass")]).unwrap_err().to_string();
        assert!(err.starts_with("PROTECTED_USERS="), "{err}");
    }

    #[test]
    fn an_entry_after_an_account_id_applies_to_that_account_only() {
        let account = AccountId::parse("123456789012").unwrap();
        for var in ["EXEMPT_USERS", "PROTECTED_USERS"] {
            let c = from(&[(var, "alice, 123456789012:svc-ci, 123456789012:/breakglass/")]).unwrap();
            let entries = if var == "EXEMPT_USERS" { c.policy.exempt_users } else { c.policy.protected_users };
            assert_eq!(
                entries,
                vec![
                    ExemptEntry::Name("alice".into()),
                    ExemptEntry::AccountName { account_id: account.clone(), name: "svc-ci".into() },
                    ExemptEntry::AccountPathPrefix { account_id: account.clone(), prefix: "/breakglass/".into() },
                ],
                "{var}"
            );
            assert_eq!(entries[1].to_string(), "123456789012:svc-ci", "written back as in the variable");
        }
        let other = AccountId::parse("210987654321").unwrap();
        let entry = ExemptEntry::AccountName { account_id: account.clone(), name: "svc-ci".into() };
        assert!(entry.matches(&account, "svc-ci", "/"));
        assert!(!entry.matches(&other, "svc-ci", "/"));
        let prefix = ExemptEntry::AccountPathPrefix { account_id: account.clone(), prefix: "/breakglass/".into() };
        assert!(prefix.matches(&account, "x", "/breakglass/ops/"));
        assert!(!prefix.matches(&other, "x", "/breakglass/ops/"));
        assert!(ExemptEntry::Name("alice".into()).matches(&other, "alice", "/"), "a plain entry: every account");
    }

    #[test]
    fn a_malformed_account_part_is_refused_naming_the_entry() {
        for (var, entry) in [
            ("EXEMPT_USERS", "12345678901:alice"),
            ("EXEMPT_USERS", "1234567890123:alice"),
            ("PROTECTED_USERS", "12345678901a:/breakglass/"),
            ("PROTECTED_USERS", ":alice"),
            ("EXEMPT_USERS", "123456789012:"),
            ("EXEMPT_USERS", "123456789012:/breakglass"),
            ("EXEMPT_USERS", "123456789012:bad name"),
            ("EXEMPT_USERS", "123456789012:123456789012:alice"),
        ] {
            let err = from(&[(var, &format!("bob, {entry}"))]).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { variable, value, .. } if *variable == var && value == entry),
                "{entry}: {err}"
            );
            assert!(err.to_string().contains(entry), "{err}");
        }
        let err = from(&[("EXEMPT_USERS", "12345:alice")]).unwrap_err().to_string();
        assert!(err.contains("account id of 12 digits"), "{err}");
    }

    #[test]
    fn exempt_path_must_end_with_slash() {
        let err = from(&[("EXEMPT_USERS", "/breakglass")]).unwrap_err().to_string();
        assert!(err.contains("EXEMPT_USERS"), "{err}");
    }

    #[test]
    fn the_approval_base_url_is_https_or_this_machine() {
        for url in
            ["https://x.lambda-url.us-east-1.on.aws/", "http://127.0.0.1:9000/lambda-url/approval", "http://localhost"]
        {
            assert!(from(&[("KEYWARD_APPROVAL_BASE_URL", url)]).is_ok(), "{url}");
        }
        for url in [
            "https://",
            "http://x.lambda-url.us-east-1.on.aws/",
            "http://localhost.evil.example/",
            "http://127.0.0.10/",
        ] {
            let err = from(&[("KEYWARD_APPROVAL_BASE_URL", url)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "KEYWARD_APPROVAL_BASE_URL", .. }), "{url}: {err}");
        }
    }

    #[test]
    fn exempt_users_refuses_invalid_names() {
        assert!(from(&[("EXEMPT_USERS", "alice;bob")]).is_err());
    }

    #[test]
    fn the_secret_arn_is_a_secrets_manager_secrets_full_arn_in_any_partition() {
        for arn in [
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward-Ab12Cd",
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team/keyward_1+=.@-x-000000",
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:k-zzzzzz",
        ] {
            assert_eq!(from(&[("KEYWARD_SECRET_ARN", arn)]).unwrap().secret_arn.as_deref(), Some(arn));
        }
        for arn in [
            "keyward",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            "arn:aws:secretsmanager:us-east-1:12345678901:secret:keyward",
            "arn:aws:ssm:us-east-1:123456789012:parameter:keyward",
            "arn:aws:secretsmanager:us-east-1:123456789012:key:keyward",
            "arn:aws:secretsmanager:useast1:123456789012:secret:keyward",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:key ward",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:a:b",
            // The partial ARN (no suffix) that IAM would not match against the secret.
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward-Ab12C",
        ] {
            let err = from(&[("KEYWARD_SECRET_ARN", arn)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "KEYWARD_SECRET_ARN", .. }), "{arn}: {err}");
        }
    }

    #[test]
    fn required_resource_names_the_variable() {
        let c = from(&[]).unwrap();
        let err = Config::require(&c.report_bucket, vars::REPORT_BUCKET).unwrap_err().to_string();
        assert!(err.contains("KEYWARD_REPORT_BUCKET"), "{err}");
    }

    #[test]
    fn slack_approvers_need_their_workspace() {
        let err = from(&[("SLACK_APPROVER_IDS", "U012AB")]).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { variable: "SLACK_TEAM_ID", .. }), "{err}");
        let c = from(&[("SLACK_APPROVER_IDS", "U012AB"), ("SLACK_TEAM_ID", "T0001EXAMPLE")]).unwrap();
        assert_eq!(c.slack_team_id.as_deref(), Some("T0001EXAMPLE"));
        for bad in ["U012AB", "T", "t012ab", "T012,T034", "T01 2"] {
            let err = from(&[("SLACK_TEAM_ID", bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "SLACK_TEAM_ID", .. }), "{bad}: {err}");
        }
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
    fn response_urls_go_to_slack_or_to_a_loopback_port_only() {
        assert_eq!(from(&[]).unwrap().slack_response_url_prefix, "https://hooks.slack.com/");
        for prefix in ["https://hooks.slack.com/", "http://127.0.0.1:8080/", "http://127.0.0.1:1/"] {
            let c = from(&[("SLACK_RESPONSE_URL_PREFIX", prefix)]).unwrap();
            assert_eq!(c.slack_response_url_prefix, prefix);
        }
        for prefix in [
            "https://hooks.slack.com",
            "https://hooks.slack.com.evil.example/",
            "https://evil.example/",
            "http://127.0.0.1/",
            "http://127.0.0.1:/",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:80@evil.example/",
            "http://127.0.0.1:65536/",
            "http://localhost.evil.example:80/",
        ] {
            let err = from(&[("SLACK_RESPONSE_URL_PREFIX", prefix)]).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { variable: "SLACK_RESPONSE_URL_PREFIX", .. }),
                "{prefix}: {err}"
            );
        }
    }

    #[test]
    fn the_defaults_fit_both_time_budgets() {
        let c = Config::default();
        assert_eq!(c.check_user_batch_seconds(), 175.0);
        assert_eq!(c.deactivate_seconds(), 50.5);
    }

    #[test]
    fn the_read_back_wait_is_the_sum_of_its_delays() {
        let sum: f64 = budget::READ_BACK_DELAYS.iter().map(std::time::Duration::as_secs_f64).sum();
        assert_eq!(sum, budget::READ_BACK_WAIT_SECONDS);
        assert_eq!(budget::IAM_CALLS_PER_DEACTIVATION, 14);
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
        // 631 keys × 14 calls at 10 calls/s is 883.4 s, plus 15.5 s of read-back waits: 898.9 s; 632
        // keys take 900.3 s.
        assert!(from(&[("MAX_DEACTIVATIONS_PER_RUN", "631")]).is_ok());
        let err = from(&[("MAX_DEACTIVATIONS_PER_RUN", "632")]).unwrap_err().to_string();
        for part in [
            "deactivate",
            "MAX_DEACTIVATIONS_PER_RUN=632",
            "14 IAM calls",
            "IAM_MAX_RPS=10",
            "15.5 s of read-back waits",
            "900.3 s",
            "900 s",
        ] {
            assert!(err.contains(part), "{part:?} missing from {err}");
        }
        assert!(from(&[("MAX_DEACTIVATIONS_PER_RUN", "632"), ("IAM_MAX_RPS", "11")]).is_ok());
    }

    #[test]
    fn approver_auth_is_oidc_when_an_issuer_is_set_and_link_otherwise() {
        assert_eq!(from(&[]).unwrap().approver_auth, ApproverAuth::Link);
        assert_eq!(from(&[("APPROVER_AUTH", "")]).unwrap().approver_auth, ApproverAuth::Link);
        let issuer = ("OIDC_ISSUER", "https://idp.example.com");
        assert_eq!(from(&[issuer]).unwrap().approver_auth, ApproverAuth::Oidc);
        assert_eq!(from(&[issuer, ("APPROVER_AUTH", "link")]).unwrap().approver_auth, ApproverAuth::Link);
        assert_eq!(from(&[("APPROVER_AUTH", "OIDC")]).unwrap().approver_auth, ApproverAuth::Oidc);
        for value in ["none", "oidc,link", "saml"] {
            let err = from(&[("APPROVER_AUTH", value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "APPROVER_AUTH", .. }), "{value}: {err}");
            assert!(err.to_string().contains("oidc, link"), "{err}");
        }
    }

    #[test]
    fn the_issuer_is_https_or_this_machine_and_kept_exactly() {
        for url in [
            "https://idp.example.com",
            "https://login.microsoftonline.com/tenant/v2.0",
            "https://tenant.auth0.com/",
            "http://127.0.0.1:9162",
            "http://localhost:9162/oidc",
        ] {
            assert_eq!(from(&[("OIDC_ISSUER", url)]).unwrap().oidc_issuer.as_deref(), Some(url));
        }
        for url in [
            "https://",
            "http://idp.example.com",
            "idp.example.com",
            "https://idp.example.com/a b",
            "http://127.0.0.10",
        ] {
            let err = from(&[("OIDC_ISSUER", url)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "OIDC_ISSUER", .. }), "{url}: {err}");
        }
    }

    #[test]
    fn the_client_id_is_printable_without_spaces() {
        let c = from(&[("OIDC_CLIENT_ID", "0oa1b2c3.apps-example_client")]).unwrap();
        assert_eq!(c.oidc_client_id.as_deref(), Some("0oa1b2c3.apps-example_client"));
        for value in ["key ward", "é"] {
            let err = from(&[("OIDC_CLIENT_ID", value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "OIDC_CLIENT_ID", .. }), "{value}: {err}");
        }
    }

    #[test]
    fn approvers_are_e_mail_addresses_and_subjects() {
        let c = from(&[("APPROVERS", " Alice@Example.com , sub:00u1abc ,,bob@example.org")]).unwrap();
        assert_eq!(
            c.approvers,
            vec![
                ApproverEntry::Email("Alice@Example.com".into()),
                ApproverEntry::Subject("00u1abc".into()),
                ApproverEntry::Email("bob@example.org".into()),
            ]
        );
        for value in ["alice", "@example.com", "alice@", "a@b@c", "sub:", "sub: x", "alice@exämple.com", "a b@c"] {
            let err = from(&[("APPROVERS", value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { variable: "APPROVERS", .. }), "{value}: {err}");
        }
    }

    #[test]
    fn an_e_mail_entry_matches_a_verified_address_in_any_case_and_a_subject_exactly() {
        let email = ApproverEntry::Email("Alice@Example.com".into());
        assert!(email.matches("s1", Some("alice@example.COM")));
        assert!(!email.matches("s1", None));
        assert!(!email.matches("Alice@Example.com", None), "an e-mail entry never matches a subject");
        let subject = ApproverEntry::Subject("00u1abc".into());
        assert!(subject.matches("00u1abc", None));
        assert!(!subject.matches("00U1ABC", None));
    }

    #[test]
    fn oidc_needs_an_issuer_a_client_id_and_approvers() {
        let all = [
            ("APPROVER_AUTH", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_CLIENT_ID", "keyward"),
            ("APPROVERS", "alice@example.com"),
        ];
        let settings = from(&all).unwrap().oidc_sign_in().unwrap().unwrap();
        assert_eq!(settings.issuer, "https://idp.example.com");
        assert_eq!(settings.client_id, "keyward");
        for (left_out, variable) in [(1, "OIDC_ISSUER"), (2, "OIDC_CLIENT_ID"), (3, "APPROVERS")] {
            let pairs: Vec<_> = all.iter().enumerate().filter(|(i, _)| *i != left_out).map(|(_, p)| *p).collect();
            let err = from(&pairs).unwrap().oidc_sign_in().unwrap_err();
            assert!(matches!(err, ConfigError::Missing { variable: v, .. } if v == variable), "{variable}: {err}");
        }
        assert_eq!(from(&[("APPROVER_AUTH", "link")]).unwrap().oidc_sign_in().unwrap(), None);
    }
}
