//! IamAdapter against aws-smithy-mocks: paging, throttling and retries, NoSuchEntity, every
//! credential-report state, the one write (UpdateAccessKey Inactive), rate limiting and call counts.
//! Time is paused, so SDK backoffs, report polls and the rate limiter cost no wall time and their
//! waits can be asserted exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::generate_credential_report::{
    GenerateCredentialReportError, GenerateCredentialReportOutput,
};
use aws_sdk_iam::operation::get_access_key_last_used::{GetAccessKeyLastUsedError, GetAccessKeyLastUsedOutput};
use aws_sdk_iam::operation::get_credential_report::{GetCredentialReportError, GetCredentialReportOutput};
use aws_sdk_iam::operation::get_login_profile::{GetLoginProfileError, GetLoginProfileOutput};
use aws_sdk_iam::operation::get_user::{GetUserError, GetUserOutput};
use aws_sdk_iam::operation::list_access_keys::{ListAccessKeysError, ListAccessKeysOutput};
use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
use aws_sdk_iam::operation::list_user_tags::ListUserTagsOutput;
use aws_sdk_iam::operation::list_users::{ListUsersError, ListUsersOutput};
use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput;
use aws_sdk_iam::types::error::{
    CredentialReportExpiredException, CredentialReportNotPresentException, CredentialReportNotReadyException,
    LimitExceededException, NoSuchEntityException,
};
use aws_sdk_iam::types::{
    AccessKeyLastUsed, AccessKeyMetadata, LoginProfile, MfaDevice, ReportFormatType, ReportStateType, StatusType, Tag,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::Blob;
use aws_smithy_types::retry::RetryConfig;
use chrono::{DateTime, Utc};
use keyward_aws::iam::{IamAdapter, ReportWait};
use keyward_core::credential_report::facts::{ReportedKey, ReportedUser, with_report_facts};
use keyward_core::model::{KeyStatus, KeyUse, Provenance};
use keyward_core::ports::{CredentialReport, Iam, PortError, UserSummary};
use tokio::time::Instant;

const CREATED: i64 = 1_700_000_000;
const USED: i64 = 1_710_000_000;
const REPORT: &[u8] =
    b"user,arn,user_creation_time\nalice,arn:aws:iam::123456789012:user/alice,2023-11-14T22:13:20+00:00\n";

/// An adapter over a mocked client whose SDK retries up to 3 attempts with millisecond backoff.
fn adapter(rules: &[&Rule]) -> IamAdapter {
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules, |c| {
        c.retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)))
    });
    IamAdapter::from_client(client, 1000.0)
}

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn smithy_time(secs: i64) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(secs)
}

fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn iam_user(name: &str, path: &str) -> aws_sdk_iam::types::User {
    aws_sdk_iam::types::User::builder()
        .user_name(name)
        .user_id(format!("AIDA{}", name.to_uppercase()))
        .arn(format!("arn:aws:iam::123456789012:user{path}{name}"))
        .path(path)
        .create_date(smithy_time(CREATED))
        .build()
        .unwrap()
}

fn users_page(names: &[&str], next: Option<&str>) -> ListUsersOutput {
    ListUsersOutput::builder()
        .set_users(Some(names.iter().map(|n| iam_user(n, "/")).collect()))
        .is_truncated(next.is_some())
        .set_marker(next.map(str::to_owned))
        .build()
        .unwrap()
}

fn key(id: &str, status: StatusType) -> AccessKeyMetadata {
    key_created(id, status, CREATED)
}

fn key_created(id: &str, status: StatusType, created: i64) -> AccessKeyMetadata {
    AccessKeyMetadata::builder()
        .user_name("alice")
        .access_key_id(id)
        .status(status)
        .create_date(smithy_time(created))
        .build()
}

fn keys_page(keys: Vec<AccessKeyMetadata>, next: Option<&str>) -> ListAccessKeysOutput {
    ListAccessKeysOutput::builder()
        .set_access_key_metadata(Some(keys))
        .is_truncated(next.is_some())
        .set_marker(next.map(str::to_owned))
        .build()
        .unwrap()
}

fn last_used(date: Option<i64>, service: &str, region: &str) -> GetAccessKeyLastUsedOutput {
    GetAccessKeyLastUsedOutput::builder()
        .user_name("alice")
        .access_key_last_used(
            AccessKeyLastUsed::builder()
                .set_last_used_date(date.map(smithy_time))
                .service_name(service)
                .region(region)
                .build()
                .unwrap(),
        )
        .build()
}

fn no_such_entity(what: &str) -> NoSuchEntityException {
    let message = format!("The {what} cannot be found.");
    NoSuchEntityException::builder().message(&message).meta(meta("NoSuchEntity", &message)).build()
}

fn throttling() -> ErrorMetadata {
    meta("Throttling", "Rate exceeded")
}

/// Rules for every read of `read_user("alice")` with one page each: no MFA, no login profile, no
/// tags, no keys. Tests put their own rules first to override one of them.
fn quiet_alice() -> Vec<Rule> {
    vec![
        mock!(Client::get_user)
            .match_requests(|r| r.user_name() == Some("alice"))
            .then_output(|| GetUserOutput::builder().user(iam_user("alice", "/")).build()),
        mock!(Client::list_user_tags)
            .then_output(|| ListUserTagsOutput::builder().set_tags(Some(vec![])).is_truncated(false).build().unwrap()),
        mock!(Client::list_mfa_devices).then_output(|| {
            ListMfaDevicesOutput::builder().set_mfa_devices(Some(vec![])).is_truncated(false).build().unwrap()
        }),
        mock!(Client::get_login_profile)
            .then_error(|| GetLoginProfileError::NoSuchEntityException(no_such_entity("Login Profile for User alice"))),
        mock!(Client::list_access_keys).then_output(|| keys_page(vec![], None)),
        mock!(Client::get_access_key_last_used).then_output(|| last_used(None, "N/A", "N/A")),
    ]
}

