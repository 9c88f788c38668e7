//! The IAM adapter: [`IamAdapter`] implements `keyward_core::ports::Iam` over aws-sdk-iam.
//!
//! Every request (each page, each poll) first takes a token from a token bucket shared by all calls
//! of one instance, so concurrent reads stay within the invocation's share of the account's IAM
//! budget, and is counted by `iam:Operation`. An error that survived the SDK's retries is an error:
//! throttling becomes `PortError::IamThrottled`, anything else `PortError::Failed` with IAM's code and
//! message; it never reads as "no MFA", "no keys" or "never used". Only `UpdateAccessKey` with
//! `Status=Inactive` writes; nothing here deletes or creates.
//!
//! A user is read in one of two ways: fully live (`read_user`: GetUser, ListUserTags,
//! ListMFADevices, GetLoginProfile, ListAccessKeys, GetAccessKeyLastUsed per key), which the
//! re-check before a deactivation uses; or with the credential report's facts
//! (`read_user_with_report`: GetUser, ListMFADevices, ListAccessKeys, plus GetAccessKeyLastUsed
//! only for a key the report does not describe), which check-user uses under `SCREENING=report`
//! (`keyward_core::credential_report::facts` says why that is safe).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{error_chain, is_throttling_code};
use aws_config::SdkConfig;
use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::types::{AccessKeyMetadata, ReportFormatType, ReportStateType, StatusType};
use chrono::{DateTime, Utc};
use keyward_core::credential_report::facts::ReportedUser;
use keyward_core::model::{AccessKey, KeyStatus, KeyUse, Provenance, User};
use keyward_core::ports::{CredentialReport, Iam, PortError, UserSummary};
use tokio::time::Instant;

const NO_SUCH_ENTITY: &str = "NoSuchEntity";
/// GenerateCredentialReport: a report was generated too recently or is being generated.
const LIMIT_EXCEEDED: &str = "LimitExceeded";
const REPORT_IN_PROGRESS: &str = "ReportInProgress";
const REPORT_EXPIRED: &str = "ReportExpired";
const REPORT_NOT_PRESENT: &str = "ReportNotPresent";
/// The most items IAM returns per page.
const PAGE_SIZE: i32 = 1000;
/// What IAM puts in `ServiceName`/`Region` when it does not know.
const NOT_AVAILABLE: &str = "N/A";

/// How long [`IamAdapter::credential_report`](Iam::credential_report) waits for IAM to finish a
/// report, and how often it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWait {
    /// Give up with `PortError::ReportUnavailable` once this much time has passed.
    pub max_wait: Duration,
    /// The first pause between two polls; each pause doubles the next one.
    pub first_poll: Duration,
    /// The longest pause between two polls.
    pub max_poll: Duration,
}

impl Default for ReportWait {
    /// At most 60 s, polling after 1 s, 2 s, 4 s, then every 8 s.
    fn default() -> Self {
        ReportWait {
            max_wait: Duration::from_secs(60),
            first_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(8),
        }
    }
}

/// IAM through the AWS SDK, rate-limited and counted. Clones share the rate limiter and the counts.
#[derive(Debug, Clone)]
pub struct IamAdapter {
    client: Client,
    limiter: Arc<RateLimiter>,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    report_wait: ReportWait,
}

impl IamAdapter {
    /// An adapter over a client built from `sdk`, sending at most `rps` IAM requests per second
    /// (pass `Config::iam_rps_per_invocation()`).
    pub fn new(sdk: &SdkConfig, rps: f64) -> IamAdapter {
        IamAdapter::from_client(Client::new(sdk), rps)
    }

    /// An adapter over an existing client (tests build one with `aws-smithy-mocks`).
    pub fn from_client(client: Client, rps: f64) -> IamAdapter {
        IamAdapter {
            client,
            limiter: Arc::new(RateLimiter::new(rps)),
            calls: Arc::new(Mutex::new(BTreeMap::new())),
            report_wait: ReportWait::default(),
        }
    }

    /// The same adapter waiting for the credential report as `wait` says.
    pub fn with_report_wait(mut self, wait: ReportWait) -> IamAdapter {
        self.report_wait = wait;
        self
    }

