//! Ports: the small traits through which handlers reach the outside world. `keyward-aws` implements
//! them over the AWS SDK and the Slack webhook; [`crate::fakes`] implements them in memory for
//! handler tests. Every error is typed: a throttled or failed read is an error, never "no MFA",
//! "no keys" or "never used".

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credential_report::facts::ReportedUser;
use crate::decision::Decision;
use crate::errors::{self, NamedError};
use crate::identity::{SessionName, SourceIdentity};
use crate::model::{KeyStatus, User};
use crate::org::{AccountId, OrgAccount};

/// A user as ListUsers returns it (no per-user detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user name.
    pub name: String,
    /// The IAM path.
    pub path: String,
}

/// The IAM credential report as GetCredentialReport returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    /// The CSV (`Content`, base64-decoded).
    pub csv: Vec<u8>,
    /// When IAM generated it (`GeneratedTime`); `None` if IAM did not say.
    pub generated_at: Option<DateTime<Utc>>,
}

/// Why an AWS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// IAM throttled a call past every retry.
    #[error("{operation} was throttled past all retries")]
    IamThrottled { operation: &'static str },
    /// Another service (S3, SNS, Step Functions, DynamoDB) throttled a call past every retry.
    #[error("{operation} was throttled past all retries")]
    AwsThrottled { operation: &'static str },
    /// The credential report could not be had within the bounded wait.
    #[error("the IAM credential report is unavailable: {reason}")]
    ReportUnavailable { reason: String },
    /// A Step Functions callback named a task token the service no longer accepts: the wait timed
    /// out, the task was already answered, or the token is not one. `code` is the service's error
    /// code (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`).
    #[error("{operation} failed: the task token is no longer accepted (expired, already answered or unknown) ({code})")]
    TaskGone { operation: &'static str, code: String },
    /// Any other failure after the SDK's retries (access denied, network, service error).
    #[error("{operation} failed: {message}")]
    Failed { operation: &'static str, message: String },
    /// Organizations refused to list the organisation: this account may not read it. `message`
    /// is the service's code and message.
    #[error(
        "{operation} was denied ({message}): keyward reads the organisation with organizations:ListAccounts, organizations:ListRoots, organizations:ListChildren and organizations:ListParents, from the management account or from an account that the organisation's delegated administrator policy allows them to"
    )]
    OrganizationsDenied { operation: &'static str, message: String },
    /// STS refused AssumeRole into a member account's role: the role is not there, or it does not
    /// trust this function. `message` is STS's code and message (ARNs, never a credential).
    #[error(
        "cannot assume role {role} in account {account} ({message}): role {role} missing or not trusting this function: the StackSet of member/keyward-member.yaml does not cover account {account} (the management account needs its own stack of it), or this function's own role may not assume it"
    )]
    MemberRoleRefused { account: AccountId, role: String, message: String },
}

impl NamedError for PortError {
    fn error_name(&self) -> &'static str {
        match self {
            PortError::IamThrottled { .. } => errors::IAM_THROTTLED,
            PortError::AwsThrottled { .. } => errors::AWS_THROTTLED,
            PortError::ReportUnavailable { .. } => errors::CREDENTIAL_REPORT_UNAVAILABLE,
            PortError::TaskGone { .. } | PortError::Failed { .. } | PortError::OrganizationsDenied { .. } => {
                errors::AWS_CALL_FAILED
            }
            PortError::MemberRoleRefused { .. } => errors::MEMBER_ROLE_REFUSED,
        }
    }
}

/// Reads and writes IAM. One instance per invocation shares one rate limiter and one call counter.
pub trait Iam: Send + Sync {
    /// Every user of the account (all pages).
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserSummary>, PortError>> + Send;
    /// The credential report: generates it if needed and waits, bounded, for it to complete.
    fn credential_report(&self) -> impl Future<Output = Result<CredentialReport, PortError>> + Send;
    /// The user read live with every detail the policy needs; `None` if the user does not exist.
    /// Nothing comes from the credential report: the re-check before a deactivation uses this.
    fn read_user(&self, name: &str) -> impl Future<Output = Result<Option<User>, PortError>> + Send;
    /// The user read for the policy with the credential report's facts about it (generated at
    /// `generated_at`): existence and tags, MFA devices, and the keys with their status and
    /// creation are read live; the console password and the last use of each key the report
    /// describes come from `reported` (see [`crate::credential_report::facts`] for why that is safe). A key the
    /// report does not describe has its last use read live. `None` if the user does not exist.
    fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<User>, PortError>> + Send;
    /// The status of one key of one user, read live with ListAccessKeys alone: what deactivate's
    /// read-back after `UpdateAccessKey` needs, one call where [`Iam::read_user`] makes up to seven.
    /// `None` if the user or the key no longer exists.
    fn read_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyStatus>, PortError>> + Send;
    /// Sets one key of one user to `Inactive`. Never deletes.
    fn deactivate_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Calls made so far through this instance, by `iam:Operation`.
    fn api_calls(&self) -> BTreeMap<String, u64>;
}

