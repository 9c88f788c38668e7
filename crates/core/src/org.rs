//! An AWS Organization as keyward sweeps it: account and OU ids ([`AccountId`], [`OuId`]), the
//! `ORG_INCLUDE` / `ORG_EXCLUDE` filters ([`AccountFilter::parse`]), and which discovered accounts
//! a run sweeps ([`select`]). The selection never loses an account: every discovered account is
//! either swept or named in [`Selection::not_swept`] with the reason, so a coverage section built
//! from it is never silently partial.
//!
//! This module uses no other module of the crate: `config` parses the two variables with
//! [`AccountFilter::parse`], whose [`FilterError`] has the fields of `ConfigError::Invalid`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// The id, if `text` is exactly 12 ASCII digits (Organizations' `^\d{12}$`).
    pub fn parse(text: &str) -> Option<AccountId> {
        (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())).then(|| AccountId(text.to_owned()))
    }

    /// The account in an ARN (`arn:aws:states:us-east-1:123456789012:execution:keyward:x`,
    /// `arn:aws:iam::123456789012:user/alice`), when the ARN has one: its fifth field, if that is
    /// an account id.
    pub fn of_arn(arn: &str) -> Option<AccountId> {
        AccountId::parse(arn.split(':').nth(4)?)
    }

    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        AccountId::parse(&text).ok_or_else(|| format!("{text:?} is not a 12-digit account id"))
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organizational unit id: `ou-`, 4–32 lowercase letters or digits (the root's part), `-`, 8–32
/// lowercase letters or digits; the Organizations API reference's pattern
/// `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OuId(String);

impl OuId {
    /// The id, if `text` matches the pattern exactly (upper case is not an OU id).
    pub fn parse(text: &str) -> Option<OuId> {
        let (root, unit) = text.strip_prefix("ou-")?.split_once('-')?;
        let part = |s: &str, min: usize| {
            (min..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        (part(root, 4) && part(unit, 8)).then(|| OuId(text.to_owned()))
    }

    /// The id as Organizations writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OuId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        OuId::parse(&text).ok_or_else(|| format!("{text:?} is not an OU id (ou-<4-32>-<8-32>, lowercase)"))
    }
}

impl From<OuId> for String {
    fn from(id: OuId) -> String {
        id.0
    }
}

impl fmt::Display for OuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of `ORG_INCLUDE` or `ORG_EXCLUDE`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "id")]
pub enum FilterEntry {
    /// One account.
    Account(AccountId),
    /// Every account under this OU, at any depth.
    Ou(OuId),
}

impl fmt::Display for FilterEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterEntry::Account(id) => id.fmt(f),
            FilterEntry::Ou(id) => id.fmt(f),
        }
    }
}

/// What [`AccountFilter::parse`] says a bad entry should have been.
pub const FILTER_EXPECTED: &str = "comma-separated 12-digit account ids and OU ids (ou-<4-32 lowercase letters or digits>-<8-32 lowercase letters or digits>), e.g. 111122223333,ou-ab12-cd34ef56";

/// An entry of `ORG_INCLUDE` / `ORG_EXCLUDE` that is neither an account id nor an OU id. The fields
/// are `ConfigError::Invalid`'s, with the bad entry as the value (the variable's other entries are
/// fine and are not repeated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} entry {entry:?} is not valid: expected {expected}")]
pub struct FilterError {
    /// `ORG_INCLUDE` or `ORG_EXCLUDE`.
    pub variable: &'static str,
    /// The entry, trimmed.
    pub entry: String,
    /// [`FILTER_EXPECTED`].
    pub expected: &'static str,
}

/// The accounts and OUs one of `ORG_INCLUDE` / `ORG_EXCLUDE` names; empty when it names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFilter {
    /// The variable it was read from, for the reasons and warnings that name it.
    variable: &'static str,
    entries: BTreeSet<FilterEntry>,
}

impl AccountFilter {
    /// A filter naming nothing, as an unset `variable` reads.
    pub fn none(variable: &'static str) -> AccountFilter {
        AccountFilter { variable, entries: BTreeSet::new() }
    }