fn with_quiet_alice(first: Vec<Rule>) -> Vec<Rule> {
    first.into_iter().chain(quiet_alice()).collect()
}

fn refs(rules: &[Rule]) -> Vec<&Rule> {
    rules.iter().collect()
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn csv_report() -> GetCredentialReportOutput {
    GetCredentialReportOutput::builder()
        .content(Blob::new(REPORT))
        .report_format(ReportFormatType::TextCsv)
        .generated_time(smithy_time(USED))
        .build()
}

fn report_state(state: ReportStateType) -> GenerateCredentialReportOutput {
    GenerateCredentialReportOutput::builder().state(state).build()
}

fn short_wait() -> ReportWait {
    ReportWait {
        max_wait: Duration::from_secs(10),
        first_poll: Duration::from_secs(1),
        max_poll: Duration::from_secs(4),
    }
}

// ---- ListUsers ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn list_users_returns_every_user_across_three_pages() {
    let first = mock!(Client::list_users)
        .match_requests(|r| r.marker().is_none() && r.max_items() == Some(1000))
        .then_output(|| users_page(&["alice", "bob"], Some("m1")));
    let second = mock!(Client::list_users)
        .match_requests(|r| r.marker() == Some("m1"))
        .then_output(|| users_page(&["carol"], Some("m2")));
    let third = mock!(Client::list_users)
        .match_requests(|r| r.marker() == Some("m2"))
        .then_output(|| users_page(&["dave"], None));
    let iam = adapter(&[&first, &second, &third]);

    let users = iam.list_users().await.unwrap();

    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave"]);
    assert_eq!(users[0], UserSummary { name: "alice".into(), path: "/".into() });
    assert_eq!(iam.api_calls(), calls(&[("iam:ListUsers", 3)]), "one count per page");
}

#[tokio::test(start_paused = true)]
async fn a_truncated_page_without_a_marker_is_an_error_not_the_end() {
    let page = mock!(Client::list_users).then_output(|| {
        ListUsersOutput::builder().set_users(Some(vec![iam_user("alice", "/")])).is_truncated(true).build().unwrap()
    });
    let iam = adapter(&[&page]);

    let err = iam.list_users().await.unwrap_err();

    assert!(matches!(err, PortError::Failed { operation: "ListUsers", ref message } if message.contains("marker")));
}

// ---- Throttling and other failures -------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_throttled_call_is_retried_by_the_sdk_and_succeeds() {
    let rule = mock!(Client::list_users)
        .sequence()
        .error(|| ListUsersError::generic(throttling()))
        .times(2)
        .output(|| users_page(&["alice"], None))
        .build();
    let iam = adapter(&[&rule]);

    let users = iam.list_users().await.unwrap();

    assert_eq!(users.len(), 1);
    assert_eq!(rule.num_calls(), 3, "two throttled attempts, then success");
    assert_eq!(iam.api_calls(), calls(&[("iam:ListUsers", 1)]), "the adapter counts requests, not SDK attempts");
}

#[tokio::test(start_paused = true)]
async fn throttling_past_every_retry_is_a_throttled_error() {
    let rule = mock!(Client::list_users).sequence().error(|| ListUsersError::generic(throttling())).times(3).build();
    let iam = adapter(&[&rule]);

    let err = iam.list_users().await.unwrap_err();

    assert_eq!(err, PortError::IamThrottled { operation: "ListUsers" });
    assert_eq!(rule.num_calls(), 3, "the SDK made all three attempts");
}

/// The SDK's clock following tokio's (paused) one. The mocked client's default clock stands
/// still, and adaptive retries measure their client-side send rate on it.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    started: std::time::SystemTime,
    at: Instant,
}

impl aws_smithy_async::time::TimeSource for TokioClock {
    fn now(&self) -> std::time::SystemTime {
        self.started + self.at.elapsed()
    }
}

/// An adapter over a mocked client with the retry and timeout settings the Lambdas use
/// (`keyward_aws::sdk`): adaptive retries, 10 attempts, 60 s per call, 20 s per attempt.
/// The SDK keeps the retry quota and adaptive mode's send rate per retry partition for the whole
/// process: these clients get a partition of their own, so a storm cannot drain the quota of the
/// other tests running beside it, and share `clock`, so time never runs backwards for it.
fn production_adapter(rules: &[&Rule], clock: TokioClock) -> IamAdapter {
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules, |c| {
        c.retry_config(keyward_aws::sdk::retry_config())
            .timeout_config(keyward_aws::sdk::timeout_config())
            .time_source(clock)
            .retry_partition(aws_sdk_iam::config::retry::RetryPartition::new("keyward-throttling-storm"))
    });
    IamAdapter::from_client(client, 1000.0)
}

