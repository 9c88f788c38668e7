//! In-memory fakes of the ports, for handler and domain tests (feature `fakes`, dev-dependencies
//! only). Each records what was done to it and can be told to fail, so tests assert on outcomes:
//! which keys became inactive, what was published, what was stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::contracts::RunRef;
use crate::credential_report::facts::ReportedUser;
use crate::model::{KeyStatus, User};
use crate::org::{AccountId, OrgAccount};
use crate::ports::{
    AccountAccess, AccountSession, ApprovalRecord, ApprovalState, ApprovalStore, Creation, CredentialReport,
    DecideError, DecisionStore, Iam, ObjectStore, Organization, PortError, Randomness, RecordedDecision, SelfInvoke,
    Slack, TaskCallback, TokenStore, Topic, UserSummary,
};

/// A fake IAM account.
#[derive(Default)]
pub struct FakeIam {
    /// The account's users, by name.
    pub users: Mutex<BTreeMap<String, User>>,
    /// The credential report to return; `None` makes `credential_report` fail as unavailable.
    pub report: Mutex<Option<Vec<u8>>>,
    /// The report's `GeneratedTime`; `None` (the default) as if IAM did not say, so list-users
    /// hands check-user no report facts and every user is read fully live.
    pub report_generated_at: Mutex<Option<DateTime<Utc>>>,
    /// Users read with report facts (`read_user_with_report`), in order.
    pub reads_with_report: Mutex<Vec<String>>,
    /// Users whose live read fails as throttled.
    pub throttled_users: Mutex<Vec<String>>,
    /// Keys whose deactivation fails.
    pub failing_keys: Mutex<Vec<String>>,
    /// IAM's eventual consistency, by key id: how many reads after a successful `deactivate_key`
    /// still show the key `Active` (the key itself is `Inactive` at once). `usize::MAX`: never
    /// visible within any test.
    pub read_lag: Mutex<BTreeMap<String, usize>>,
    /// The stale reads left per key, started by `deactivate_key` from `read_lag`.
    stale_reads: Mutex<BTreeMap<String, usize>>,
    calls: Mutex<BTreeMap<String, u64>>,
    /// Every deactivation requested, in order: (user, key).
    pub deactivations: Mutex<Vec<(String, String)>>,
}

impl FakeIam {
    /// An account holding these users.
    pub fn with_users(users: impl IntoIterator<Item = User>) -> Self {
        let fake = FakeIam::default();
        *fake.users.lock().unwrap() = users.into_iter().map(|u| (u.name.clone(), u)).collect();
        fake
    }

    /// The status of a key now, if the user and key exist.
    pub fn key_status(&self, user: &str, key: &str) -> Option<KeyStatus> {
        let users = self.users.lock().unwrap();
        users.get(user)?.access_keys.iter().find(|k| k.id == key).map(|k| k.status)
    }

    /// `user` as a read shows it: a key still within its `read_lag` reads `Active`, and uses up
    /// one stale read.
    fn as_read(&self, mut user: User) -> User {
        let mut stale = self.stale_reads.lock().unwrap();
        for key in &mut user.access_keys {
            if let Some(left) = stale.get_mut(&key.id).filter(|left| **left > 0) {
                *left -= 1;
                key.status = KeyStatus::Active;
            }
        }
        user
    }

    fn count(&self, op: &str) {
        *self.calls.lock().unwrap().entry(format!("iam:{op}")).or_default() += 1;
    }
}

impl Iam for FakeIam {
    async fn list_users(&self) -> Result<Vec<UserSummary>, PortError> {
        self.count("ListUsers");
        Ok(self
            .users
            .lock()
            .unwrap()
            .values()
            .map(|u| UserSummary { name: u.name.clone(), path: u.path.clone() })
            .collect())
    }

    async fn credential_report(&self) -> Result<CredentialReport, PortError> {
        self.count("GetCredentialReport");
        let csv = self
            .report
            .lock()
            .unwrap()
            .clone()
            .ok_or(PortError::ReportUnavailable { reason: "fake: no report".into() })?;
        Ok(CredentialReport { csv, generated_at: *self.report_generated_at.lock().unwrap() })
    }

    async fn read_user(&self, name: &str) -> Result<Option<User>, PortError> {
        self.count("GetUser");
        if self.throttled_users.lock().unwrap().iter().any(|u| u == name) {
            return Err(PortError::IamThrottled { operation: "ListAccessKeys" });
        }
        let user = self.users.lock().unwrap().get(name).cloned();
        Ok(user.map(|u| self.as_read(u)))
    }

