//! The JSON of the records that name exactly one key. Each embeds a `KeyRef` with
//! `#[serde(flatten)]`, so `account_id`, `user_name` and `access_key_id` are top-level fields, in
//! that order, where version 1 of the run report had `user_name` and `access_key_id`.
#![allow(clippy::unwrap_used)]

use keyward_core::fixtures::{key_ref, now};
use keyward_core::model::{KeyRef, Provenance};
use keyward_core::policy::{Evidence, InactiveKey, PlannedDeactivation, Rule, Warning};
use keyward_core::run_report::{ActionOutcome, ActionRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;

const EVIDENCE: &str = r#"{"key_age_days":120,"idle_days":7,"has_console_password":false,"mfa_devices":1,"summary":"key created 120 days ago (limit 90)"}"#;

fn alice() -> KeyRef {
    key_ref("alice", "AKIAALICE1")
}

fn evidence() -> Evidence {
    Evidence {
        key_age_days: Some(120),
        idle_days: Some(7),
        last_used: None,
        last_used_source: Provenance::Live,
        has_console_password: false,
        console_password_source: Provenance::Live,
        mfa_devices: 1,
        summary: "key created 120 days ago (limit 90)".into(),
    }
}

/// `value` serialises to exactly `json`, and `json` reads back as `value`.
fn assert_json<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T, json: &str) {
    assert_eq!(serde_json::to_string(value).unwrap(), json);
    assert_eq!(&serde_json::from_str::<T>(json).unwrap(), value);
}

#[test]
fn a_planned_deactivation_keeps_user_and_key_at_the_top() {
    let planned = PlannedDeactivation { key: alice(), rules: vec![Rule::KeyTooOld], evidence: evidence() };
    let json = format!(
        r#"{{"account_id":"123456789012","user_name":"alice","access_key_id":"AKIAALICE1","rules":["key-too-old"],"evidence":{EVIDENCE}}}"#
    );
    assert_json(&planned, &json);
}

#[test]
fn a_warning_keeps_user_and_key_after_the_rule() {
    let warning = Warning { rule: Rule::KeyUnused, key: alice(), days_left: 3, evidence: evidence() };
    let json = format!(
        r#"{{"rule":"key-unused","account_id":"123456789012","user_name":"alice","access_key_id":"AKIAALICE1","days_left":3,"evidence":{EVIDENCE}}}"#
    );
    assert_json(&warning, &json);
}

#[test]
fn an_inactive_key_keeps_user_and_key_at_the_top() {
    let inactive = InactiveKey { key: alice(), key_age_days: 400 };
    assert_json(
        &inactive,
        r#"{"account_id":"123456789012","user_name":"alice","access_key_id":"AKIAALICE1","key_age_days":400}"#,
    );
}

#[test]
fn an_action_record_keeps_user_and_key_at_the_top() {
    let action = ActionRecord { key: alice(), at: now(), outcome: ActionOutcome::Deactivated };
    assert_json(
        &action,
        r#"{"account_id":"123456789012","user_name":"alice","access_key_id":"AKIAALICE1","at":"2026-11-21T06:00:00Z","outcome":{"kind":"deactivated"}}"#,
    );
}

#[test]
fn a_record_without_its_account_user_or_key_is_refused() {
    let no_user = r#"{"account_id":"123456789012","access_key_id":"AKIAALICE1","key_age_days":400}"#;
    assert!(serde_json::from_str::<InactiveKey>(no_user).is_err());
    let no_key = r#"{"account_id":"123456789012","user_name":"alice","at":"2026-11-21T06:00:00Z","outcome":{"kind":"deactivated"}}"#;
    assert!(serde_json::from_str::<ActionRecord>(no_key).is_err());
    let no_account = r#"{"user_name":"alice","access_key_id":"AKIAALICE1","key_age_days":400}"#;
    assert!(serde_json::from_str::<InactiveKey>(no_account).is_err());
    let bad_account = r#"{"account_id":"1234","user_name":"alice","access_key_id":"AKIAALICE1","key_age_days":400}"#;
    assert!(serde_json::from_str::<InactiveKey>(bad_account).is_err());
}