#[tokio::test(start_paused = true)]
async fn a_throttling_storm_is_retried_within_bounds_then_iam_throttled_never_no_mfa() {
    let clock = TokioClock { started: std::time::SystemTime::UNIX_EPOCH, at: Instant::now() };
    // Backoff is jittered: run the storm many times so a rare schedule cannot hide.
    for storm in 0..25 {
        // GIVEN IAM answers every ListMFADevices with Throttling
        let mut rules = vec![
            mock!(Client::list_mfa_devices)
                .sequence()
                .error(|| aws_sdk_iam::operation::list_mfa_devices::ListMFADevicesError::generic(throttling()))
                .repeatedly()
                .build(),
        ];
        rules.extend(quiet_alice());
        let iam = production_adapter(&refs(&rules), clock);
        let start = Instant::now();

        // WHEN alice is read, fully live and with the report's facts
        let live = iam.read_user("alice").await;
        let with_facts = iam.read_user_with_report("alice", &reported_alice(&[]), utc(REPORTED_AT)).await;

        // THEN each read gave up within the SDK's attempts and the 60 s bound of a call, and says
        // IamThrottled: never a user without MFA
        for read in [live, with_facts] {
            let err = read.unwrap_err();
            assert_eq!(err, PortError::IamThrottled { operation: "ListMFADevices" }, "storm {storm}");
            assert_eq!(keyward_core::errors::NamedError::error_name(&err), keyward_core::errors::IAM_THROTTLED);
        }
        // At most 10 attempts a call; fewer once the SDK's retry quota (shared by every client of
        // the process) is spent, and then the call fails at once, still as throttled.
        let attempts = rules[0].num_calls();
        assert!((2..=2 * keyward_aws::sdk::MAX_ATTEMPTS as usize).contains(&attempts), "storm {storm}: {attempts}");
        // Within the operation timeout: cut by it, the call would read as AwsCallFailed.
        assert!(start.elapsed() < 2 * keyward_aws::sdk::OPERATION_TIMEOUT, "storm {storm}: {:?}", start.elapsed());
        assert_eq!(iam.api_calls()["iam:ListMFADevices"], 2, "the adapter counts requests, not attempts");
    }
}

#[tokio::test(start_paused = true)]
async fn every_throttling_code_reads_as_throttled() {
    for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"] {
        let rule = mock!(Client::list_users)
            .sequence()
            .error(move || ListUsersError::generic(meta(code, "slow down")))
            .repeatedly()
            .build();
        let iam = adapter(&[&rule]);
        assert_eq!(iam.list_users().await.unwrap_err(), PortError::IamThrottled { operation: "ListUsers" }, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn http_429_without_a_code_reads_as_throttled() {
    let rule = mock!(Client::list_users).sequence().http_status(429, None).repeatedly().build();
    let iam = adapter(&[&rule]);

    assert_eq!(iam.list_users().await.unwrap_err(), PortError::IamThrottled { operation: "ListUsers" });
}

#[tokio::test(start_paused = true)]
async fn a_throttled_key_listing_fails_the_read_instead_of_reporting_no_keys() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys)
            .sequence()
            .error(|| ListAccessKeysError::generic(throttling()))
            .repeatedly()
            .build(),
    ]);
    let iam = adapter(&refs(&rules));

    let err = iam.read_user("alice").await.unwrap_err();

    assert_eq!(err, PortError::IamThrottled { operation: "ListAccessKeys" });
}