    /// The stored user with the console password and the last use of each key the report
    /// describes taken from `reported`, as the IAM adapter assembles it.
    async fn read_user_with_report(
        &self,
        name: &str,
        reported: &ReportedUser,
        generated_at: DateTime<Utc>,
    ) -> Result<Option<User>, PortError> {
        self.reads_with_report.lock().unwrap().push(name.to_owned());
        let live = self.read_user(name).await?;
        Ok(live.map(|user| crate::credential_report::facts::with_report_facts(user, reported, generated_at)))
    }

    /// The key's status as [`FakeIam::read_user`] would show it (a lagging read included), counted
    /// as the one ListAccessKeys it is.
    async fn read_key_status(&self, user_name: &str, access_key_id: &str) -> Result<Option<KeyStatus>, PortError> {
        self.count("ListAccessKeys");
        let user = self.users.lock().unwrap().get(user_name).cloned();
        Ok(user
            .map(|u| self.as_read(u))
            .and_then(|u| u.access_keys.into_iter().find(|k| k.id == access_key_id))
            .map(|k| k.status))
    }

    async fn deactivate_key(&self, user_name: &str, access_key_id: &str) -> Result<(), PortError> {
        self.count("UpdateAccessKey");
        self.deactivations.lock().unwrap().push((user_name.to_owned(), access_key_id.to_owned()));
        if self.failing_keys.lock().unwrap().iter().any(|k| k == access_key_id) {
            return Err(PortError::Failed { operation: "UpdateAccessKey", message: "fake: AccessDenied".into() });
        }
        let mut users = self.users.lock().unwrap();
        let key = users
            .get_mut(user_name)
            .and_then(|u| u.access_keys.iter_mut().find(|k| k.id == access_key_id))
            .ok_or(PortError::Failed { operation: "UpdateAccessKey", message: "NoSuchEntity".into() })?;
        key.status = KeyStatus::Inactive;
        if let Some(lag) = self.read_lag.lock().unwrap().get(access_key_id) {
            self.stale_reads.lock().unwrap().insert(access_key_id.to_owned(), *lag);
        }
        Ok(())
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap().clone()
    }
}

/// A fake bucket.
#[derive(Default)]
pub struct FakeStore {
    /// Objects by (bucket, key).
    pub objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    /// When true, every call fails.
    pub broken: Mutex<bool>,
    /// Writes (`put`, `create`) to a key containing one of these fail, and write nothing.
    pub failing_writes: Mutex<Vec<String>>,
}

impl FakeStore {
    /// The object at `key` in any bucket, parsed as JSON.
    pub fn json(&self, key: &str) -> Option<serde_json::Value> {
        let objects = self.objects.lock().unwrap();
        objects.iter().find(|((_, k), _)| k == key).map(|(_, v)| serde_json::from_slice(v).unwrap())
    }

    fn check(&self, operation: &'static str) -> Result<(), PortError> {
        if *self.broken.lock().unwrap() {
            return Err(PortError::Failed { operation, message: "fake: bucket unavailable".into() });
        }
        Ok(())
    }

    fn check_write(&self, key: &str) -> Result<(), PortError> {
        self.check("PutObject")?;
        if self.failing_writes.lock().unwrap().iter().any(|k| key.contains(k.as_str())) {
            return Err(PortError::Failed { operation: "PutObject", message: "fake: InternalError".into() });
        }
        Ok(())
    }
}

impl ObjectStore for FakeStore {
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), PortError> {
        self.check_write(key)?;
        self.objects.lock().unwrap().insert((bucket.to_owned(), key.to_owned()), body);
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.check("GetObject")?;
        Ok(self.objects.lock().unwrap().get(&(bucket.to_owned(), key.to_owned())).cloned())
    }

    async fn create(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<Creation, PortError> {
        self.check_write(key)?;
        match self.objects.lock().unwrap().entry((bucket.to_owned(), key.to_owned())) {
            Entry::Occupied(_) => Ok(Creation::AlreadyExists),
            Entry::Vacant(slot) => {
                slot.insert(body);
                Ok(Creation::Created)
            }
        }
    }
}

/// A fake store of short-lived single-use items, with DynamoDB's conditional semantics and the
/// expiry checked on every read, as the adapter does.
#[derive(Default)]
pub struct FakeTokens {
    /// Items by key: (value, expires_at).
    pub items: Mutex<BTreeMap<String, (String, DateTime<Utc>)>>,
}

