//! How each variable's text becomes its value: the parsers `Config::from_lookup` calls, each range
//! next to the words its error uses, and the error for a value a variable does not accept.

use super::{ApproverEntry, ConfigError, ExemptEntry, vars};
use crate::org::{AccountFilter, AccountId};

pub(in crate::config) fn choice<T: Copy>(
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
        vars::SCOPE => "one of account, organization",
        vars::APPROVER_AUTH => "one of oidc, link (empty: oidc when OIDC_ISSUER is set, else link)",
        _ => "one of the documented values",
    }
}

/// The values a whole-number variable accepts, and the words its error uses for them: written side
/// by side so that a range and its message are edited together.
pub(in crate::config) struct Range {
    pub(in crate::config) min: u32,
    pub(in crate::config) max: u32,
    pub(in crate::config) expected: &'static str,
}

/// The range of each whole-number variable.
pub(in crate::config) mod ranges {
    use super::Range;

    /// `MAX_KEY_AGE_DAYS` and `UNUSED_KEY_DAYS`.
    pub(in crate::config) const KEY_DAYS: Range =
        Range { min: 1, max: 3650, expected: "a whole number of days from 1 to 3650" };
    pub(in crate::config) const WARN_DAYS: Range =
        Range { min: 0, max: 365, expected: "a whole number of days from 0 to 365" };
    /// `MAX_EXEMPTION_DAYS`: at least a day, or no tag could reach past today; at most a year, so
    /// that whoever may tag users cannot grant more than a year at a time (a longer exemption
    /// belongs in `EXEMPT_USERS`, which changes only with a deployment).
    pub(in crate::config) const MAX_EXEMPTION_DAYS: Range =
        Range { min: 1, max: 365, expected: "a whole number of days from 1 to 365" };
    pub(in crate::config) const MAX_DEACTIVATIONS_PER_RUN: Range =
        Range { min: 0, max: 10_000, expected: "a whole number from 0 to 10000" };
    pub(in crate::config) const MAX_DEACTIVATIONS_PER_ACCOUNT: Range =
        Range { min: 0, max: 10_000, expected: "a whole number from 0 to 10000" };
    pub(in crate::config) const APPROVAL_TIMEOUT_SECONDS: Range =
        Range { min: 60, max: 604_800, expected: "a whole number of seconds from 60 to 604800 (7 days)" };
    pub(in crate::config) const BATCH_SIZE: Range =
        Range { min: 1, max: 500, expected: "a whole number of users from 1 to 500" };
    pub(in crate::config) const MAX_CONCURRENCY: Range =
        Range { min: 1, max: 1000, expected: "a whole number from 1 to 1000" };
    /// `MAX_ACCOUNT_CONCURRENCY`: each account swept at once runs up to `MAX_CONCURRENCY` check-user
    /// functions of its own, so the Lambda concurrency a run needs is the product of the two.
    pub(in crate::config) const MAX_ACCOUNT_CONCURRENCY: Range =
        Range { min: 1, max: 100, expected: "a whole number from 1 to 100" };
}

/// `ORG_INCLUDE` / `ORG_EXCLUDE` ([`AccountFilter::parse`]); a bad entry is `Invalid` naming it.
pub(in crate::config) fn org_filter(variable: &'static str, raw: Option<String>) -> Result<AccountFilter, ConfigError> {
    AccountFilter::parse(variable, raw).map_err(|e| ConfigError::Invalid {
        variable: e.variable,
        value: e.entry,
        expected: e.expected,
    })
}

/// What an IAM role name may be: 1–64 of letters, digits and `+=,.@_-` (IAM's CreateRole).
pub(in crate::config) const ROLE_NAME_EXPECTED: &str =
    "an IAM role name: 1 to 64 letters, digits and +=,.@_- (the role's name, not its ARN)";

/// `MEMBER_READ_ROLE` / `MEMBER_WRITE_ROLE`: a role name, `default` when unset.
pub(in crate::config) fn role_name(
    variable: &'static str,
    raw: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    match raw {
        None => Ok(default.to_owned()),
        Some(name) if is_iam_user_name(&name) => Ok(name),
        Some(value) => Err(ConfigError::Invalid { variable, value, expected: ROLE_NAME_EXPECTED }),
    }
}