#[tokio::test(start_paused = true)]
async fn a_user_whose_arn_names_no_account_is_an_error_before_any_other_read() {
    // GIVEN GetUser answers with an ARN keyward cannot take an account from
    for arn in ["arn:aws:iam:::user/alice", "arn:aws:iam::aws:user/alice", "alice"] {
        let mut odd = iam_user("alice", "/");
        odd.arn = arn.to_owned();
        let rules = with_quiet_alice(vec![
            mock!(Client::get_user).then_output(move || GetUserOutput::builder().user(odd.clone()).build()),
        ]);
        let iam = adapter(&refs(&rules));
        // WHEN the user is read THEN it is an error naming the ARN, and nothing else was asked
        let err = iam.read_user("alice").await.unwrap_err();
        assert!(
            matches!(&err, PortError::Failed { operation: "GetUser", message } if message.contains(arn) && message.contains("account")),
            "{arn}: {err:?}"
        );
        assert_eq!(iam.api_calls(), calls(&[("iam:GetUser", 1)]), "{arn}");
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_is_a_failure_carrying_the_code_and_message() {
    let rule = mock!(Client::get_user).then_error(|| {
        GetUserError::generic(meta("AccessDenied", "User: arn:aws:sts::1:assumed-role/x is not authorized"))
    });
    let iam = adapter(&[&rule]);

    let err = iam.read_user("alice").await.unwrap_err();

    assert_eq!(
        err,
        PortError::Failed {
            operation: "GetUser",
            message: "AccessDenied: User: arn:aws:sts::1:assumed-role/x is not authorized".into()
        }
    );
}

// ---- read_user ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn read_user_assembles_every_detail() {
    let rules = with_quiet_alice(vec![
        mock!(Client::get_user).then_output(|| GetUserOutput::builder().user(iam_user("alice", "/eng/")).build()),
        mock!(Client::list_user_tags).match_requests(|r| r.marker().is_none()).then_output(|| {
            ListUserTagsOutput::builder()
                .tags(Tag::builder().key("team").value("core").build().unwrap())
                .is_truncated(true)
                .marker("t1")
                .build()
                .unwrap()
        }),
        mock!(Client::list_user_tags).match_requests(|r| r.marker() == Some("t1")).then_output(|| {
            ListUserTagsOutput::builder()
                .tags(Tag::builder().key("owner").value("alice@example.com").build().unwrap())
                .is_truncated(false)
                .build()
                .unwrap()
        }),
        mock!(Client::list_mfa_devices).then_output(|| {
            ListMfaDevicesOutput::builder()
                .mfa_devices(
                    MfaDevice::builder()
                        .user_name("alice")
                        .serial_number("arn:aws:iam::123456789012:mfa/alice")
                        .enable_date(smithy_time(CREATED))
                        .build()
                        .unwrap(),
                )
                .is_truncated(false)
                .build()
                .unwrap()
        }),
        mock!(Client::get_login_profile).then_output(|| {
            GetLoginProfileOutput::builder()
                .login_profile(
                    LoginProfile::builder().user_name("alice").create_date(smithy_time(CREATED)).build().unwrap(),
                )
                .build()
        }),
        mock!(Client::list_access_keys).then_output(|| {
            keys_page(vec![key("AKIAUSED", StatusType::Active), key("AKIAOFF", StatusType::Inactive)], None)
        }),
        mock!(Client::get_access_key_last_used)
            .match_requests(|r| r.access_key_id() == Some("AKIAUSED"))
            .then_output(|| last_used(Some(USED), "s3", "eu-west-1")),
        mock!(Client::get_access_key_last_used)
            .match_requests(|r| r.access_key_id() == Some("AKIAOFF"))
            .then_output(|| last_used(Some(USED), "N/A", "N/A")),
    ]);
    let iam = adapter(&refs(&rules));

    let user = iam.read_user("alice").await.unwrap().unwrap();

    assert_eq!(user.name, "alice");
    assert_eq!(user.arn.as_str(), "arn:aws:iam::123456789012:user/eng/alice");
    assert_eq!(user.path, "/eng/");
    assert_eq!(user.created, utc(CREATED));
    assert!(user.has_console_password);
    assert_eq!(user.mfa_devices, ["arn:aws:iam::123456789012:mfa/alice"]);
    assert_eq!(
        user.tags,
        BTreeMap::from([("owner".to_owned(), "alice@example.com".to_owned()), ("team".to_owned(), "core".to_owned())])
    );
    assert_eq!(user.access_keys.len(), 2);
    let used = &user.access_keys[0];
    assert_eq!((used.id.as_str(), used.status, used.created), ("AKIAUSED", KeyStatus::Active, utc(CREATED)));
    assert_eq!(
        used.last_used,
        Some(KeyUse { at: utc(USED), service: Some("s3".into()), region: Some("eu-west-1".into()) })
    );
    let off = &user.access_keys[1];
    assert_eq!(off.status, KeyStatus::Inactive);
    assert_eq!(off.last_used, Some(KeyUse { at: utc(USED), service: None, region: None }), "N/A is unknown");
}

#[tokio::test(start_paused = true)]
async fn access_keys_on_every_page_are_read_and_each_page_is_counted() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys)
            .match_requests(|r| r.marker().is_none())
            .then_output(|| keys_page(vec![key("AKIAONE", StatusType::Active)], Some("k1"))),
        mock!(Client::list_access_keys)
            .match_requests(|r| r.marker() == Some("k1"))
            .then_output(|| keys_page(vec![key("AKIATWO", StatusType::Active)], None)),
    ]);
    let iam = adapter(&refs(&rules));

    let user = iam.read_user("alice").await.unwrap().unwrap();

    let ids: Vec<_> = user.access_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["AKIAONE", "AKIATWO"]);
    assert_eq!(
        iam.api_calls(),
        calls(&[
            ("iam:GetAccessKeyLastUsed", 2),
            ("iam:GetLoginProfile", 1),
            ("iam:GetUser", 1),
            ("iam:ListAccessKeys", 2),
            ("iam:ListMFADevices", 1),
            ("iam:ListUserTags", 1),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_page_repeating_its_marker_is_an_error_not_the_end() {
    // The smithy paginator would stop here silently and report only the first page's keys.
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys)
            .then_output(|| keys_page(vec![key("AKIALOOP", StatusType::Active)], Some("k1"))),
    ]);
    let iam = adapter(&refs(&rules));

    let err = iam.read_user("alice").await.unwrap_err();

    assert!(
        matches!(&err, PortError::Failed { operation: "ListAccessKeys", message } if message.contains("repeated")),
        "{err:?}"
    );
    assert_eq!(iam.api_calls()["iam:ListAccessKeys"], 2, "each page counted, the second one repeating k1");
}

#[tokio::test(start_paused = true)]
async fn a_missing_user_reads_as_none() {
    let rule = mock!(Client::get_user)
        .then_error(|| GetUserError::NoSuchEntityException(no_such_entity("user with name ghost")));
    let iam = adapter(&[&rule]);

    assert_eq!(iam.read_user("ghost").await.unwrap(), None);
    assert_eq!(iam.api_calls(), calls(&[("iam:GetUser", 1)]));
}