/// A shared IAM port is the port: a handler may hold one account's [`Iam`] behind an [`Arc`].
impl<T: Iam> Iam for Arc<T> {
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserSummary>, PortError>> + Send {
        T::list_users(self)
    }
    fn credential_report(&self) -> impl Future<Output = Result<CredentialReport, PortError>> + Send {
        T::credential_report(self)
    }
    fn read_user(&self, name: &str) -> impl Future<Output = Result<Option<User>, PortError>> + Send {
        T::read_user(self, name)
    }
    fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<User>, PortError>> + Send {
        T::read_user_with_report(self, name, reported, generated_at)
    }
    fn read_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyStatus>, PortError>> + Send {
        T::read_key_status(self, user_name, access_key_id)
    }
    fn deactivate_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        T::deactivate_key(self, user_name, access_key_id)
    }
    fn api_calls(&self) -> BTreeMap<String, u64> {
        T::api_calls(self)
    }
}

/// AWS Organizations, read from the management account or a delegated administrator.
pub trait Organization: Send + Sync {
    /// Every account of the organisation (all pages), each with its `State` and the OUs it is
    /// under; [`crate::org::select`] decides which are swept.
    fn accounts(&self) -> impl Future<Output = Result<Vec<OrgAccount>, PortError>> + Send;
    /// Calls made so far through this instance, by `organizations:Operation`.
    fn api_calls(&self) -> BTreeMap<String, u64>;
}

/// Which session to open in a member account ([`AccountAccess::iam_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSession {
    /// The member account.
    pub account: AccountId,
    /// The role's name there (`MEMBER_READ_ROLE` or `MEMBER_WRITE_ROLE`).
    pub role: String,
    /// Which function of which run holds the session.
    pub name: SessionName,
    /// Who approved, for a session that acts on a decision: the write role requires it, and the
    /// read role's trust policy does not allow `sts:SetSourceIdentity`, so a read session carries
    /// none (`member/keyward-member.yaml`).
    pub source_identity: Option<SourceIdentity>,
}

/// Short-lived credentials in member accounts: one session per account and step.
pub trait AccountAccess: Send + Sync {
    /// IAM in a member account, with its own rate limiter and call counts (IAM's rate is per
    /// account).
    type Iam: Iam;
    /// Opens `session` (STS AssumeRole) and returns IAM acting through it. A refusal is
    /// [`PortError::MemberRoleRefused`]. Call it once per invocation, when the invocation starts
    /// the account's work: the credentials are made to last until the invocation's timeout, no
    /// longer.
    fn iam_in(&self, session: &AccountSession) -> impl Future<Output = Result<Self::Iam, PortError>> + Send;
}

/// Whether a write that must not overwrite created its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// Nothing was there: the item is now the one written.
    Created,
    /// Something was already there; it was left as it was, and nothing was written.
    AlreadyExists,
}

