//! The IAM facts keyward reasons about (users, their MFA devices, console passwords, tags and access
//! keys) and the identity of a key ([`KeyRef`]: account, user, key id). The facts are plain data,
//! filled by the IAM adapter (live) or the credential-report parser, and read by the policy. Every
//! record that names exactly one key of one user embeds a [`KeyRef`] (with `#[serde(flatten)]`, so
//! its JSON keeps the three fields `account_id`, `user_name` and `access_key_id` at the top level).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::org::AccountId;

/// An IAM user as keyward sees it at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user name (unique in the account).
    pub name: String,
    /// The user's ARN, which names the account the user is in.
    pub arn: UserArn,
    /// The IAM path, `/` by default, e.g. `/breakglass/`.
    pub path: String,
    /// When the user was created.
    pub created: DateTime<Utc>,
    /// Whether the user has a console password (an IAM login profile).
    pub has_console_password: bool,
    /// Where `has_console_password` came from: read live, or the credential report's
    /// `password_enabled` (see [`crate::credential_report::facts`]).
    #[serde(default, skip_serializing_if = "Provenance::is_live")]
    pub console_password_source: Provenance,
    /// Serial numbers (ARNs) of the MFA devices assigned to the user.
    pub mfa_devices: Vec<String>,
    /// The user's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The user's access keys (IAM allows at most two).
    pub access_keys: Vec<AccessKey>,
}

impl User {
    /// Whether the user has at least one MFA device.
    pub fn has_mfa(&self) -> bool {
        !self.mfa_devices.is_empty()
    }

    /// The access keys whose status is `Active`.
    pub fn active_keys(&self) -> impl Iterator<Item = &AccessKey> {
        self.access_keys.iter().filter(|k| k.status == KeyStatus::Active)
    }
}

/// An IAM user's ARN, `arn:<partition>:iam::<account>:user/<path><name>`: checked where it is read,
/// so every [`User`] knows its account and [`KeyRef::of`] cannot lack one. Serialised as the ARN's
/// text; a text that is not a user ARN with an account id is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserArn {
    text: String,
    account: AccountId,
}

impl UserArn {
    /// The ARN, if `text` is an IAM user ARN whose account field is a 12-digit account id.
    pub fn parse(text: &str) -> Option<UserArn> {
        let mut fields = text.splitn(6, ':');
        let (arn, _partition, service, region, account, resource) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let account = AccountId::parse(account)?;
        (arn == "arn" && service == "iam" && region.is_empty() && resource.starts_with("user/"))
            .then(|| UserArn { text: text.to_owned(), account })
    }

    /// The account the user is in.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The ARN as IAM writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for UserArn {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        UserArn::parse(&text).ok_or_else(|| {
            format!("{text:?} is not an IAM user ARN (arn:<partition>:iam::<12-digit account>:user/...)")
        })
    }
}

impl From<UserArn> for String {
    fn from(arn: UserArn) -> String {
        arn.text
    }
}

impl fmt::Display for UserArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Exactly one access key of exactly one user in exactly one account: the identity of a key
/// wherever keyward names one (a planned deactivation, a warning, an inactive key, an approval, an
/// action). Ordered by account, then user, then key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyRef {
    /// The account the user is in.
    pub account_id: AccountId,
    /// The user the key belongs to.
    pub user_name: String,
    /// The key's `AccessKeyId`.
    pub access_key_id: String,
}

impl KeyRef {
    /// The identity of `key`, one of `user`'s access keys, in the account of `user`'s ARN.
    pub fn of(user: &User, key: &AccessKey) -> KeyRef {
        KeyRef { account_id: user.arn.account().clone(), user_name: user.name.clone(), access_key_id: key.id.clone() }
    }

    /// `<account_id>:<access_key_id>`: how the approver's selection names the key (a checkbox's
    /// value), read back by [`crate::decision::Decision::from_approved_ids`].
    pub fn selection(&self) -> String {
        format!("{}:{}", self.account_id, self.access_key_id)
    }
}