#[tokio::test(start_paused = true)]
async fn a_user_deleted_in_the_middle_of_the_read_reads_as_none() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys)
            .then_error(|| ListAccessKeysError::NoSuchEntityException(no_such_entity("user with name alice"))),
    ]);
    let iam = adapter(&refs(&rules));

    assert_eq!(iam.read_user("alice").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn no_login_profile_means_no_console_password() {
    let rules = quiet_alice();
    let iam = adapter(&refs(&rules));

    let user = iam.read_user("alice").await.unwrap().unwrap();

    assert!(!user.has_console_password);
}

#[tokio::test(start_paused = true)]
async fn a_denied_login_profile_read_is_an_error_not_no_password() {
    let rules = with_quiet_alice(vec![
        mock!(Client::get_login_profile)
            .then_error(|| GetLoginProfileError::generic(meta("AccessDenied", "not authorized to GetLoginProfile"))),
    ]);
    let iam = adapter(&refs(&rules));

    let err = iam.read_user("alice").await.unwrap_err();

    assert_eq!(
        err,
        PortError::Failed {
            operation: "GetLoginProfile",
            message: "AccessDenied: not authorized to GetLoginProfile".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_without_a_last_used_date_was_never_used() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys).then_output(|| keys_page(vec![key("AKIANEW", StatusType::Active)], None)),
        mock!(Client::get_access_key_last_used).then_output(|| last_used(None, "N/A", "N/A")),
    ]);
    let iam = adapter(&refs(&rules));

    let user = iam.read_user("alice").await.unwrap().unwrap();

    assert_eq!(user.access_keys.len(), 1);
    assert_eq!(user.access_keys[0].last_used, None);
    assert_eq!(user.access_keys[0].last_activity(), utc(CREATED));
}