/// The report bucket.
pub trait ObjectStore: Send + Sync {
    /// Writes an object (JSON, server-side encrypted by the bucket's default).
    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Writes an object only if none exists at `key` (S3's conditional write, `If-None-Match: *`):
    /// a record that must be written once, such as a claim or a journal entry, is never
    /// overwritten, however many writers race.
    fn create(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Creation, PortError>> + Send;
    /// Reads an object; `None` if it does not exist.
    fn get(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, PortError>> + Send;
}

/// SNS.
pub trait Topic: Send + Sync {
    /// Publishes a message; returns its message id.
    fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        text: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
    /// How many of the topic's subscriptions are confirmed (not pending confirmation, not being
    /// deleted): who a published message reaches.
    fn confirmed_subscriptions(&self, topic_arn: &str) -> impl Future<Output = Result<u32, PortError>> + Send;
}

/// A Slack incoming webhook (or a `response_url`).
pub trait Slack: Send + Sync {
    /// Posts a Block Kit payload.
    fn post(&self, url: &str, payload: &serde_json::Value) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Lambda's asynchronous invocation of the running function itself (`Invoke` with
/// `InvocationType=Event`): work that must go on after the request that started it is answered.
pub trait SelfInvoke: Send + Sync {
    /// Queues `event` for a later invocation of this function; `Ok` once Lambda has accepted it.
    fn invoke_event(&self, event: &serde_json::Value) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Step Functions task-token callbacks.
pub trait TaskCallback: Send + Sync {
    /// SendTaskSuccess with a JSON output.
    fn succeed(
        &self,
        task_token: &str,
        output: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// SendTaskFailure with an error name and a cause.
    fn fail(&self, task_token: &str, error: &str, cause: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The state of an approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Decided; the decision is in the decisions table ([`DecisionStore`]), written in the same
    /// transaction.
    Decided { outcome: String, decided_at: DateTime<Utc> },
}

/// An approval request as stored (DynamoDB `approvals` table). The key is the SHA-256 of the
/// approval id; the id itself is never stored. `Debug` hides the task token and the form nonce.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Hex SHA-256 of the approval id.
    pub id_hash: String,
    /// The Step Functions task token. Never logged, never sent.
    pub task_token: String,
    /// The run.
    pub run: crate::contracts::RunRef,
    /// A random value bound into the confirm form's CSRF token.
    pub form_nonce: String,
    /// When the request was made.
    pub created_at: DateTime<Utc>,
    /// When the link stops working (the state's timeout).
    pub expires_at: DateTime<Utc>,
    /// Pending or decided.
    pub state: ApprovalState,
}

impl std::fmt::Debug for ApprovalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalRecord")
            .field("id_hash", &self.id_hash)
            .field("task_token", &"***")
            .field("run", &self.run)
            .field("form_nonce", &"***")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .finish()
    }
}

/// Why a decision was not recorded ([`DecisionStore::record`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// Someone decided first.
    #[error("this approval was already decided")]
    AlreadyDecided,
    /// No such approval.
    #[error("no such approval")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] PortError),
}

/// The approvals table.
pub trait ApprovalStore: Send + Sync {
    /// Stores a new pending request.
    fn put_pending(&self, record: &ApprovalRecord) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Reads a request by id hash.
    fn get(&self, id_hash: &str) -> impl Future<Output = Result<Option<ApprovalRecord>, PortError>> + Send;
}

/// What the approver chose, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionOutcome {
    /// Deactivate exactly the decision's keys.
    Approved,
    /// Deactivate nothing.
    Rejected,
}

impl DecisionOutcome {
    /// How the tables and the logs name it (`approved`, `rejected`).
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Approved => "approved",
            DecisionOutcome::Rejected => "rejected",
        }
    }
}

/// A run's decision as the approval function recorded it in the decisions table: the source of
/// truth deactivate acts on, which no other function can write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// The run decided on.
    pub run: crate::contracts::RunRef,
    /// The hex SHA-256 of the approval id whose record was decided with it.
    pub approval_id_hash: String,
    /// Approved or rejected.
    pub outcome: DecisionOutcome,
    /// Who decided, when, and which keys (none when rejected).
    pub decision: Decision,
}

/// The decisions table: one decision per run, written once, by the approval function only.
pub trait DecisionStore: Send + Sync {
    /// Records `recorded` for its run and moves its approval record from pending to decided: both
    /// or neither (one transaction). `AlreadyDecided` when the approval is no longer pending or the
    /// run already has a decision; `NotFound` when there is no such approval.
    fn record(&self, recorded: &RecordedDecision) -> impl Future<Output = Result<(), DecideError>> + Send;
    /// The decision recorded for `run`, if any (a consistent read).
    fn recorded(
        &self,
        run: &crate::contracts::RunRef,
    ) -> impl Future<Output = Result<Option<RecordedDecision>, PortError>> + Send;
}

/// Short-lived single-use items in the approvals table, beside the approval records: an OpenID
/// sign-in's `state`, a sign-in session, a Slack request already accepted. The caller chooses the
/// key, a hash with a prefix per kind (`oidc-state#…`), so no kind meets another or an approval
/// record (whose key is a bare hex hash). An item is dead from `expires_at` on, whether or not
/// DynamoDB's TTL (which deletes late, within days) has removed it yet.
pub trait TokenStore: Send + Sync {
    /// Stores `value` under `key` until `expires_at`, only if no item live at `now` has that key
    /// (a conditional write): `AlreadyExists` when one has, and then nothing is written.
    fn put_new(
        &self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Creation, PortError>> + Send;
    /// The value under `key` if it is live at `now`.
    fn get_live(&self, key: &str, now: DateTime<Utc>)
    -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Removes the item under `key` and returns its value if it was live at `now`: single use,
    /// since of two takers only one gets the value.
    fn take(&self, key: &str, now: DateTime<Utc>) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// 32 bytes from the operating system's random source.
pub trait Randomness: Send + Sync {
    /// Fresh random bytes; an error if the source fails (there is no weaker fallback: the caller
    /// fails rather than mint a guessable id).
    fn bytes32(&self) -> Result<[u8; 32], PortError>;
}