pub(in crate::config) fn number(
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

pub(in crate::config) fn rate(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: f64,
) -> Result<f64, ConfigError> {
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

/// A list of user names and `/path/` prefixes: `EXEMPT_USERS` or `PROTECTED_USERS` (`variable`),
/// which share the syntax.
pub(in crate::config) fn user_entries(
    variable: &'static str,
    raw: Option<String>,
) -> Result<Vec<ExemptEntry>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let mut entries = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        entries.push(user_entry(item).map_err(|expected| ConfigError::Invalid {
            variable,
            value: item.to_owned(),
            expected,
        })?);
    }
    Ok(entries)
}

/// One entry: `<user name>`, `</path/>`, or either after `<12-digit account id>:` for that account
/// only. A user name cannot hold `:`, and a path prefix starts with `/`, so an entry with a `:`
/// before any `/` names an account. The error is the words for the entry's mistake.
fn user_entry(item: &str) -> Result<ExemptEntry, &'static str> {
    let account = match item.split_once(':') {
        Some((account, rest)) if !account.contains('/') => {
            let account = AccountId::parse(account)
                .ok_or("an account id of 12 digits before ':', e.g. 123456789012:alice or 123456789012:/breakglass/")?;
            Some((account, rest))
        }
        _ => None,
    };
    let (account, who) = match account {
        Some((account, rest)) => (Some(account), rest),
        None => (None, item),
    };
    let is_path = who.starts_with('/');
    if is_path && !is_exempt_path_prefix(who) {
        return Err(
            "comma-separated user names or IAM path prefixes that start and end with '/' (at most 512 printable characters, no space), e.g. alice,/breakglass/",
        );
    }
    if !is_path && !is_iam_user_name(who) {
        return Err(
            "comma-separated user names (letters, digits and +=.@_-) or path prefixes such as /breakglass/, each optionally after a 12-digit account id and ':'",
        );
    }
    let who = who.to_owned();
    Ok(match (account, is_path) {
        (None, false) => ExemptEntry::Name(who),
        (None, true) => ExemptEntry::PathPrefix(who),
        (Some(account_id), false) => ExemptEntry::AccountName { account_id, name: who },
        (Some(account_id), true) => ExemptEntry::AccountPathPrefix { account_id, prefix: who },
    })
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

pub(in crate::config) fn secret_arn(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(arn) if is_secret_arn(&arn) => Ok(Some(arn)),
        Some(arn) => Err(ConfigError::Invalid {
            variable: vars::SECRET_ARN,
            value: arn,
            expected: "empty, or a Secrets Manager secret's full ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>-<6 characters>",
        }),
    }
}

/// Whether `arn` is a Secrets Manager secret's full ARN, as the template's `KeywardSecretArn`
/// pattern writes one: `arn:aws` and its partition suffix (`-cn`, `-us-gov`), the service, a region
/// (`us-east-1`, `us-gov-west-1`), a 12-digit account and `secret:` with a name of 1-512 of Secrets
/// Manager's characters and the `-` + 6 characters Secrets Manager appends. The suffix is required:
/// GetSecretValue accepts a partial ARN (the name alone), but IAM authorises the call against the
/// full ARN, so a role allowed only the partial one is denied.
fn is_secret_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else { return false };
    let parts: Vec<&str> = rest.splitn(6, ':').collect();
    let [partition, service, region, account, kind, name] = parts[..] else { return false };
    partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && service == "secretsmanager"
        && is_region(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && kind == "secret"
        && is_full_secret_name(name)
}