#[tokio::test(start_paused = true)]
async fn a_last_used_response_without_its_record_is_an_error_not_never_used() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys).then_output(|| keys_page(vec![key("AKIAODD", StatusType::Active)], None)),
        mock!(Client::get_access_key_last_used).then_output(|| GetAccessKeyLastUsedOutput::builder().build()),
    ]);
    let iam = adapter(&refs(&rules));

    let err = iam.read_user("alice").await.unwrap_err();

    assert!(
        matches!(&err, PortError::Failed { operation: "GetAccessKeyLastUsed", message } if message.contains("AKIAODD")),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_deleted_between_listing_and_last_use_is_left_out() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys).then_output(|| {
            keys_page(vec![key("AKIAGONE", StatusType::Active), key("AKIASTAYS", StatusType::Active)], None)
        }),
        mock!(Client::get_access_key_last_used).match_requests(|r| r.access_key_id() == Some("AKIAGONE")).then_error(
            || GetAccessKeyLastUsedError::generic(meta("NoSuchEntity", "The Access Key AKIAGONE cannot be found")),
        ),
    ]);
    let iam = adapter(&refs(&rules));

    let user = iam.read_user("alice").await.unwrap().unwrap();

    let ids: Vec<_> = user.access_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["AKIASTAYS"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_last_used_read_is_an_error_not_never_used() {
    let rules = with_quiet_alice(vec![
        mock!(Client::list_access_keys).then_output(|| keys_page(vec![key("AKIAONE", StatusType::Active)], None)),
        mock!(Client::get_access_key_last_used)
            .sequence()
            .error(|| GetAccessKeyLastUsedError::generic(throttling()))
            .repeatedly()
            .build(),
    ]);
    let iam = adapter(&refs(&rules));

    let err = iam.read_user("alice").await.unwrap_err();

    assert_eq!(err, PortError::IamThrottled { operation: "GetAccessKeyLastUsed" });
}

#[tokio::test(start_paused = true)]
async fn concurrent_reads_through_one_adapter_all_complete() {
    let rules = quiet_alice().into_iter().chain([mock!(Client::get_user)
        .match_requests(|r| r.user_name() == Some("bob"))
        .then_output(|| GetUserOutput::builder().user(iam_user("bob", "/")).build())]);
    let rules: Vec<Rule> = rules.collect();
    let iam = adapter(&refs(&rules));

    let (alice, bob) = tokio::join!(iam.read_user("alice"), iam.read_user("bob"));

    assert_eq!(alice.unwrap().unwrap().name, "alice");
    assert_eq!(bob.unwrap().unwrap().name, "bob");
    assert_eq!(iam.api_calls()["iam:GetUser"], 2);
}

// ---- read_user_with_report (SCREENING=report) ---------------------------------------------------

const REPORTED_AT: i64 = 1_720_000_000;
const SECOND_KEY: i64 = CREATED + 86_400;

fn tagged_alice() -> aws_sdk_iam::types::User {
    let mut user = iam_user("alice", "/");
    user.tags = Some(vec![
        Tag::builder().key("keyward:exempt-until").value("2099-01-01").build().unwrap(),
        Tag::builder().key("team").value("core").build().unwrap(),
    ]);
    user
}

/// Only the three reads that must be fresh: any other IAM request finds no rule and fails the read.
fn fresh_reads_of_alice(keys: Vec<AccessKeyMetadata>) -> Vec<Rule> {
    vec![
        mock!(Client::get_user).then_output(|| GetUserOutput::builder().user(tagged_alice()).build()),
        mock!(Client::list_mfa_devices).then_output(|| {
            ListMfaDevicesOutput::builder().set_mfa_devices(Some(vec![])).is_truncated(false).build().unwrap()
        }),
        mock!(Client::list_access_keys).then_output(move || keys_page(keys.clone(), None)),
    ]
}

fn reported_alice(keys: &[(i64, Option<i64>)]) -> ReportedUser {
    ReportedUser {
        password_enabled: true,
        keys: keys
            .iter()
            .map(|(created, used)| ReportedKey {
                created: utc(*created),
                last_used: used.map(|at| KeyUse { at: utc(at), service: Some("s3".into()), region: None }),
            })
            .collect(),
    }
}

#[tokio::test(start_paused = true)]
async fn with_report_facts_a_one_or_two_key_user_costs_three_requests() {
    for keys in [
        vec![key_created("AKIAONE", StatusType::Active, CREATED)],
        vec![
            key_created("AKIAONE", StatusType::Active, CREATED),
            key_created("AKIATWO", StatusType::Inactive, SECOND_KEY),
        ],
    ] {
        let count = keys.len();
        let rules = fresh_reads_of_alice(keys);
        let iam = adapter(&refs(&rules));
        let facts = reported_alice(&[(CREATED, Some(USED)), (SECOND_KEY, None)]);

        let user = iam.read_user_with_report("alice", &facts, utc(REPORTED_AT)).await.unwrap().unwrap();

        let from_report = Provenance::CredentialReport { generated_at: utc(REPORTED_AT) };
        assert_eq!(
            iam.api_calls(),
            calls(&[("iam:GetUser", 1), ("iam:ListAccessKeys", 1), ("iam:ListMFADevices", 1)]),
            "{count} key(s)"
        );
        assert_eq!(user.tags.get("keyward:exempt-until").map(String::as_str), Some("2099-01-01"), "tags from GetUser");
        assert!(user.mfa_devices.is_empty());
        assert!(user.has_console_password, "password_enabled from the report");
        assert_eq!(user.console_password_source, from_report);
        let one = &user.access_keys[0];
        assert_eq!((one.id.as_str(), one.status), ("AKIAONE", KeyStatus::Active), "status is live");
        assert_eq!(one.last_used, Some(KeyUse { at: utc(USED), service: Some("s3".into()), region: None }));
        assert_eq!(one.last_used_source, from_report);
        if let Some(two) = user.access_keys.get(1) {
            assert_eq!(
                (two.status, two.last_used.as_ref(), two.last_used_source),
                (KeyStatus::Inactive, None, from_report)
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn with_report_facts_a_key_created_since_the_report_has_its_last_use_read_live() {
    // GIVEN the report knows the key created at CREATED; AKIANEW was created after it
    let mut rules = fresh_reads_of_alice(vec![
        key_created("AKIAOLD", StatusType::Active, CREATED),
        key_created("AKIANEW", StatusType::Active, REPORTED_AT + 60),
    ]);
    let live_last_use = mock!(Client::get_access_key_last_used)
        .match_requests(|r| r.access_key_id() == Some("AKIANEW"))
        .then_output(|| last_used(Some(REPORTED_AT + 120), "sts", "eu-west-1"));
    rules.push(live_last_use);
    let iam = adapter(&refs(&rules));
    let facts = reported_alice(&[(CREATED, None)]);

    let user = iam.read_user_with_report("alice", &facts, utc(REPORTED_AT)).await.unwrap().unwrap();

    // THEN only AKIANEW's last use was read live
    assert_eq!(
        iam.api_calls(),
        calls(&[
            ("iam:GetAccessKeyLastUsed", 1),
            ("iam:GetUser", 1),
            ("iam:ListAccessKeys", 1),
            ("iam:ListMFADevices", 1)
        ])
    );
    let new = user.access_keys.iter().find(|k| k.id == "AKIANEW").unwrap();
    assert_eq!(new.last_used_source, Provenance::Live);
    assert_eq!(new.last_used.as_ref().map(|u| u.at), Some(utc(REPORTED_AT + 120)));
    let old = user.access_keys.iter().find(|k| k.id == "AKIAOLD").unwrap();
    assert_eq!((old.last_used.as_ref(), old.last_used_source.is_live()), (None, false));
}

#[tokio::test(start_paused = true)]
async fn with_report_facts_a_throttled_mfa_read_is_an_error_not_no_mfa() {
    let mut rules = vec![
        mock!(Client::list_mfa_devices)
            .sequence()
            .error(|| aws_sdk_iam::operation::list_mfa_devices::ListMFADevicesError::generic(throttling()))
            .repeatedly()
            .build(),
    ];
    rules.extend(fresh_reads_of_alice(vec![key("AKIAONE", StatusType::Active)]));
    let iam = adapter(&refs(&rules));

    let err = iam.read_user_with_report("alice", &reported_alice(&[(CREATED, None)]), utc(REPORTED_AT)).await;

    assert_eq!(err.unwrap_err(), PortError::IamThrottled { operation: "ListMFADevices" });
}

#[tokio::test(start_paused = true)]
async fn with_report_facts_a_deleted_user_reads_as_none() {
    let rule = mock!(Client::get_user)
        .then_error(|| GetUserError::NoSuchEntityException(no_such_entity("user with name alice")));
    let iam = adapter(&[&rule]);

    let read = iam.read_user_with_report("alice", &reported_alice(&[]), utc(REPORTED_AT)).await.unwrap();

    assert_eq!(read, None);
}

/// GIVEN a report four hours old that saw AKIAOLD used earlier than IAM sees it now, a console
/// password since removed, and a key since deleted (created at SECOND_KEY, no longer listed);
/// AKIANEW created since the report; AKIAGONE listed but deleted before its last use is read.
fn account_since_the_report() -> (Vec<Rule>, ReportedUser) {
    let tags = || ListUserTagsOutput::builder().set_tags(tagged_alice().tags).is_truncated(false).build().unwrap();
    let mut rules = fresh_reads_of_alice(vec![
        key_created("AKIAOLD", StatusType::Active, CREATED),
        key_created("AKIANEW", StatusType::Active, REPORTED_AT + 60),
        key_created("AKIAGONE", StatusType::Inactive, REPORTED_AT + 90),
    ]);
    rules.extend([
        mock!(Client::list_user_tags).then_output(tags),
        mock!(Client::get_login_profile)
            .then_error(|| GetLoginProfileError::NoSuchEntityException(no_such_entity("Login Profile for User alice"))),
        mock!(Client::get_access_key_last_used)
            .match_requests(|r| r.access_key_id() == Some("AKIAOLD"))
            .then_output(|| last_used(Some(REPORTED_AT - 60), "s3", "eu-west-1")),
        mock!(Client::get_access_key_last_used)
            .match_requests(|r| r.access_key_id() == Some("AKIANEW"))
            .then_output(|| last_used(Some(REPORTED_AT + 120), "sts", "eu-west-1")),
        mock!(Client::get_access_key_last_used).match_requests(|r| r.access_key_id() == Some("AKIAGONE")).then_error(
            || GetAccessKeyLastUsedError::generic(meta("NoSuchEntity", "The Access Key AKIAGONE cannot be found")),
        ),
    ]);
    (rules, reported_alice(&[(CREATED, Some(USED)), (SECOND_KEY, None)]))
}

#[tokio::test(start_paused = true)]
async fn with_report_facts_the_adapter_reads_what_the_one_merge_makes_of_the_live_user() {
    let (rules, facts) = account_since_the_report();
    let generated_at = utc(REPORTED_AT - 4 * 3600);
    let iam = adapter(&refs(&rules));

    // WHEN alice is read with the report's facts, then fully live
    let with_report = iam.read_user_with_report("alice", &facts, generated_at).await.unwrap().unwrap();
    let report_calls = iam.api_calls();
    let live = iam.read_user("alice").await.unwrap().unwrap();

    // THEN the adapter's user is exactly keyward-core's merge of the live user and the facts
    assert_eq!(with_report, with_report_facts(live.clone(), &facts, generated_at));
    // AND the facts were used only where the merge uses them: AKIAOLD's stale last use and the
    // password, marked as the report's; AKIANEW live; the deleted keys nowhere
    let from_report = Provenance::CredentialReport { generated_at };
    let ids: Vec<_> = with_report.access_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["AKIAOLD", "AKIANEW"]);
    let old = &with_report.access_keys[0];
    assert_eq!((old.last_used.as_ref().map(|u| u.at), old.last_used_source), (Some(utc(USED)), from_report));
    assert_eq!(live.access_keys[0].last_used.as_ref().map(|u| u.at), Some(utc(REPORTED_AT - 60)));
    let new = &with_report.access_keys[1];
    assert_eq!(
        (new.last_used.as_ref().map(|u| u.at), new.last_used_source),
        (Some(utc(REPORTED_AT + 120)), Provenance::Live)
    );
    assert_eq!((with_report.has_console_password, with_report.console_password_source), (true, from_report));
    assert!(!live.has_console_password);
    // AND with the report, GetAccessKeyLastUsed was asked only for the two keys it does not describe
    assert_eq!(
        report_calls,
        calls(&[
            ("iam:GetAccessKeyLastUsed", 2),
            ("iam:GetUser", 1),
            ("iam:ListAccessKeys", 1),
            ("iam:ListMFADevices", 1)
        ])
    );
}

// ---- Rate limiting ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_request_waits_for_the_shared_rate_limit() {
    let rule = mock!(Client::list_users).then_output(|| users_page(&["alice"], None));
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);
    let iam = IamAdapter::from_client(client, 2.0);
    let start = Instant::now();

    for _ in 0..5 {
        iam.list_users().await.unwrap();
    }

    // The first request goes at once, then one every 500 ms.
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn concurrent_reads_share_one_rate_limit() {
    let rules = quiet_alice();
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs(&rules));
    let iam = IamAdapter::from_client(client, 5.0);
    let start = Instant::now();

    let (a, b) = tokio::join!(iam.read_user("alice"), iam.read_user("alice"));

    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    // Two reads of 5 requests each (no keys): 10 requests at 5/s, the first one free.
    assert_eq!(iam.api_calls().values().sum::<u64>(), 10);
    assert_eq!(start.elapsed(), Duration::from_millis(1800));
}

// ---- deactivate_key -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn deactivate_key_sends_exactly_inactive_for_that_user_and_key() {
    let rule = mock!(Client::update_access_key)
        .match_requests(|r| {
            r.user_name() == Some("alice")
                && r.access_key_id() == Some("AKIAOLD")
                && r.status() == Some(&StatusType::Inactive)
        })
        .then_output(|| UpdateAccessKeyOutput::builder().build());
    let iam = adapter(&[&rule]);

    iam.deactivate_key("alice", "AKIAOLD").await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(iam.api_calls(), calls(&[("iam:UpdateAccessKey", 1)]));
}

// ---- Credential report --------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_complete_report_is_fetched_at_once() {
    let generate = mock!(Client::generate_credential_report).then_output(|| report_state(ReportStateType::Complete));
    let get = mock!(Client::get_credential_report).then_output(csv_report);
    let iam = adapter(&[&generate, &get]);
    let start = Instant::now();

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report, CredentialReport { csv: REPORT.to_vec(), generated_at: Some(utc(USED)) });
    assert!(start.elapsed() < Duration::from_millis(10), "no poll: only the rate limiter's 1 ms");
    assert_eq!(iam.api_calls(), calls(&[("iam:GenerateCredentialReport", 1), ("iam:GetCredentialReport", 1)]));
}