impl TokenStore for FakeTokens {
    async fn put_new(
        &self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Creation, PortError> {
        let mut items = self.items.lock().unwrap();
        if items.get(key).is_some_and(|(_, old_expiry)| now < *old_expiry) {
            return Ok(Creation::AlreadyExists);
        }
        items.insert(key.to_owned(), (value.to_owned(), expires_at));
        Ok(Creation::Created)
    }

    async fn get_live(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        let items = self.items.lock().unwrap();
        Ok(items.get(key).filter(|(_, expires_at)| now < *expires_at).map(|(value, _)| value.clone()))
    }

    async fn take(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        let taken = self.items.lock().unwrap().remove(key);
        Ok(taken.filter(|(_, expires_at)| now < *expires_at).map(|(value, _)| value))
    }
}

/// A fake SNS topic.
#[derive(Default)]
pub struct FakeTopic {
    /// Published (topic, subject, text).
    pub published: Mutex<Vec<(String, String, String)>>,
    /// When true, publishing fails.
    pub broken: Mutex<bool>,
    /// When true, the topic has no confirmed subscription (by default it has one).
    pub nobody_subscribed: Mutex<bool>,
}

impl Topic for FakeTopic {
    async fn publish(&self, topic_arn: &str, subject: &str, text: &str) -> Result<String, PortError> {
        if *self.broken.lock().unwrap() {
            return Err(PortError::Failed { operation: "Publish", message: "fake: topic unavailable".into() });
        }
        let mut published = self.published.lock().unwrap();
        published.push((topic_arn.to_owned(), subject.to_owned(), text.to_owned()));
        Ok(format!("msg-{}", published.len()))
    }

    async fn confirmed_subscriptions(&self, _topic_arn: &str) -> Result<u32, PortError> {
        Ok(if *self.nobody_subscribed.lock().unwrap() { 0 } else { 1 })
    }
}

/// A fake Slack.
#[derive(Default)]
pub struct FakeSlack {
    /// Posted (url, payload).
    pub posted: Mutex<Vec<(String, serde_json::Value)>>,
}

impl Slack for FakeSlack {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), PortError> {
        self.posted.lock().unwrap().push((url.to_owned(), payload.clone()));
        Ok(())
    }
}

/// A fake Lambda asynchronous self-invocation: keeps the events, to be run by the test.
#[derive(Default)]
pub struct FakeSelfInvoke {
    /// Queued events, in order.
    pub events: Mutex<Vec<serde_json::Value>>,
    /// When true, queueing fails (and nothing is queued).
    pub broken: Mutex<bool>,
}

