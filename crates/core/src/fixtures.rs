//! Builders for tests of keyward and of the crates that use it (feature `fakes`): a fixed
//! evaluation instant, terse users and keys relative to it, and the credential report IAM would
//! generate for those users, so the report and the live reads agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::model::{AccessKey, KeyRef, KeyStatus, KeyUse, Provenance, User, UserArn};
use crate::org::AccountId;
use chrono::{DateTime, Duration, Utc};

/// The evaluation instant of every test (the `evaluated_at` of the sample events).
pub fn now() -> DateTime<Utc> {
    "2026-11-21T06:00:00Z".parse().unwrap()
}

/// `days` whole days before [`now`].
pub fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// The account every fixture user is in (the account of the sample events).
pub const ACCOUNT: &str = "123456789012";

/// [`ACCOUNT`] as an id.
pub fn account() -> AccountId {
    AccountId::parse(ACCOUNT).expect("a 12-digit account id")
}

/// The ARN of user `name` in [`ACCOUNT`].
pub fn user_arn(name: &str) -> UserArn {
    UserArn::parse(&format!("arn:aws:iam::{ACCOUNT}:user/{name}")).expect("a user ARN")
}

/// Key `key_id` of user `user_name` in [`ACCOUNT`].
pub fn key_ref(user_name: &str, key_id: &str) -> KeyRef {
    KeyRef { account_id: account(), user_name: user_name.into(), access_key_id: key_id.into() }
}

/// A user with MFA and no console password and no keys: compliant.
pub fn user(name: &str) -> User {
    User {
        name: name.into(),
        arn: user_arn(name),
        path: "/".into(),
        created: days_ago(400),
        has_console_password: false,
        console_password_source: Provenance::Live,
        mfa_devices: vec![format!("arn:aws:iam::123456789012:mfa/{name}")],
        tags: Default::default(),
        access_keys: vec![],
    }
}

/// An active key created `age` days ago, last used `used` days ago (`None`: never).
pub fn key(id: &str, age: i64, used: Option<i64>) -> AccessKey {
    AccessKey {
        id: id.into(),
        status: KeyStatus::Active,
        created: days_ago(age),
        last_used: used.map(|d| KeyUse {
            at: days_ago(d),
            service: Some("s3".into()),
            region: Some("us-east-1".into()),
        }),
        last_used_source: Provenance::Live,
    }
}

/// `u` with exactly these keys.
pub fn with_keys(mut u: User, keys: Vec<AccessKey>) -> User {
    u.access_keys = keys;
    u
}

/// `u` without MFA, with or without a console password.
pub fn no_mfa(mut u: User, console: bool) -> User {
    u.mfa_devices.clear();
    u.has_console_password = console;
    u
}

/// `two-keys` (no MFA, a console password, an old key AKIA1 used 3 days ago and an inactive fresh
/// key AKIA2 never used) and `no-keys`: the users the credential-report facts tests read.
pub fn two_keys_and_no_keys() -> Vec<User> {
    let mut two = with_keys(no_mfa(user("two-keys"), true), vec![key("AKIA1", 200, Some(3)), key("AKIA2", 10, None)]);
    two.access_keys[1].status = KeyStatus::Inactive;
    vec![two, user("no-keys")]
}

/// The header of the credential report as IAM writes it.
pub const REPORT_HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The credential report IAM would generate for these users (plus the root row). Names must not
/// hold a comma.
pub fn credential_report(users: &[User]) -> String {
    let mut lines = vec![
        REPORT_HEADER.to_owned(),
        "<root_account>,arn:aws:iam::123456789012:root,2019-03-01T08:00:00+00:00,not_supported,no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A".to_owned(),
    ];
    for u in users {
        let mut fields = vec![
            u.name.clone(),
            u.arn.to_string(),
            ts(u.created),
            u.has_console_password.to_string(),
            "N/A".into(),
            "N/A".into(),
            "N/A".into(),
            u.has_mfa().to_string(),
        ];
        for slot in 0..2 {
            match u.access_keys.get(slot) {
                Some(k) => fields.extend([
                    (k.status == KeyStatus::Active).to_string(),
                    ts(k.created),
                    k.last_used.as_ref().map_or("N/A".into(), |u| ts(u.at)),
                    k.last_used.as_ref().and_then(|u| u.region.clone()).unwrap_or_else(|| "N/A".into()),
                    k.last_used.as_ref().and_then(|u| u.service.clone()).unwrap_or_else(|| "N/A".into()),
                ]),
                None => fields.extend(["false", "N/A", "N/A", "N/A", "N/A"].map(str::to_owned)),
            }
        }
        fields.extend(["false", "N/A", "false", "N/A"].map(str::to_owned));
        lines.push(fields.join(","));
    }
    lines.join("\n") + "\n"
}