#[tokio::test(start_paused = true)]
async fn a_started_report_is_polled_with_backoff_until_complete() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| report_state(ReportStateType::Started))
        .output(|| report_state(ReportStateType::Inprogress))
        .output(|| report_state(ReportStateType::Complete))
        .build();
    let get = mock!(Client::get_credential_report).then_output(csv_report);
    let iam = adapter(&[&generate, &get]);
    let start = Instant::now();

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report.csv, REPORT);
    assert_eq!(start.elapsed(), Duration::from_secs(3), "polls after 1 s then 2 s");
    assert_eq!(iam.api_calls(), calls(&[("iam:GenerateCredentialReport", 3), ("iam:GetCredentialReport", 1)]));
}

#[tokio::test(start_paused = true)]
async fn limit_exceeded_on_generate_backs_off_and_reads_the_report() {
    let generate = mock!(Client::generate_credential_report).then_error(|| {
        GenerateCredentialReportError::LimitExceededException(
            LimitExceededException::builder().meta(meta("LimitExceeded", "Report generation limit exceeded")).build(),
        )
    });
    let get = mock!(Client::get_credential_report)
        .sequence()
        .error(|| {
            GetCredentialReportError::CredentialReportNotReadyException(
                CredentialReportNotReadyException::builder().meta(meta("ReportInProgress", "in progress")).build(),
            )
        })
        .output(csv_report)
        .build();
    let iam = adapter(&[&generate, &get]);

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report.csv, REPORT);
    assert_eq!(iam.api_calls(), calls(&[("iam:GenerateCredentialReport", 1), ("iam:GetCredentialReport", 2)]));
}