/// An IAM access key: exactly one `AccessKeyId` of exactly one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The `AccessKeyId`, e.g. `AKIAIOSFODNN7EXAMPLE`. Never the secret.
    pub id: String,
    /// Whether the key can sign requests.
    pub status: KeyStatus,
    /// When the key was created.
    pub created: DateTime<Utc>,
    /// When, where and for which service the key was last used; `None` if it never was.
    pub last_used: Option<KeyUse>,
    /// Where `last_used` came from: read live (GetAccessKeyLastUsed), or the credential report's
    /// row for this key (see [`crate::credential_report::facts`]).
    #[serde(default, skip_serializing_if = "Provenance::is_live")]
    pub last_used_source: Provenance,
}

impl AccessKey {
    /// The instant from which unused-ness is counted: the last use, or creation for a never-used key.
    pub fn last_activity(&self) -> DateTime<Utc> {
        self.last_used.as_ref().map_or(self.created, |u| u.at)
    }
}

/// Where a fact about a user came from. Everything is read live unless it says otherwise; only a
/// key's last use and the console password may come from the credential report, and only in
/// check-user under `SCREENING=report` (never in the re-check before a deactivation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum Provenance {
    /// Read live from IAM when the user was checked.
    #[default]
    Live,
    /// Taken from the credential report IAM generated at `generated_at`.
    CredentialReport {
        /// The report's generation time (`GeneratedTime`): the fact is as of then.
        generated_at: DateTime<Utc>,
    },
}

impl Provenance {
    /// Whether the fact was read live.
    pub fn is_live(&self) -> bool {
        *self == Provenance::Live
    }

    /// ` (as of the credential report of 2026-11-21 05:12 UTC)` for a fact from the report, empty for a
    /// live one: appended to evidence summaries so a reader sees what a finding rests on.
    pub fn as_of_suffix(&self) -> String {
        match self {
            Provenance::Live => String::new(),
            Provenance::CredentialReport { generated_at } => {
                format!(" (as of the credential report of {})", generated_at.format("%Y-%m-%d %H:%M UTC"))
            }
        }
    }
}

/// Status of an access key, as IAM spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyStatus {
    /// The key can sign requests.
    Active,
    /// The key was deactivated; keyward reports it and never touches it.
    Inactive,
}

/// The last recorded use of an access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// When the key was last used (IAM records this to the hour or better).
    pub at: DateTime<Utc>,
    /// The service it was used with, e.g. `s3`, when IAM knows it.
    pub service: Option<String>,
    /// The region it was used in, e.g. `us-east-1`, when IAM knows it.
    pub region: Option<String>,
}

/// Whole days from `from` to `to`, rounding down; negative when `from` is in the future.
pub fn whole_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::UserArn;

    #[test]
    fn a_user_arn_names_its_account() {
        let arn = UserArn::parse("arn:aws-us-gov:iam::123456789012:user/eng/alice").unwrap();
        assert_eq!(arn.account().as_str(), "123456789012");
        assert_eq!(arn.as_str(), "arn:aws-us-gov:iam::123456789012:user/eng/alice");
    }

    #[test]
    fn a_text_that_is_not_a_user_arn_with_an_account_is_refused() {
        for bad in [
            "",
            "alice",
            "arn:aws:iam:::user/alice",
            "arn:aws:iam::aws:user/alice",
            "arn:aws:iam::12345678901:user/alice",
            "arn:aws:iam::123456789012:role/alice",
            "arn:aws:iam::123456789012:root",
            "arn:aws:s3::123456789012:user/alice",
            "arn:aws:iam:us-east-1:123456789012:user/alice",
        ] {
            assert_eq!(UserArn::parse(bad), None, "{bad:?}");
            assert!(serde_json::from_value::<UserArn>(serde_json::json!(bad)).is_err(), "{bad:?}");
        }
    }
}