    /// Takes a token, counts the request, sends it, and classifies a failure.
    async fn send<T, E>(
        &self,
        operation: &'static str,
        request: impl Future<Output = Result<T, SdkError<E>>>,
    ) -> Result<T, CallError>
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        self.limiter.acquire().await;
        self.count(operation);
        request.await.map_err(|err| CallError::from_sdk(operation, &err))
    }

    fn count(&self, operation: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        *calls.entry(format!("iam:{operation}")).or_default() += 1;
    }

    /// Reads the user. With the report's facts (`reported`), the tags come with GetUser, and the
    /// console password and the last use of each key the report describes come from the report:
    /// GetUser, ListMFADevices and ListAccessKeys, 3 requests for a user whose keys the report
    /// describes. Without, every detail is read live by its own operation: 5 + K requests.
    async fn read_existing_user(&self, name: &str, reported: Option<Reported<'_>>) -> Result<User, CallError> {
        const OP: &str = "GetUser";
        let output = self.send(OP, self.client.get_user().user_name(name).send()).await?;
        let Some(user) = output.user else {
            return Err(CallError::invalid(OP, "the response has no User"));
        };
        let created = timestamp(OP, "CreateDate", &user.create_date)?;
        // GetUser returns the user's tags (`User.Tags`; ListUsers is the call that leaves them out,
        // https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html: "To view all of
        // the information for a user, see GetUser"), and a user holds at most 50 tags, so GetUser
        // has them all; AWS documents no truncation of it. The full live read (the re-check before
        // a deactivation) still lists them with ListUserTags, so an exemption tag is never missed
        // where keyward acts.
        let tags = match reported {
            Some(_) => user.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect(),
            None => self.tags(name).await?,
        };
        let mfa_devices = self.mfa_devices(name).await?;
        let (has_console_password, console_password_source) = match reported {
            Some(r) => (r.user.password_enabled, r.provenance()),
            None => (self.has_login_profile(name).await?, Provenance::Live),
        };
        let access_keys = self.access_keys(name, reported).await?;
        Ok(User {
            name: user.user_name,
            arn: user.arn,
            path: user.path,
            created,
            has_console_password,
            console_password_source,
            mfa_devices,
            tags,
            access_keys,
        })
    }

    async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, CallError> {
        const OP: &str = "ListUserTags";
        let mut tags = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let request = self.client.list_user_tags().user_name(name).max_items(PAGE_SIZE).set_marker(marker.clone());
            let page = self.send(OP, request.send()).await?;
            tags.extend(page.tags.into_iter().map(|t| (t.key, t.value)));
            marker = next_marker(OP, page.is_truncated, page.marker, marker.as_deref())?;
            if marker.is_none() {
                return Ok(tags);
            }
        }
    }

    async fn mfa_devices(&self, name: &str) -> Result<Vec<String>, CallError> {
        const OP: &str = "ListMFADevices";
        let mut devices = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let request =
                self.client.list_mfa_devices().user_name(name).max_items(PAGE_SIZE).set_marker(marker.clone());
            let page = self.send(OP, request.send()).await?;
            devices.extend(page.mfa_devices.into_iter().map(|d| d.serial_number));
            marker = next_marker(OP, page.is_truncated, page.marker, marker.as_deref())?;
            if marker.is_none() {
                return Ok(devices);
            }
        }
    }

    /// NoSuchEntity here means "no login profile"; a user deleted meanwhile shows up on the calls
    /// that follow.
    async fn has_login_profile(&self, name: &str) -> Result<bool, CallError> {
        match self.send("GetLoginProfile", self.client.get_login_profile().user_name(name).send()).await {
            Ok(_) => Ok(true),
            Err(err) if err.has_code(NO_SUCH_ENTITY) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The user's keys; the last use of each from the report when it describes the key, else live.
    async fn access_keys(&self, name: &str, reported: Option<Reported<'_>>) -> Result<Vec<AccessKey>, CallError> {
        const OP: &str = "ListAccessKeys";
        let mut listed = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let request =
                self.client.list_access_keys().user_name(name).max_items(PAGE_SIZE).set_marker(marker.clone());
            let page = self.send(OP, request.send()).await?;
            for meta in &page.access_key_metadata {
                listed.push(listed_key(meta)?);
            }
            marker = next_marker(OP, page.is_truncated, page.marker, marker.as_deref())?;
            if marker.is_none() {
                break;
            }
        }
        let mut keys = Vec::with_capacity(listed.len());
        for (id, status, created) in listed {
            if let Some((row, r)) = reported.and_then(|r| Some((r.user.key_created_at(created)?, r))) {
                let (last_used, last_used_source) = (row.last_used.clone(), r.provenance());
                keys.push(AccessKey { id, status, created, last_used, last_used_source });
                continue;
            }
            match self.last_use(&id).await {
                Ok(last_used) => {
                    keys.push(AccessKey { id, status, created, last_used, last_used_source: Provenance::Live });
                }
                // The key was deleted since it was listed: a deleted key is no risk.
                Err(err) if err.has_code(NO_SUCH_ENTITY) => {
                    tracing::info!(user = name, access_key_id = %id, "access key deleted while reading the user");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(keys)
    }

    async fn last_use(&self, access_key_id: &str) -> Result<Option<KeyUse>, CallError> {
        const OP: &str = "GetAccessKeyLastUsed";
        let output = self.send(OP, self.client.get_access_key_last_used().access_key_id(access_key_id).send()).await?;
        // No AccessKeyLastUsed at all is a response keyward cannot read, not "never used": reading
        // it as never used would count the key idle since creation and could propose a key in use.
        let Some(used) = output.access_key_last_used else {
            return Err(CallError::invalid(
                OP,
                format!("the response for key {access_key_id} has no AccessKeyLastUsed"),
            ));
        };
        let Some(at) = used.last_used_date else { return Ok(None) };
        Ok(Some(KeyUse {
            at: timestamp(OP, "LastUsedDate", &at)?,
            service: known(used.service_name),
            region: known(used.region),
        }))
    }

    async fn read_user_or_none(&self, name: &str, reported: Option<Reported<'_>>) -> Result<Option<User>, PortError> {
        match self.read_existing_user(name, reported).await {
            Ok(user) => Ok(Some(user)),
            Err(err) if err.has_code(NO_SUCH_ENTITY) => {
                tracing::info!(user = name, operation = err.operation, "user does not exist");
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn generate_report(&self) -> Result<Option<ReportStateType>, CallError> {
        let output = self.send("GenerateCredentialReport", self.client.generate_credential_report().send()).await?;
        Ok(output.state)
    }

    async fn fetch_report(&self) -> Result<GetCredentialReportOutput, CallError> {
        self.send("GetCredentialReport", self.client.get_credential_report().send()).await
    }
}

impl Iam for IamAdapter {
    async fn list_users(&self) -> Result<Vec<UserSummary>, PortError> {
        const OP: &str = "ListUsers";
        let mut users = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let request = self.client.list_users().max_items(PAGE_SIZE).set_marker(marker.clone());
            let page = self.send(OP, request.send()).await?;
            users.extend(page.users.into_iter().map(|u| UserSummary { name: u.user_name, path: u.path }));
            marker = next_marker(OP, page.is_truncated, page.marker, marker.as_deref())?;
            if marker.is_none() {
                return Ok(users);
            }
        }
    }

    async fn credential_report(&self) -> Result<CredentialReport, PortError> {
        let mut poll = Poll::new(self.report_wait);
        let mut generate = true;
        let mut regenerated = false;
        loop {
            if generate {
                match self.generate_report().await {
                    Ok(Some(ReportStateType::Complete)) => generate = false,
                    Ok(state) => {
                        let state = state.as_ref().map_or("unknown", ReportStateType::as_str).to_owned();
                        tracing::info!(state = %state, "credential report not ready yet");
                        poll.pause(&format!("IAM was still generating the report (state {state})")).await?;
                    }
                    // Generated too recently or being generated elsewhere: wait, then read it.
                    Err(err) if err.has_code(LIMIT_EXCEEDED) => {
                        tracing::info!(code = LIMIT_EXCEEDED, "credential report generation refused; reading it");
                        poll.pause("IAM refused to generate the report (LimitExceeded)").await?;
                        generate = false;
                    }
                    Err(err) => return Err(err.into()),
                }
            } else {
                match self.fetch_report().await {
                    Ok(output) => return report_content(output),
                    Err(err) if err.has_code(REPORT_IN_PROGRESS) => {
                        tracing::info!(code = REPORT_IN_PROGRESS, "credential report not ready yet");
                        poll.pause("the report was still in progress").await?;
                    }
                    Err(err) if err.has_code(REPORT_EXPIRED) || err.has_code(REPORT_NOT_PRESENT) => {
                        let code = err.code.as_deref().unwrap_or_default();
                        if regenerated {
                            return Err(PortError::ReportUnavailable {
                                reason: format!("GetCredentialReport said {code} after the report was regenerated"),
                            });
                        }
                        tracing::info!(code, "regenerating the credential report");
                        regenerated = true;
                        generate = true;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }

    async fn read_user(&self, name: &str) -> Result<Option<User>, PortError> {
        self.read_user_or_none(name, None).await
    }

    async fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> Result<Option<User>, PortError> {
        self.read_user_or_none(name, Some(Reported { user: reported, generated_at })).await
    }

    async fn deactivate_key(&self, user_name: &str, access_key_id: &str) -> Result<(), PortError> {
        let request = self
            .client
            .update_access_key()
            .user_name(user_name)
            .access_key_id(access_key_id)
            .status(StatusType::Inactive);
        self.send("UpdateAccessKey", request.send()).await?;
        Ok(())
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The credential report's facts about the user being read, and when the report was generated.
#[derive(Debug, Clone, Copy)]
struct Reported<'a> {
    user: &'a ReportedUser,
    generated_at: DateTime<Utc>,
}

impl Reported<'_> {
    fn provenance(&self) -> Provenance {
        Provenance::CredentialReport { generated_at: self.generated_at }
    }
}

/// A failed IAM request, classified.
#[derive(Debug)]
struct CallError {
    operation: &'static str,
    /// IAM's error code, when the service answered with one.
    code: Option<String>,
    message: String,
    throttled: bool,
}

impl CallError {
    fn from_sdk<E>(operation: &'static str, err: &SdkError<E>) -> CallError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let code = err.code().map(str::to_owned);
        let status = err.raw_response().map(|response| response.status().as_u16());
        let throttled = code.as_deref().is_some_and(is_throttling_code) || status == Some(429);
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            (None, _) => {
                let chain = error_chain(err);
                match status {
                    Some(status) => format!("{chain} (HTTP {status})"),
                    None => chain,
                }
            }
        };
        CallError { operation, code, message, throttled }
    }

    /// A response IAM sent that keyward cannot use.
    fn invalid(operation: &'static str, message: impl Into<String>) -> CallError {
        CallError { operation, code: None, message: message.into(), throttled: false }
    }

    fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl From<CallError> for PortError {
    fn from(err: CallError) -> PortError {
        if err.throttled {
            PortError::IamThrottled { operation: err.operation }
        } else {
            PortError::Failed { operation: err.operation, message: err.message }
        }
    }
}

/// The marker of the next page, `None` after the last page. A truncated page without a new marker
/// is an error: stopping there would silently lose the rest.
fn next_marker(
    operation: &'static str,
    is_truncated: bool,
    marker: Option<String>,
    previous: Option<&str>,
) -> Result<Option<String>, CallError> {
    if !is_truncated {
        return Ok(None);
    }
    match marker {
        Some(marker) if !marker.is_empty() && Some(marker.as_str()) != previous => Ok(Some(marker)),
        Some(_) => Err(CallError::invalid(operation, "a truncated page repeated the previous marker")),
        None => Err(CallError::invalid(operation, "a truncated page has no marker")),
    }
}

/// (id, status, created) of a listed key.
fn listed_key(meta: &AccessKeyMetadata) -> Result<(String, KeyStatus, DateTime<Utc>), CallError> {
    const OP: &str = "ListAccessKeys";
    let Some(id) = meta.access_key_id.clone() else {
        return Err(CallError::invalid(OP, "an access key has no AccessKeyId"));
    };
    let status = match &meta.status {
        Some(StatusType::Active) => KeyStatus::Active,
        // An expired key cannot sign requests either.
        Some(StatusType::Inactive | StatusType::Expired) => KeyStatus::Inactive,
        Some(other) => {
            return Err(CallError::invalid(OP, format!("access key {id} has an unknown status {}", other.as_str())));
        }
        None => return Err(CallError::invalid(OP, format!("access key {id} has no status"))),
    };
    let Some(created) = &meta.create_date else {
        return Err(CallError::invalid(OP, format!("access key {id} has no CreateDate")));
    };
    Ok((id, status, timestamp(OP, "CreateDate", created)?))
}

/// An IAM timestamp as chrono; out of chrono's range is an error, not a panic.
fn timestamp(
    operation: &'static str,
    field: &str,
    value: &aws_smithy_types::DateTime,
) -> Result<DateTime<Utc>, CallError> {
    DateTime::from_timestamp(value.secs(), value.subsec_nanos())
        .ok_or_else(|| CallError::invalid(operation, format!("{field} {} is out of range", value.secs())))
}

/// `None` for the empty string and IAM's "N/A".
fn known(value: String) -> Option<String> {
    if value.is_empty() || value == NOT_AVAILABLE { None } else { Some(value) }
}

fn report_content(output: GetCredentialReportOutput) -> Result<CredentialReport, PortError> {
    match &output.report_format {
        Some(ReportFormatType::TextCsv) => {}
        Some(other) => {
            return Err(PortError::ReportUnavailable {
                reason: format!("IAM returned the report as {}, not text/csv", other.as_str()),
            });
        }
        None => return Err(PortError::ReportUnavailable { reason: "IAM returned the report without a format".into() }),
    }
    // A GeneratedTime keyward cannot read is as good as none: the facts are then not used.
    let generated_at = output.generated_time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
    let csv = output
        .content
        .map(aws_smithy_types::Blob::into_inner)
        .ok_or_else(|| PortError::ReportUnavailable { reason: "IAM returned the report without content".into() })?;
    Ok(CredentialReport { csv, generated_at })
}

/// The bounded wait of one `credential_report` call.
struct Poll {
    deadline: Instant,
    max_wait: Duration,
    next: Duration,
    max_poll: Duration,
}

impl Poll {
    fn new(wait: ReportWait) -> Poll {
        Poll {
            deadline: Instant::now() + wait.max_wait,
            max_wait: wait.max_wait,
            next: wait.first_poll,
            max_poll: wait.max_poll,
        }
    }

    /// Sleeps before the next poll, never past the deadline; at the deadline, gives up saying why.
    async fn pause(&mut self, still: &str) -> Result<(), PortError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(PortError::ReportUnavailable {
                reason: format!("{still} after waiting {} s", self.max_wait.as_secs()),
            });
        }
        tokio::time::sleep(self.next.min(remaining)).await;
        self.next = self.next.saturating_mul(2).min(self.max_poll);
        Ok(())
    }
}

/// Lowest and highest rates the limiter accepts; outside values (and NaN) are clamped.
const MIN_RPS: f64 = 0.01;
const MAX_RPS: f64 = 1000.0;

/// A token bucket: `rate` tokens a second, holding at most `max(1, rate)`, starting with one.
/// Each request takes one token, waiting for it if needed. Waiters are served in arrival order
/// (the lock is fair and is held while waiting).
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    capacity: f64,
    bucket: tokio::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A limiter allowing `rps` requests per second (clamped to 0.01–1000).
    pub fn new(rps: f64) -> RateLimiter {
        let rate = if rps.is_nan() { MIN_RPS } else { rps.clamp(MIN_RPS, MAX_RPS) };
        RateLimiter {
            rate,
            capacity: rate.max(1.0),
            bucket: tokio::sync::Mutex::new(Bucket { tokens: 1.0, refilled_at: Instant::now() }),
        }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        self.refill(&mut bucket);
        if bucket.tokens < 1.0 {
            let wait = Duration::try_from_secs_f64((1.0 - bucket.tokens) / self.rate).unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
            self.refill(&mut bucket);
        }
        bucket.tokens -= 1.0;
    }

    fn refill(&self, bucket: &mut Bucket) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.capacity);
        bucket.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limiter_spaces_requests_at_its_rate_after_the_first() {
        let limiter = RateLimiter::new(4.0);
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire().await;
        }
        // One token at start, then one every 250 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_bursts_at_most_its_rate_after_idling() {
        let limiter = RateLimiter::new(3.0);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a full bucket holds three tokens");
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(333), "the fourth waits for a refill");
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_is_shared_by_concurrent_callers() {
        let limiter = Arc::new(RateLimiter::new(2.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { limiter.acquire().await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.is_ok());
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn limiter_clamps_nonsense_rates() {
        assert_eq!(RateLimiter::new(f64::NAN).rate, MIN_RPS);
        assert_eq!(RateLimiter::new(0.0).rate, MIN_RPS);
        assert_eq!(RateLimiter::new(f64::INFINITY).rate, MAX_RPS);
    }

    #[test]
    fn na_service_and_region_are_unknown() {
        assert_eq!(known("N/A".into()), None);
        assert_eq!(known(String::new()), None);
        assert_eq!(known("s3".into()), Some("s3".into()));
    }

    #[test]
    fn out_of_range_timestamps_are_errors() {
        let far = aws_smithy_types::DateTime::from_secs(i64::MAX);
        let err = timestamp("GetUser", "CreateDate", &far).err();
        assert!(err.is_some_and(|e| e.message.contains("out of range") && !e.throttled));
        let ok = timestamp("GetUser", "CreateDate", &aws_smithy_types::DateTime::from_secs(1_700_000_000));
        assert_eq!(ok.ok().map(|t| t.timestamp()), Some(1_700_000_000));
    }

    #[test]
    fn truncated_pages_without_a_new_marker_are_errors() {
        assert!(matches!(next_marker("ListUsers", false, None, None), Ok(None)));
        assert!(matches!(next_marker("ListUsers", true, Some("m2".into()), Some("m1")), Ok(Some(m)) if m == "m2"));
        assert!(next_marker("ListUsers", true, None, None).is_err());
        assert!(next_marker("ListUsers", true, Some("m1".into()), Some("m1")).is_err());
    }
}
