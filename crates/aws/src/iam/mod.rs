//! The IAM adapter: [`IamAdapter`] implements `keyward_core::ports::Iam` over aws-sdk-iam.
//!
//! Every request (each page, each poll) first takes a token from a [`RateLimiter`] shared by all
//! calls of one instance, so concurrent reads stay within the invocation's share of the account's
//! IAM budget, and is counted by `iam:Operation`. An error that survived the SDK's retries is an
//! error (`call_error`): throttling becomes `PortError::IamThrottled`, anything else
//! `PortError::Failed` with IAM's code and message; it never reads as "no MFA", "no keys" or "never
//! used". Only `UpdateAccessKey` with `Status=Inactive` writes; nothing here deletes or creates.
//!
//! A user is read in one of two ways: fully live (`read_user`: GetUser, ListUserTags,
//! ListMFADevices, GetLoginProfile, ListAccessKeys, GetAccessKeyLastUsed per key), which the
//! re-check before a deactivation uses; or with the credential report's facts
//! (`read_user_with_report`: GetUser, ListMFADevices, ListAccessKeys, plus GetAccessKeyLastUsed
//! only for a key the report does not describe), which check-user uses under `SCREENING=report`
//! (docs/architecture.md, "The IAM call budget"). The second reads the live parts and hands them to
//! `keyward_core::credential_report::facts::with_report_facts`, the one merge of report facts
//! (whose module says why it is safe, and whose `stale_report` property proves it).
//!
//! The List* operations page through `paging`; the credential report is generated and polled in
//! `credential_report`.

mod call_error;
mod credential_report;
mod paging;

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use aws_config::SdkConfig;
use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
use aws_sdk_iam::operation::list_user_tags::ListUserTagsOutput;
use aws_sdk_iam::operation::list_users::ListUsersOutput;
use aws_sdk_iam::types::{AccessKeyMetadata, StatusType};
use chrono::{DateTime, Utc};
use keyward_core::credential_report::facts::{ReportedUser, with_report_facts};
use keyward_core::model::{AccessKey, KeyStatus, KeyUse, Provenance, User, UserArn};
use keyward_core::ports::{CredentialReport, Iam, PortError, UserSummary};

use crate::rate_limit::RateLimiter;
use call_error::CallError;
pub use credential_report::ReportWait;
use paging::{PAGE_SIZE, Page};

const NO_SUCH_ENTITY: &str = "NoSuchEntity";
/// What IAM puts in `ServiceName`/`Region` when it does not know.
const NOT_AVAILABLE: &str = "N/A";

/// IAM through the AWS SDK, rate-limited and counted. Clones share the rate limiter and the counts.
#[derive(Debug, Clone)]
pub struct IamAdapter {
    client: Client,
    limiter: Arc<RateLimiter>,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    report_wait: ReportWait,
}

/// Which details of a user are read live.
#[derive(Debug, Clone, Copy)]
enum Read<'a> {
    /// Every detail, each by its own operation.
    Live,
    /// What the credential report cannot tell: the console password and the last use of each key
    /// `reported` describes are not read; [`with_report_facts`] fills them in afterwards.
    WithReport(&'a ReportedUser),
}