    /// `variable`'s value (`None`: unset) as a filter: comma-separated account ids and OU ids,
    /// blanks around them trimmed, empty entries skipped, a repeated entry kept once. The first
    /// entry that is neither is a [`FilterError`] naming it and the variable.
    pub fn parse(variable: &'static str, raw: Option<String>) -> Result<AccountFilter, FilterError> {
        let mut filter = AccountFilter::none(variable);
        let Some(raw) = raw else { return Ok(filter) };
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let entry = match (AccountId::parse(item), OuId::parse(item)) {
                (Some(account), _) => FilterEntry::Account(account),
                (None, Some(ou)) => FilterEntry::Ou(ou),
                (None, None) => {
                    return Err(FilterError { variable, entry: item.to_owned(), expected: FILTER_EXPECTED });
                }
            };
            filter.entries.insert(entry);
        }
        Ok(filter)
    }

    /// The variable this filter was read from.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Whether it names nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Its entries, in order (accounts, then OUs).
    pub fn entries(&self) -> impl Iterator<Item = &FilterEntry> {
        self.entries.iter()
    }

    /// The entry that names `account`: its id, else the nearest OU of its chain that is listed.
    fn matching(&self, account: &OrgAccount) -> Option<FilterEntry> {
        let by_id = FilterEntry::Account(account.id.clone());
        if self.entries.contains(&by_id) {
            return Some(by_id);
        }
        account.ous.iter().map(|ou| FilterEntry::Ou(ou.clone())).find(|entry| self.entries.contains(entry))
    }
}

/// An account's `State` as Organizations reports it (the `Status` field is retired and never read).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AccountState {
    /// `PENDING_ACTIVATION`.
    PendingActivation,
    /// `ACTIVE`: the only state keyward sweeps.
    Active,
    /// `SUSPENDED`.
    Suspended,
    /// `PENDING_CLOSURE`.
    PendingClosure,
    /// `CLOSED`.
    Closed,
    /// A state this version of keyward does not know, kept as Organizations wrote it: not active.
    Other(String),
}

impl AccountState {
    /// The state from Organizations' text.
    pub fn from_api(text: &str) -> AccountState {
        match text {
            "PENDING_ACTIVATION" => AccountState::PendingActivation,
            "ACTIVE" => AccountState::Active,
            "SUSPENDED" => AccountState::Suspended,
            "PENDING_CLOSURE" => AccountState::PendingClosure,
            "CLOSED" => AccountState::Closed,
            other => AccountState::Other(other.to_owned()),
        }
    }

    /// The state as Organizations writes it (`ACTIVE`, `SUSPENDED`, …).
    pub fn as_str(&self) -> &str {
        match self {
            AccountState::PendingActivation => "PENDING_ACTIVATION",
            AccountState::Active => "ACTIVE",
            AccountState::Suspended => "SUSPENDED",
            AccountState::PendingClosure => "PENDING_CLOSURE",
            AccountState::Closed => "CLOSED",
            AccountState::Other(text) => text,
        }
    }
}

impl From<String> for AccountState {
    fn from(text: String) -> AccountState {
        AccountState::from_api(&text)
    }
}

impl From<AccountState> for String {
    fn from(state: AccountState) -> String {
        state.as_str().to_owned()
    }
}

/// One account of the organisation, as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgAccount {
    /// The account id.
    pub id: AccountId,
    /// The account's name (shown beside the id on every line of the digest).
    pub name: String,
    /// Its `State`.
    pub state: AccountState,
    /// The OUs it is under: its direct parent first, up to (not including) the root. Empty for an
    /// account directly under the root.
    pub ous: Vec<OuId>,
}

/// Why a discovered account is not swept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum NotSwept {
    /// `ORG_EXCLUDE` names the account or an OU it is under (exclusion wins over inclusion).
    Excluded {
        /// The entry that excludes it.
        by: FilterEntry,
    },
    /// `ORG_INCLUDE` is set and names neither the account nor any OU it is under.
    NotIncluded,
    /// Its state is not `ACTIVE`: a suspended or closing account cannot be swept.
    NotActive {
        /// The state.
        state: AccountState,
    },
}

impl fmt::Display for NotSwept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotSwept::Excluded { by } => write!(f, "excluded (ORG_EXCLUDE names {by})"),
            NotSwept::NotIncluded => f.write_str("not-included (ORG_INCLUDE names neither it nor an OU it is under)"),
            NotSwept::NotActive { state } => write!(f, "not-active: {}", state.as_str()),
        }
    }
}

/// A discovered account that is not swept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unswept {
    /// The account.
    pub account: OrgAccount,
    /// Why.
    pub why: NotSwept,
}

/// An entry of a filter that names no discovered account (an account outside the organisation, an
/// OU with no account under it, or a typo): worth a warning, since an exclusion that matches
/// nothing protects nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedEntry {
    /// `ORG_INCLUDE` or `ORG_EXCLUDE`.
    pub variable: String,
    /// The entry.
    pub entry: FilterEntry,
}