/// `<name>-<6 alphanumerics>`, the name 1-512 of Secrets Manager's characters.
fn is_full_secret_name(full: &str) -> bool {
    let Some((name, suffix)) = full.rsplit_once('-') else { return false };
    suffix.len() == 6
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        && (1..=512).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

/// Whether `region` reads as an AWS region: two letters, one or more words, a number
/// (`eu-west-1`, `us-gov-east-1`).
fn is_region(region: &str) -> bool {
    let words: Vec<&str> = region.split('-').collect();
    let [first, middle @ .., last] = &words[..] else { return false };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

pub(in crate::config) fn slack_ids(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
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

/// `SLACK_TEAM_ID`: one Slack workspace id, `T` and then upper-case letters and digits.
pub(in crate::config) fn slack_team_id(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let rest = raw.strip_prefix('T').unwrap_or_default();
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Ok(Some(raw))
    } else {
        Err(ConfigError::Invalid {
            variable: vars::SLACK_TEAM_ID,
            value: raw,
            expected: "one Slack workspace id such as T012ABCDEF",
        })
    }
}

/// `SLACK_RESPONSE_URL_PREFIX`: Slack's own host, or `http://127.0.0.1:<port>/`, a listener on the
/// machine itself (the local stack's stand-in for Slack). Both end at the `/` after the host (and
/// port), so no URL on another host starts with either (`https://hooks.slack.com.evil.example/`,
/// `http://127.0.0.1:80@evil.example/` do not).
pub(in crate::config) fn slack_response_url_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let Some(raw) = raw else { return Ok(super::SLACK_RESPONSE_URL_PREFIX.to_owned()) };
    let loopback_port = raw
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .filter(|port| !port.starts_with('0') && port.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|port| port.parse::<u16>().ok());
    if raw == super::SLACK_RESPONSE_URL_PREFIX || loopback_port.is_some() {
        Ok(raw)
    } else {
        Err(ConfigError::Invalid {
            variable: vars::SLACK_RESPONSE_URL_PREFIX,
            value: raw,
            expected: "https://hooks.slack.com/ (the default), or http://127.0.0.1:<port>/ in the local stack",
        })
    }
}

/// Whether `url` is plain http to this machine (the local stack): `http://127.0.0.1` or
/// `http://localhost`, then nothing, a port or a path. A bare prefix test would let
/// `http://localhost.evil.example/` (cleartext, off the machine) through.
pub fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost"].iter().any(|host| {
        url.strip_prefix(host).is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
    })
}

pub(in crate::config) fn approval_base_url(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.strip_prefix("https://").is_some_and(|rest| !rest.is_empty()) || is_loopback_http(&raw) {
        Ok(Some(raw.trim_end_matches('/').to_owned()))
    } else {
        Err(ConfigError::Invalid {
            variable: vars::APPROVAL_BASE_URL,
            value: raw,
            expected: "an https:// URL (the approval Function URL), or http://127.0.0.1 in the local stack",
        })
    }
}

/// `OIDC_ISSUER`: `https://` and a host, or loopback http (the local stack's provider), with no
/// whitespace. Kept exactly as written: the provider's discovery document must name the same issuer.
pub(in crate::config) fn oidc_issuer(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let https = raw.strip_prefix("https://").is_some_and(|rest| !rest.is_empty());
    if (https || is_loopback_http(&raw)) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Some(raw))
    } else {
        Err(ConfigError::Invalid {
            variable: vars::OIDC_ISSUER,
            value: raw,
            expected: "the OpenID provider's issuer: an https:// URL (or http://127.0.0.1:<port> in the local stack), no spaces",
        })
    }
}

/// `OIDC_CLIENT_ID`: printable ASCII without spaces (every provider's client ids are).
pub(in crate::config) fn oidc_client_id(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Some(raw))
    } else {
        Err(ConfigError::Invalid {
            variable: vars::OIDC_CLIENT_ID,
            value: raw,
            expected: "the client id the OpenID provider gave keyward (printable characters, no spaces)",
        })
    }
}

/// `APPROVERS`: comma-separated e-mail addresses (`name@domain`) and `sub:<subject>` entries, each
/// of printable ASCII without spaces; empty entries are skipped.
pub(in crate::config) fn approvers(raw: Option<String>) -> Result<Vec<ApproverEntry>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    let mut entries = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let entry = if let Some(subject) = item.strip_prefix("sub:") {
            word(subject).then(|| ApproverEntry::Subject(subject.to_owned()))
        } else {
            item.split_once('@')
                .filter(|(local, domain)| word(local) && word(domain) && !domain.contains('@'))
                .map(|_| ApproverEntry::Email(item.to_owned()))
        };
        let Some(entry) = entry else {
            return Err(ConfigError::Invalid {
                variable: vars::APPROVERS,
                value: raw.clone(),
                expected: "comma-separated e-mail addresses (name@example.com) and sub:<subject> entries, printable characters without spaces",
            });
        };
        entries.push(entry);
    }
    Ok(entries)
}