impl Read<'_> {
    /// Whether the last use of the key created at `created` is read live. The report's record of a
    /// key is found by `ReportedUser::key_created_at`, the same test by which [`with_report_facts`]
    /// takes the record: so every key whose last use is not read here gets the report's.
    fn reads_last_use(self, created: DateTime<Utc>) -> bool {
        match self {
            Read::Live => true,
            Read::WithReport(reported) => reported.key_created_at(created).is_none(),
        }
    }
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

    /// Reads the user's live details. With the report ([`Read::WithReport`]), the tags come with
    /// GetUser, and the console password and the last use of each key the report describes are
    /// left for [`with_report_facts`]: GetUser, ListMFADevices and ListAccessKeys, 3 requests for a
    /// user whose keys the report describes. Fully live, every detail is read by its own
    /// operation: 5 + K requests.
    async fn read_existing_user(&self, name: &str, read: Read<'_>) -> Result<User, CallError> {
        const OP: &str = "GetUser";
        let output = self.send(OP, self.client.get_user().user_name(name).send()).await?;
        let Some(user) = output.user else {
            return Err(CallError::invalid(OP, "the response has no User"));
        };
        // The account of every key keyward names comes from here: a user whose ARN names none is a
        // response keyward cannot read, refused before any further call.
        let arn = UserArn::parse(&user.arn).ok_or_else(|| {
            CallError::invalid(OP, format!("the user's Arn {:?} is not an IAM user ARN with an account id", user.arn))
        })?;
        let created = timestamp(OP, "CreateDate", &user.create_date)?;
        // GetUser returns the user's tags (`User.Tags`; ListUsers is the call that leaves them out,
        // https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html: "To view all of
        // the information for a user, see GetUser"), and a user holds at most 50 tags, so GetUser
        // has them all; AWS documents no truncation of it. The full live read (the re-check before
        // a deactivation) still lists them with ListUserTags, so an exemption tag is never missed
        // where keyward acts.
        let tags = match read {
            Read::WithReport(_) => user.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value)).collect(),
            Read::Live => self.tags(name).await?,
        };
        let mfa_devices = self.mfa_devices(name).await?;
        // Not read with the report: `with_report_facts` sets the password and its source.
        let has_console_password = match read {
            Read::WithReport(_) => false,
            Read::Live => self.has_login_profile(name).await?,
        };
        let access_keys = self.access_keys(name, read).await?;
        Ok(User {
            name: user.user_name,
            arn,
            path: user.path,
            created,
            has_console_password,
            console_password_source: Provenance::Live,
            mfa_devices,
            tags,
            access_keys,
        })
    }

    async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, CallError> {
        let request =
            |marker| self.client.list_user_tags().user_name(name).max_items(PAGE_SIZE).set_marker(marker).send();
        let split = |page: ListUserTagsOutput| {
            Ok(Page { items: page.tags, is_truncated: page.is_truncated, marker: page.marker })
        };
        let tags = self.all_pages("ListUserTags", request, split).await?;
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    async fn mfa_devices(&self, name: &str) -> Result<Vec<String>, CallError> {
        let request =
            |marker| self.client.list_mfa_devices().user_name(name).max_items(PAGE_SIZE).set_marker(marker).send();
        let split = |page: ListMfaDevicesOutput| {
            let items = page.mfa_devices.into_iter().map(|d| d.serial_number).collect();
            Ok(Page { items, is_truncated: page.is_truncated, marker: page.marker })
        };
        self.all_pages("ListMFADevices", request, split).await
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

    /// The user's keys, with the last use of each key that `read` reads live. A key whose last use
    /// is left to the report is `None` (never used) until [`with_report_facts`] sets it.
    async fn access_keys(&self, name: &str, read: Read<'_>) -> Result<Vec<AccessKey>, CallError> {
        let listed = self.listed_keys(name).await?;
        let mut keys = Vec::with_capacity(listed.len());
        for (id, status, created) in listed {
            if !read.reads_last_use(created) {
                keys.push(AccessKey { id, status, created, last_used: None, last_used_source: Provenance::Live });
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

    /// (id, status, created) of each of the user's keys: ListAccessKeys, every page.
    async fn listed_keys(&self, name: &str) -> Result<Vec<(String, KeyStatus, DateTime<Utc>)>, CallError> {
        let request =
            |marker| self.client.list_access_keys().user_name(name).max_items(PAGE_SIZE).set_marker(marker).send();
        let split = |page: ListAccessKeysOutput| {
            let items = page.access_key_metadata.iter().map(listed_key).collect::<Result<_, _>>()?;
            Ok(Page { items, is_truncated: page.is_truncated, marker: page.marker })
        };
        self.all_pages("ListAccessKeys", request, split).await
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

    async fn read_user_or_none(&self, name: &str, read: Read<'_>) -> Result<Option<User>, PortError> {
        match self.read_existing_user(name, read).await {
            Ok(user) => Ok(Some(user)),
            Err(err) if err.has_code(NO_SUCH_ENTITY) => {
                tracing::info!(user = name, operation = err.operation, "user does not exist");
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }
}

impl Iam for IamAdapter {
    async fn list_users(&self) -> Result<Vec<UserSummary>, PortError> {
        let request = |marker| self.client.list_users().max_items(PAGE_SIZE).set_marker(marker).send();
        let split = |page: ListUsersOutput| {
            let items = page.users.into_iter().map(|u| UserSummary { name: u.user_name, path: u.path }).collect();
            Ok(Page { items, is_truncated: page.is_truncated, marker: page.marker })
        };
        Ok(self.all_pages("ListUsers", request, split).await?)
    }

    async fn credential_report(&self) -> Result<CredentialReport, PortError> {
        self.generate_and_read_report().await
    }

    async fn read_user(&self, name: &str) -> Result<Option<User>, PortError> {
        self.read_user_or_none(name, Read::Live).await
    }

    async fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> Result<Option<User>, PortError> {
        let live = self.read_user_or_none(name, Read::WithReport(reported)).await?;
        Ok(live.map(|user| with_report_facts(user, reported, generated_at)))
    }

    async fn read_key_status(&self, user_name: &str, access_key_id: &str) -> Result<Option<KeyStatus>, PortError> {
        match self.listed_keys(user_name).await {
            Ok(listed) => Ok(listed.into_iter().find(|(id, ..)| id == access_key_id).map(|(_, status, _)| status)),
            Err(err) if err.has_code(NO_SUCH_ENTITY) => Ok(None),
            Err(err) => Err(err.into()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