impl SelfInvoke for FakeSelfInvoke {
    async fn invoke_event(&self, event: &serde_json::Value) -> Result<(), PortError> {
        if *self.broken.lock().unwrap() {
            return Err(PortError::Failed { operation: "Invoke", message: "fake: Lambda unavailable".into() });
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// What a task-token callback received.
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    /// SendTaskSuccess(token, output).
    Success(String, serde_json::Value),
    /// SendTaskFailure(token, error, cause).
    Failure(String, String, String),
}

/// A fake Step Functions.
#[derive(Default)]
pub struct FakeCallback {
    /// Callbacks received, in order.
    pub calls: Mutex<Vec<Callback>>,
}

impl TaskCallback for FakeCallback {
    async fn succeed(&self, task_token: &str, output: &serde_json::Value) -> Result<(), PortError> {
        self.calls.lock().unwrap().push(Callback::Success(task_token.to_owned(), output.clone()));
        Ok(())
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), PortError> {
        self.calls.lock().unwrap().push(Callback::Failure(task_token.to_owned(), error.to_owned(), cause.to_owned()));
        Ok(())
    }
}

/// A fake approvals table and decisions table, with the same conditional-write semantics as
/// DynamoDB's (a decision is recorded together with its approval's move to decided, or not at all).
#[derive(Default)]
pub struct FakeApprovals {
    /// Records by id hash.
    pub records: Mutex<BTreeMap<String, ApprovalRecord>>,
    /// Decisions by execution name.
    pub decisions: Mutex<BTreeMap<String, RecordedDecision>>,
}

impl DecisionStore for FakeApprovals {
    async fn record(&self, recorded: &RecordedDecision) -> Result<(), DecideError> {
        let mut records = self.records.lock().unwrap();
        let mut decisions = self.decisions.lock().unwrap();
        let record = records.get_mut(&recorded.approval_id_hash).ok_or(DecideError::NotFound)?;
        if record.state != ApprovalState::Pending || decisions.contains_key(&recorded.run.execution_name) {
            return Err(DecideError::AlreadyDecided);
        }
        record.state = ApprovalState::Decided {
            outcome: recorded.outcome.as_str().to_owned(),
            decided_at: recorded.decision.decided_at,
        };
        decisions.insert(recorded.run.execution_name.clone(), recorded.clone());
        Ok(())
    }

    async fn recorded(&self, run: &RunRef) -> Result<Option<RecordedDecision>, PortError> {
        Ok(self.decisions.lock().unwrap().get(&run.execution_name).filter(|d| d.run == *run).cloned())
    }
}

impl ApprovalStore for FakeApprovals {
    async fn put_pending(&self, record: &ApprovalRecord) -> Result<(), PortError> {
        self.records.lock().unwrap().insert(record.id_hash.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id_hash: &str) -> Result<Option<ApprovalRecord>, PortError> {
        Ok(self.records.lock().unwrap().get(id_hash).cloned())
    }
}

/// Predictable "randomness": each call returns the next counter value in every byte.
#[derive(Default)]
pub struct CountingRandom(Mutex<u8>);

impl Randomness for CountingRandom {
    fn bytes32(&self) -> Result<[u8; 32], PortError> {
        let mut n = self.0.lock().unwrap();
        *n = n.wrapping_add(1);
        Ok([*n; 32])
    }
}

/// A fake organisation: the accounts discovery returns, or a failure.
#[derive(Default)]
pub struct FakeOrganization {
    /// The accounts, in the order discovery returns them.
    pub accounts: Mutex<Vec<OrgAccount>>,
    /// When set, `accounts` fails with this error.
    pub failure: Mutex<Option<PortError>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl FakeOrganization {
    /// An organisation of these accounts.
    pub fn with_accounts(accounts: impl IntoIterator<Item = OrgAccount>) -> Self {
        let fake = FakeOrganization::default();
        *fake.accounts.lock().unwrap() = accounts.into_iter().collect();
        fake
    }
}

impl Organization for FakeOrganization {
    async fn accounts(&self) -> Result<Vec<OrgAccount>, PortError> {
        *self.calls.lock().unwrap().entry("organizations:ListAccounts".to_owned()).or_default() += 1;
        match self.failure.lock().unwrap().clone() {
            Some(err) => Err(err),
            None => Ok(self.accounts.lock().unwrap().clone()),
        }
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap().clone()
    }
}

/// Fake member accounts: one [`FakeIam`] per account that has keyward's roles. A session is refused
/// as STS would refuse it under `member/keyward-member.yaml`: into an account without one, with a
/// role it does not have, into a write role without a source identity, or into another role with
/// one (the read role's trust does not allow `sts:SetSourceIdentity`).
#[derive(Default)]
pub struct FakeAccountAccess {
    /// Each member account's IAM, shared with the test that seeds and inspects it.
    pub accounts: Mutex<BTreeMap<AccountId, Arc<FakeIam>>>,
    /// The role names every member account has (e.g. `keyward-read`, `keyward-deactivate`).
    pub roles: Mutex<Vec<String>>,
    /// The roles whose sessions must carry a source identity (e.g. `keyward-deactivate`).
    pub write_roles: Mutex<Vec<String>>,
    /// Every session asked for, in order, refused ones too.
    pub sessions: Mutex<Vec<AccountSession>>,
}

impl FakeAccountAccess {
    /// Member accounts with these roles, each holding its own users.
    pub fn with_accounts(roles: &[&str], accounts: impl IntoIterator<Item = (AccountId, Vec<User>)>) -> Self {
        let fake = FakeAccountAccess::default();
        *fake.roles.lock().unwrap() = roles.iter().map(|r| (*r).to_owned()).collect();
        *fake.accounts.lock().unwrap() =
            accounts.into_iter().map(|(id, users)| (id, Arc::new(FakeIam::with_users(users)))).collect();
        fake
    }

    /// The IAM of `account`, to seed or inspect.
    pub fn iam(&self, account: &AccountId) -> Option<Arc<FakeIam>> {
        self.accounts.lock().unwrap().get(account).cloned()
    }
}

impl AccountAccess for FakeAccountAccess {
    type Iam = Arc<FakeIam>;

    async fn iam_in(&self, session: &AccountSession) -> Result<Arc<FakeIam>, PortError> {
        self.sessions.lock().unwrap().push(session.clone());
        let has_role = self.roles.lock().unwrap().contains(&session.role);
        let writes = self.write_roles.lock().unwrap().contains(&session.role);
        let trusted = has_role && writes == session.source_identity.is_some();
        match self.accounts.lock().unwrap().get(&session.account) {
            Some(iam) if trusted => Ok(Arc::clone(iam)),
            _ => Err(PortError::MemberRoleRefused {
                account: session.account.clone(),
                role: session.role.clone(),
                message: "AccessDenied: not authorized to perform sts:AssumeRole".to_owned(),
            }),
        }
    }
}
