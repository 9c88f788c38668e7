//! Builders shared by this crate's tests: a fixed evaluation instant, terse users and keys relative
//! to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use keyward_core::model::{AccessKey, KeyStatus, KeyUse, User};

/// The evaluation instant of every test (the `evaluated_at` of the sample events).
pub fn now() -> DateTime<Utc> {
    "2026-11-21T06:00:00Z".parse().unwrap()
}

/// `days` whole days before [`now`].
pub fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// A user with MFA and no console password and no keys: compliant.
pub fn user(name: &str) -> User {
    User {
        name: name.into(),
        arn: format!("arn:aws:iam::123456789012:user/{name}"),
        path: "/".into(),
        created: days_ago(400),
        has_console_password: false,
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