/// Which discovered accounts a run sweeps. Every discovered account is in exactly one of `swept`
/// and `not_swept` (an id discovered twice counts once), each list ordered by account id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// The accounts to sweep.
    pub swept: Vec<OrgAccount>,
    /// The accounts not swept, each with its reason.
    pub not_swept: Vec<Unswept>,
    /// Filter entries that match no discovered account, include's first.
    pub unmatched: Vec<UnmatchedEntry>,
}

/// Selects the accounts to sweep from those discovered: with `include` empty every account, else
/// those it names or that are under an OU it names (at any depth); minus those `exclude` names the
/// same way (exclusion wins); and of those only the `ACTIVE` ones. An account is given the first
/// reason that applies, in that order: excluded, not included, not active; so the reason shown is
/// the operator's own choice when there is one.
pub fn select(discovered: Vec<OrgAccount>, include: &AccountFilter, exclude: &AccountFilter) -> Selection {
    let mut by_id = BTreeMap::new();
    for account in discovered {
        by_id.entry(account.id.clone()).or_insert(account);
    }
    let mut matched = BTreeSet::new();
    let mut swept = Vec::new();
    let mut not_swept = Vec::new();
    for account in by_id.into_values() {
        let included = include.matching(&account);
        let excluded = exclude.matching(&account);
        let why = match (&included, excluded) {
            (_, Some(by)) => {
                matched.insert((exclude.variable, by.clone()));
                Some(NotSwept::Excluded { by })
            }
            (None, None) if !include.is_empty() => Some(NotSwept::NotIncluded),
            _ if account.state != AccountState::Active => Some(NotSwept::NotActive { state: account.state.clone() }),
            _ => None,
        };
        if let Some(entry) = included {
            matched.insert((include.variable, entry));
        }
        match why {
            Some(why) => not_swept.push(Unswept { account, why }),
            None => swept.push(account),
        }
    }
    let unmatched = [include, exclude]
        .into_iter()
        .flat_map(|filter| filter.entries().map(move |entry| (filter.variable, entry)))
        .filter(|(variable, entry)| !matched.contains(&(*variable, (*entry).clone())))
        .map(|(variable, entry)| UnmatchedEntry { variable: variable.to_owned(), entry: entry.clone() })
        .collect();
    Selection { swept, not_swept, unmatched }
}

/// Why an account selected for the sweep was not swept: written to
/// `runs/<exec>/accounts/<id>/failure.json` by the Map over accounts' catch (from Step Functions'
/// `Error` and `Cause`), read into the run report's coverage. `reason` says what failed, `fix` what
/// an operator does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFailure {
    /// The account.
    pub account_id: AccountId,
    /// The error name (`MemberRoleRefused`, `IamThrottled`, `States.Timeout`, …).
    pub error: String,
    /// What failed: the function's error message, or Step Functions' cause.
    pub reason: String,
    /// What to do about it.
    pub fix: String,
}

/// The error name of a sweep that left neither a listing nor a failure record.
pub const NOT_RECORDED: &str = "NotRecorded";

/// At most this many characters of a cause are kept (Step Functions' own limit is 32,768).
const REASON_CHARS: usize = 1_000;

impl AccountFailure {
    /// The failure of `account`'s sweep from Step Functions' `error` and `cause` (a Lambda
    /// function's cause is `{"errorMessage": …, "errorType": …}`: its message is the reason).
    pub fn new(account_id: AccountId, error: &str, cause: &str, read_role: &str) -> AccountFailure {
        let message = serde_json::from_str::<serde_json::Value>(cause)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| cause.to_owned());
        let reason = if message.trim().is_empty() { format!("{error} (no cause given)") } else { message };
        let fix = fix_for(&account_id, error, read_role);
        AccountFailure { account_id, error: error.to_owned(), reason: reason.chars().take(REASON_CHARS).collect(), fix }
    }

    /// The account whose sweep ended without saying why (its catch could not record it).
    pub fn not_recorded(account_id: AccountId) -> AccountFailure {
        AccountFailure {
            fix: "look up the account's child execution in the run's Map Run (Step Functions console), fix what it \
                  names, and run again"
                .to_owned(),
            reason: "the sweep of this account left neither a listing nor a failure record".to_owned(),
            error: NOT_RECORDED.to_owned(),
            account_id,
        }
    }
}