#[tokio::test(start_paused = true)]
async fn an_expired_report_is_regenerated_once() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| report_state(ReportStateType::Complete))
        .times(2)
        .build();
    let get = mock!(Client::get_credential_report)
        .sequence()
        .error(|| {
            GetCredentialReportError::CredentialReportExpiredException(
                CredentialReportExpiredException::builder().meta(meta("ReportExpired", "expired")).build(),
            )
        })
        .output(csv_report)
        .build();
    let iam = adapter(&[&generate, &get]);

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report.csv, REPORT);
    assert_eq!(generate.num_calls(), 2);
    assert_eq!(get.num_calls(), 2);
}

fn not_present() -> GetCredentialReportError {
    GetCredentialReportError::CredentialReportNotPresentException(
        CredentialReportNotPresentException::builder().meta(meta("ReportNotPresent", "not present")).build(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_report_not_present_is_generated_and_read() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| report_state(ReportStateType::Complete))
        .output(|| report_state(ReportStateType::Started))
        .output(|| report_state(ReportStateType::Complete))
        .build();
    let get = mock!(Client::get_credential_report).sequence().error(not_present).output(csv_report).build();
    let iam = adapter(&[&generate, &get]);

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report.csv, REPORT);
    assert_eq!(generate.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_report_still_missing_after_regenerating_is_unavailable() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| report_state(ReportStateType::Complete))
        .repeatedly()
        .build();
    let get = mock!(Client::get_credential_report).sequence().error(not_present).repeatedly().build();
    let iam = adapter(&[&generate, &get]);

    let err = iam.credential_report().await.unwrap_err();

    assert!(matches!(err, PortError::ReportUnavailable { ref reason } if reason.contains("ReportNotPresent")), "{err}");
    assert_eq!(get.num_calls(), 2, "regenerated once, not forever");
}

#[tokio::test(start_paused = true)]
async fn a_report_that_never_completes_is_unavailable_after_the_bounded_wait() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| report_state(ReportStateType::Inprogress))
        .repeatedly()
        .build();
    let iam = adapter(&[&generate]).with_report_wait(short_wait());
    let start = Instant::now();

    let err = iam.credential_report().await.unwrap_err();

    assert!(matches!(err, PortError::ReportUnavailable { ref reason } if reason.contains("INPROGRESS")), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // Polls at 0, 1, 3, 7 and 10 s (the last pause cut to the deadline).
    assert_eq!(iam.api_calls(), calls(&[("iam:GenerateCredentialReport", 5)]));
}

#[tokio::test(start_paused = true)]
async fn a_report_without_its_generation_time_says_so() {
    let generate = mock!(Client::generate_credential_report).then_output(|| report_state(ReportStateType::Complete));
    let get = mock!(Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder().content(Blob::new(REPORT)).report_format(ReportFormatType::TextCsv).build()
    });
    let iam = adapter(&[&generate, &get]);

    let report = iam.credential_report().await.unwrap();

    assert_eq!(report, CredentialReport { csv: REPORT.to_vec(), generated_at: None });
}

#[tokio::test(start_paused = true)]
async fn a_report_in_another_format_is_unavailable() {
    let generate = mock!(Client::generate_credential_report).then_output(|| report_state(ReportStateType::Complete));
    let get = mock!(Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder()
            .content(Blob::new(REPORT))
            .report_format(ReportFormatType::from("application/json"))
            .build()
    });
    let iam = adapter(&[&generate, &get]);

    let err = iam.credential_report().await.unwrap_err();

    assert!(matches!(err, PortError::ReportUnavailable { ref reason } if reason.contains("application/json")), "{err}");
}