fn fix_for(account: &AccountId, error: &str, read_role: &str) -> String {
    match error {
        "MemberRoleRefused" => format!(
            "role {read_role} missing or not trusting keyward: the StackSet of member/keyward-member.yaml does not \
             cover account {account} (add its OU, or deploy the plain stack in the management account)"
        ),
        "IamThrottled" | "AwsThrottled" => {
            "IAM throttled the sweep past its retries: lower IAM_MAX_RPS or MAX_CONCURRENCY, or move the schedule away \
             from other IAM-heavy tools"
                .to_owned()
        }
        "AwsCallFailed" => format!(
            "an AWS call failed (AccessDenied: the role {read_role} in account {account} may have drifted from \
             member/keyward-member.yaml: update the StackSet instance)"
        ),
        "CredentialReportInvalid" => {
            "IAM's credential report could not be read: see the reason, and report it if AWS changed its format"
                .to_owned()
        }
        _ => "see the reason and the account's child execution in the run's Map Run, then run again".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn account(id: &str, state: &str, ous: &[&str]) -> OrgAccount {
        OrgAccount {
            id: AccountId::parse(id).unwrap(),
            name: format!("name-{id}"),
            state: AccountState::from_api(state),
            ous: ous.iter().map(|ou| OuId::parse(ou).unwrap()).collect(),
        }
    }

    fn filter(variable: &'static str, raw: &str) -> AccountFilter {
        AccountFilter::parse(variable, Some(raw.to_owned())).unwrap()
    }

    const PROD: &str = "ou-ab12-prod0001";
    const TEAM: &str = "ou-ab12-team0001";

    #[test]
    fn account_ids_are_exactly_twelve_digits() {
        assert!(AccountId::parse("111122223333").is_some());
        for bad in ["11112222333", "1111222233334", "11112222333a", " 111122223333", "１１１１２２２２３３３３", ""]
        {
            assert_eq!(AccountId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_account_of_an_arn_is_its_fifth_field_when_it_is_twelve_digits() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:list-users";
        assert_eq!(AccountId::of_arn(arn).unwrap().as_str(), "123456789012");
        assert_eq!(AccountId::of_arn("arn:aws:iam::123456789012:user/alice").unwrap().as_str(), "123456789012");
        for not_one in ["", "arn:aws:lambda:us-east-1", "arn:aws:lambda:us-east-1:anonymous:function:x", "a:b:c:d:1234"]
        {
            assert_eq!(AccountId::of_arn(not_one), None, "{not_one:?}");
        }
    }

    #[test]
    fn ou_ids_follow_the_organizations_pattern() {
        for good in ["ou-ab12-cd34ef56", "ou-0000-00000000", &format!("ou-{}-{}", "a".repeat(32), "9".repeat(32))] {
            assert!(OuId::parse(good).is_some(), "{good}");
        }
        for bad in [
            "ou-abc-cd34ef56",
            "ou-ab12-cd34ef5",
            "OU-ab12-cd34ef56",
            "ou-AB12-cd34ef56",
            "ou-ab12-cd34ef56-x",
            "ou-ab12_cd34ef56",
            "r-ab12",
            "ou-ab12-",
            &format!("ou-{}-cd34ef56", "a".repeat(33)),
            &format!("ou-ab12-{}", "a".repeat(33)),
        ] {
            assert_eq!(OuId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_filter_takes_account_and_ou_ids_trimmed_and_skips_blanks() {
        let f = filter("ORG_INCLUDE", " 111122223333 ,, ou-ab12-cd34ef56,111122223333 ");
        let entries: Vec<String> = f.entries().map(ToString::to_string).collect();
        assert_eq!(entries, ["111122223333", "ou-ab12-cd34ef56"]);
        assert!(AccountFilter::parse("ORG_INCLUDE", None).unwrap().is_empty());
        assert!(filter("ORG_INCLUDE", " , ").is_empty());
    }

    #[test]
    fn a_bad_entry_is_an_error_naming_the_entry_and_the_variable() {
        for (raw, entry) in [
            ("111122223333, 12345", "12345"),
            ("ou-AB12-cd34ef56", "ou-AB12-cd34ef56"),
            ("r-ab12", "r-ab12"),
            ("111122223333;444455556666", "111122223333;444455556666"),
            ("prod accounts", "prod accounts"),
        ] {
            let err = AccountFilter::parse("ORG_EXCLUDE", Some(raw.to_owned())).unwrap_err();
            assert_eq!(err.variable, "ORG_EXCLUDE");
            assert_eq!(err.entry, entry);
            let text = err.to_string();
            assert!(text.starts_with(&format!("ORG_EXCLUDE entry {entry:?} is not valid")), "{text}");
            assert!(text.contains("12-digit account ids and OU ids"), "{text}");
        }
    }

    #[test]
    fn without_include_every_active_account_is_swept() {
        let s = select(
            vec![account("222222222222", "ACTIVE", &[]), account("111111111111", "ACTIVE", &[PROD])],
            &AccountFilter::none("ORG_INCLUDE"),
            &AccountFilter::none("ORG_EXCLUDE"),
        );
        let ids: Vec<&str> = s.swept.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222"], "ordered by id");
        assert!(s.not_swept.is_empty() && s.unmatched.is_empty());
    }

    #[test]
    fn an_ou_includes_the_accounts_under_it_at_any_depth_and_exclusion_wins() {
        let accounts = vec![
            account("111111111111", "ACTIVE", &[PROD]),
            account("222222222222", "ACTIVE", &[TEAM, PROD]),
            account("333333333333", "ACTIVE", &[]),
            account("444444444444", "ACTIVE", &[TEAM, PROD]),
        ];
        let s = select(accounts, &filter("ORG_INCLUDE", PROD), &filter("ORG_EXCLUDE", "444444444444"));
        let ids: Vec<&str> = s.swept.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222"]);
        let why: Vec<(&str, String)> = s.not_swept.iter().map(|u| (u.account.id.as_str(), u.why.to_string())).collect();
        assert_eq!(
            why,
            [
                ("333333333333", "not-included (ORG_INCLUDE names neither it nor an OU it is under)".to_owned()),
                ("444444444444", "excluded (ORG_EXCLUDE names 444444444444)".to_owned()),
            ]
        );
    }

    #[test]
    fn excluding_an_ou_excludes_its_nested_accounts_even_when_included_by_id() {
        let s = select(
            vec![account("222222222222", "ACTIVE", &[TEAM, PROD])],
            &filter("ORG_INCLUDE", "222222222222"),
            &filter("ORG_EXCLUDE", PROD),
        );
        assert!(s.swept.is_empty());
        assert_eq!(s.not_swept[0].why, NotSwept::Excluded { by: FilterEntry::Ou(OuId::parse(PROD).unwrap()) });
    }

    #[test]
    fn an_account_that_is_not_active_is_named_with_its_state() {
        let s = select(
            vec![account("111111111111", "SUSPENDED", &[]), account("222222222222", "SOMETHING_NEW", &[])],
            &AccountFilter::none("ORG_INCLUDE"),
            &AccountFilter::none("ORG_EXCLUDE"),
        );
        assert!(s.swept.is_empty());
        let why: Vec<String> = s.not_swept.iter().map(|u| u.why.to_string()).collect();
        assert_eq!(why, ["not-active: SUSPENDED", "not-active: SOMETHING_NEW"]);
    }

    #[test]
    fn entries_that_match_no_account_are_reported() {
        let s = select(
            vec![account("111111111111", "ACTIVE", &[PROD])],
            &filter("ORG_INCLUDE", &format!("{PROD},999999999999")),
            &filter("ORG_EXCLUDE", TEAM),
        );
        let unmatched: Vec<(String, String)> =
            s.unmatched.iter().map(|u| (u.variable.clone(), u.entry.to_string())).collect();
        assert_eq!(
            unmatched,
            [("ORG_INCLUDE".to_owned(), "999999999999".to_owned()), ("ORG_EXCLUDE".to_owned(), TEAM.to_owned())]
        );
    }

    #[test]
    fn the_selection_serialises_for_the_coverage_section() {
        let s = select(
            vec![account("111111111111", "SUSPENDED", &[])],
            &AccountFilter::none("ORG_INCLUDE"),
            &AccountFilter::none("ORG_EXCLUDE"),
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["not_swept"][0]["why"], serde_json::json!({"reason": "not-active", "state": "SUSPENDED"}));
        assert_eq!(json["not_swept"][0]["account"]["id"], "111111111111");
        let back: Selection = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_failure_keeps_a_functions_message_and_says_what_to_fix() {
        let id = AccountId::parse("222233334444").unwrap();
        let cause = r#"{"errorType":"MemberRoleRefused","errorMessage":"cannot assume role keyward-read in account 222233334444 (AccessDenied)"}"#;
        let f = AccountFailure::new(id.clone(), "MemberRoleRefused", cause, "keyward-read");
        assert_eq!(f.reason, "cannot assume role keyward-read in account 222233334444 (AccessDenied)");
        assert!(f.fix.contains("role keyward-read missing") && f.fix.contains("222233334444"), "{}", f.fix);

        let f = AccountFailure::new(id.clone(), "States.Timeout", "", "keyward-read");
        assert_eq!(f.reason, "States.Timeout (no cause given)");
        let f = AccountFailure::new(id.clone(), "IamThrottled", &"x".repeat(5_000), "keyward-read");
        assert_eq!(f.reason.len(), 1_000);
        assert!(f.fix.contains("IAM_MAX_RPS"));
        assert_eq!(AccountFailure::not_recorded(id).error, NOT_RECORDED);
    }
}
