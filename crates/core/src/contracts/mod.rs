//! The payloads that cross Step Functions states (docs/architecture.md, "Contracts between states"). Each is a serde type with a sample
//! in `events/<fn>/`. States pass pointers and counts; lists of users and findings travel through S3
//! under `runs/<execution-name>/`, so no payload grows with the account.
//!
//! Evaluation time is never held in state output (moto's DescribeExecution fails on timestamps
//! there): every task that needs it receives `$$.Execution.StartTime` in its own payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credential_report::UnreadableRow;
use crate::credential_report::facts::ReportFacts;
use crate::decision::Decision;
use crate::policy::PlanStatus;

mod org;
pub use org::{AccountFailedOutput, AccountItem, DiscoverOutput, Discovery, ListUsersEvent, OrgListUsersInput};

/// Where a run keeps its state: `s3://{bucket}/runs/{execution_name}/`; in organisation scope, one
/// account's part of it (its listing, batches and batch results) under `accounts/<id>/` there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRef {
    /// The report bucket.
    pub bucket: String,
    /// The Step Functions execution name (unique per state machine).
    pub execution_name: String,
    /// The member account this part of an organisation run sweeps (`KEYWARD_SCOPE=organization`);
    /// absent for the run as a whole and for every run in account scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<crate::org::AccountId>,
}

impl RunRef {
    /// The run `execution_name` in `bucket`, as a whole.
    pub fn new(bucket: impl Into<String>, execution_name: impl Into<String>) -> RunRef {
        RunRef { bucket: bucket.into(), execution_name: execution_name.into(), account_id: None }
    }
    /// The same run's part for `account` (organisation scope).
    pub fn in_account(&self, account: crate::org::AccountId) -> RunRef {
        RunRef { account_id: Some(account), ..self.whole() }
    }
    /// The run as a whole (no account): where its accounts, report and deactivation are.
    pub fn whole(&self) -> RunRef {
        RunRef { bucket: self.bucket.clone(), execution_name: self.execution_name.clone(), account_id: None }
    }
    /// The key prefix of the run as a whole, `runs/<execution-name>/`, whatever the account.
    pub fn run_prefix(&self) -> String {
        format!("runs/{}/", self.execution_name)
    }
    /// The key prefix of this run's sweep: `runs/<execution-name>/`, or
    /// `runs/<execution-name>/accounts/<account id>/` for one account of an organisation run.
    pub fn prefix(&self) -> String {
        match &self.account_id {
            None => self.run_prefix(),
            Some(account) => format!("{}accounts/{account}/", self.run_prefix()),
        }
    }
    /// The key of what list-users found ([`Listing`]).
    pub fn listing_key(&self) -> String {
        format!("{}listing.json", self.prefix())
    }
    /// The key of the S3 JSON array the Distributed Map reads (one item per batch).
    pub fn batches_key(&self) -> String {
        format!("{}batches.json", self.prefix())
    }
    /// The key of one batch's live results.
    pub fn batch_result_key(&self, index: u32) -> String {
        format!("{}results/batch-{index:05}.json", self.prefix())
    }
    /// The key of an account's record of why it was not swept ([`crate::org::AccountFailure`]),
    /// written when its sweep failed: `runs/<exec>/accounts/<id>/failure.json`.
    pub fn account_failure_key(&self) -> String {
        format!("{}failure.json", self.prefix())
    }
    /// The key of the S3 JSON array of [`AccountItem`]s the Map over accounts reads (organisation
    /// scope): `runs/<exec>/accounts.json`.
    pub fn accounts_key(&self) -> String {
        format!("{}accounts.json", self.run_prefix())
    }
    /// The key of what discovery found ([`crate::org::Selection`]: every account, swept or not and
    /// why): `runs/<exec>/discovery.json`.
    pub fn discovery_key(&self) -> String {
        format!("{}discovery.json", self.run_prefix())
    }
    /// The key of the run report (one per run, whatever the account).
    pub fn report_key(&self) -> String {
        format!("{}report.json", self.run_prefix())
    }
    /// Where the run report is, for people: `s3://bucket/runs/<exec>/report.json`.
    pub fn report_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.report_key())
    }
}

/// Whether `name` is acceptable as an execution name in a key: Step Functions allows 1–80 of
/// `A-Za-z0-9-_`; we refuse anything else (no `/`, no `..`) so keys cannot escape `runs/`.
pub fn is_valid_execution_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Input of `list-users`: `{"execution_name.$": "$$.Execution.Name", "execution_id.$": "$$.Execution.Id",
/// "evaluated_at.$": "$$.Execution.StartTime"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListUsersInput {
    /// The execution name.
    pub execution_name: String,
    /// The execution's ARN, which names the account swept (absent when invoked by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// The execution's start time: the evaluation time of the whole run.
    pub evaluated_at: DateTime<Utc>,
}

/// Output of `list-users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUsersOutput {
    /// Where the run's state is.
    pub run: RunRef,
    /// Users listed by ListUsers.
    pub users_listed: usize,
    /// Users to check live.
    pub candidates: usize,
    /// Batches written to [`RunRef::batches_key`].
    pub batches: usize,
    /// The S3 key of the batches array (the Map's ItemReader reads it).
    pub batches_key: String,
    /// `candidates > 0`; the `Has Candidates?` choice reads this.
    pub has_candidates: bool,
}

/// Why a user needs a live check (what [`crate::screening`] found in the credential report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreenReason {
    /// The report shows no MFA device and the user is in `MFA_SCOPE` (`console`: the user has a
    /// console password; `all`: every user). Fires whatever `NO_MFA_ACTION` says, since `warn`
    /// still reports the user.
    NoMfa,
    /// An active key was last rotated at least `MAX_KEY_AGE_DAYS - WARN_DAYS - MARGIN_DAYS` days
    /// ago: it is too old, or close enough to need a warning.
    KeyNearAge,
    /// An active key's last activity (last use, or rotation if never used) is at least
    /// `UNUSED_KEY_DAYS - WARN_DAYS - MARGIN_DAYS` days ago: it is unused, or close to it.
    KeyNearUnused,
    /// ListUsers returned the user but the report has no row for it: created after the report was
    /// generated. Always checked.
    MissingFromReport,
    /// A row of the report names the user but could not be read (a wrong number of fields, a value
    /// the column does not accept, the user on two rows): the report says nothing about the user
    /// keyward can trust, so it is read fully live. Always checked.
    UnreadableReportRow,
    /// Every user is checked live, whatever the report says: `SCREENING=live`, or the credential
    /// report was not ready within the wait ([`Listing::report_unavailable`]).
    Live,
}

/// A user to check live, and every reason screening found (sorted, without repeats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The user name, as ListUsers returned it.
    pub user: String,
    /// Why the user is checked; never empty.
    pub reasons: Vec<ScreenReason>,
}

/// What list-users found, kept at [`RunRef::listing_key`] for validate-keys and the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The AWS account swept (from the execution's ARN), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<crate::org::AccountId>,
    /// Users ListUsers returned.
    pub users_listed: usize,
    /// How users were screened.
    pub screening: crate::config::Screening,
    /// Users to check live, and why.
    pub candidates: Vec<Candidate>,
    /// Report rows whose user no longer exists (ignored).
    pub deleted_since_report: usize,
    /// The credential report's rows that could not be read (`SCREENING=report`), with their line,
    /// user when known, and why; their users are checked live. Absent when every row was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_report_rows: Vec<UnreadableRow>,
    /// Why the credential report could not be used (`SCREENING=report`, but IAM did not have it
    /// ready within the bounded wait): every user was checked live instead. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_unavailable: Option<String>,
    /// When IAM generated the credential report the users were screened with (`SCREENING=report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_generated_at: Option<DateTime<Utc>>,
    /// IAM calls made by list-users, by `iam:Operation`.
    #[serde(default)]
    pub api_calls: std::collections::BTreeMap<String, u64>,
}

/// A batch of candidate users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBatch {
    /// The batch number, from 0.
    pub index: u32,
    /// The users' names.
    pub users: Vec<String>,
}

/// One item of the Distributed Map, an element of `batches.json`: a batch and, under
/// `SCREENING=report`, what the credential report said about its users, so that check-user reads
/// live only what must be fresh ([`crate::credential_report::facts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// The batch number, from 0.
    pub index: u32,
    /// The users' names.
    pub users: Vec<String>,
    /// The report's facts about the users that have a row; absent under `SCREENING=live`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportFacts>,
}

impl BatchItem {
    /// The batch, without the report's facts.
    pub fn batch(&self) -> UserBatch {
        UserBatch { index: self.index, users: self.users.clone() }
    }
}

/// Input of `check-user`: `{"run": …, "batch": <the Map item>}` (the Map's ItemSelector builds it).
/// The item's `report`, when there is one, is lifted out of `batch` into [`CheckUserInput::report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CheckUserPayload", into = "CheckUserPayload")]
pub struct CheckUserInput {
    /// Where the run's state is.
    pub run: RunRef,
    /// The batch.
    pub batch: UserBatch,
    /// The credential report's facts about the batch's users (the item's `report`).
    pub report: Option<ReportFacts>,
}

/// [`CheckUserInput`] as Step Functions sends it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckUserPayload {
    run: RunRef,
    batch: BatchItem,
}

impl From<CheckUserPayload> for CheckUserInput {
    fn from(payload: CheckUserPayload) -> Self {
        let CheckUserPayload { run, batch: BatchItem { index, users, report } } = payload;
        CheckUserInput { run, batch: UserBatch { index, users }, report }
    }
}

impl From<CheckUserInput> for CheckUserPayload {
    fn from(input: CheckUserInput) -> Self {
        let CheckUserInput { run, batch: UserBatch { index, users }, report } = input;
        CheckUserPayload { run, batch: BatchItem { index, users, report } }
    }
}

/// Output of `check-user`: a small summary; the users themselves are in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckUserOutput {
    /// The batch number.
    pub index: u32,
    /// Users read live.
    pub users_checked: usize,
    /// Users deleted since they were listed.
    pub users_gone: usize,
    /// Where the [`BatchResult`] is.
    pub result_key: String,
}

/// What `check-user` writes to S3 for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// The batch number.
    pub index: u32,
    /// The users as read live.
    pub users: Vec<crate::model::User>,
    /// Users deleted since they were listed.
    pub gone: Vec<String>,
    /// IAM calls made, by operation.
    #[serde(default)]
    pub api_calls: std::collections::BTreeMap<String, u64>,
}

/// Input of `validate-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateKeysInput {
    /// `list-users`' output: the run of one account (account scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<ListUsersOutput>,
    /// Discovery's output: the run of an organisation (`KEYWARD_SCOPE=organization`). Exactly one
    /// of `listed` and `discovered` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered: Option<DiscoverOutput>,
    /// The execution's start time.
    pub evaluated_at: DateTime<Utc>,
}

/// What the state machine does after `validate-keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextStep {
    /// Ask a human (`KEYWARD_MODE=approve`, plan within the cap).
    RequestApproval,
    /// Deactivate without approval (`KEYWARD_MODE=auto`, plan within the cap).
    Deactivate,
    /// Nothing to act on: empty plan, report mode, or cap exceeded.
    Done,
}

/// Output of `validate-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateKeysOutput {
    /// Where the run's state is.
    pub run: RunRef,
    /// The key of the run report.
    pub report_key: String,
    /// What the plan may do.
    pub status: PlanStatus,
    /// What the state machine does next.
    pub next: NextStep,
    /// Findings.
    pub findings: usize,
    /// Warnings.
    pub warnings: usize,
    /// Keys in the plan.
    pub planned: usize,
    /// Candidates that could not be evaluated.
    pub users_not_evaluated: usize,
    /// Every selected account was swept (always true in account scope); the state machine ends
    /// `AccountsNotSwept` when not.
    pub coverage_complete: bool,
    /// Selected accounts whose sweep failed (0 in account scope).
    pub accounts_failed: usize,
}

/// Input of `notify`: which message to send about which run. `Debug` hides the task token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum NotifyEvent {
    /// The account is clean: no candidates at all.
    Clean { run: RunRef, users_listed: usize, evaluated_at: DateTime<Utc> },
    /// The findings digest of a run.
    Digest { run: RunRef },
    /// Ask for approval; `task_token` is `$$.Task.Token` and is stored, never sent or logged.
    ApprovalRequest { run: RunRef, task_token: String },
    /// The approver rejected everything.
    Rejected { run: RunRef },
    /// Nobody decided before the timeout: nothing was done.
    Expired { run: RunRef },
    /// What deactivate did.
    Outcome { run: RunRef },
    /// Deactivate failed (caught after its retries; `error` is the error name Step Functions saw):
    /// what the journal says was changed, may have been, and was not touched.
    DeactivationFailed { run: RunRef, error: String },
}

impl std::fmt::Debug for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyEvent::ApprovalRequest { run, .. } => {
                f.debug_struct("ApprovalRequest").field("run", run).field("task_token", &"***").finish()
            }
            NotifyEvent::Clean { run, users_listed, evaluated_at } => f
                .debug_struct("Clean")
                .field("run", run)
                .field("users_listed", users_listed)
                .field("evaluated_at", evaluated_at)
                .finish(),
            NotifyEvent::Digest { run } => f.debug_struct("Digest").field("run", run).finish(),
            NotifyEvent::Rejected { run } => f.debug_struct("Rejected").field("run", run).finish(),
            NotifyEvent::Expired { run } => f.debug_struct("Expired").field("run", run).finish(),
            NotifyEvent::Outcome { run } => f.debug_struct("Outcome").field("run", run).finish(),
            NotifyEvent::DeactivationFailed { run, error } => {
                f.debug_struct("DeactivationFailed").field("run", run).field("error", error).finish()
            }
        }
    }
}

impl NotifyEvent {
    /// The run the message is about.
    pub fn run(&self) -> &RunRef {
        match self {
            NotifyEvent::Clean { run, .. }
            | NotifyEvent::Digest { run }
            | NotifyEvent::ApprovalRequest { run, .. }
            | NotifyEvent::Rejected { run }
            | NotifyEvent::Expired { run }
            | NotifyEvent::Outcome { run }
            | NotifyEvent::DeactivationFailed { run, .. } => run,
        }
    }
}

/// Output of `notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyOutput {
    /// The SNS message id.
    pub sns_message_id: Option<String>,
    /// Whether a Slack message was sent.
    pub slack_sent: bool,
}

/// Input of `deactivate`. In `approve` mode deactivate acts on the decision the approval function
/// recorded in the decisions table; `decision` (the SendTaskSuccess output), when given, must be
/// that one. In `auto` mode it is absent and the whole plan is approved by configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivateInput {
    /// Where the run's state is.
    pub run: RunRef,
    /// The decision, when a human made one.
    #[serde(default)]
    pub decision: Option<Decision>,
}

/// Output of `deactivate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivateOutput {
    /// Where the run's state is.
    pub run: RunRef,
    /// Keys deactivated and verified.
    pub deactivated: usize,
    /// Keys skipped by the re-check or the cap.
    pub skipped: usize,
    /// Keys whose deactivation failed.
    pub failed: usize,
    /// The run's deactivation had already been done by an earlier invocation (a retry, a redrive,
    /// a second invoke): the counts are that one's, read from its journal, and this invocation
    /// called no IAM write.
    #[serde(default)]
    pub already_executed: bool,
}

/// An event that does not match its contract. Named [`crate::errors::INVALID_INPUT`]; never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {contract} event: {message}")]
pub struct InvalidEvent {
    /// The contract type, e.g. `ListUsersInput`.
    pub contract: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

impl crate::errors::NamedError for InvalidEvent {
    fn error_name(&self) -> &'static str {
        crate::errors::INVALID_INPUT
    }
}

/// A contract whose values need checks beyond their shape.
pub trait Contract: serde::de::DeserializeOwned {
    /// The contract's name in error messages.
    const NAME: &'static str;
    /// Checks beyond the shape; the default accepts everything.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn check_run(run: &RunRef) -> Result<(), String> {
    if run.bucket.is_empty() {
        return Err("run.bucket is empty".to_owned());
    }
    if !is_valid_execution_name(&run.execution_name) {
        return Err(format!(
            "run.execution_name {:?} is not a Step Functions execution name (1-80 of A-Z a-z 0-9 - _)",
            run.execution_name
        ));
    }
    Ok(())
}

impl Contract for ListUsersInput {
    const NAME: &'static str = "ListUsersInput";
    fn validate(&self) -> Result<(), String> {
        if is_valid_execution_name(&self.execution_name) {
            Ok(())
        } else {
            Err(format!("execution_name {:?} is not a Step Functions execution name", self.execution_name))
        }
    }
}

impl Contract for CheckUserInput {
    const NAME: &'static str = "CheckUserInput";
    fn validate(&self) -> Result<(), String> {
        check_run(&self.run)?;
        if let Some(bad) = self.batch.users.iter().find(|u| !crate::config::is_iam_user_name(u)) {
            return Err(format!("batch.users holds {bad:?}, which is not an IAM user name"));
        }
        let reported = self.report.iter().flat_map(|r| r.users.keys());
        match reported.into_iter().find(|u| !self.batch.users.contains(u)) {
            Some(stray) => Err(format!("batch.report.users holds {stray:?}, which is not in batch.users")),
            None => Ok(()),
        }
    }
}

impl Contract for ValidateKeysInput {
    const NAME: &'static str = "ValidateKeysInput";
    fn validate(&self) -> Result<(), String> {
        match (&self.listed, &self.discovered) {
            (Some(listed), None) => check_run(&listed.run),
            (None, Some(discovered)) if discovered.run.account_id.is_some() => {
                Err("discovered.run names an account: discovery is of the run as a whole".to_owned())
            }
            (None, Some(discovered)) => check_run(&discovered.run),
            (None, None) => {
                Err("neither listed (account scope) nor discovered (organization scope) is present".to_owned())
            }
            (Some(_), Some(_)) => Err("both listed and discovered are present: a run is of one scope".to_owned()),
        }
    }
}

impl Contract for NotifyEvent {
    const NAME: &'static str = "NotifyEvent";
    fn validate(&self) -> Result<(), String> {
        check_run(self.run())?;
        match self {
            NotifyEvent::ApprovalRequest { task_token, .. } if task_token.is_empty() => {
                Err("task_token is empty".to_owned())
            }
            _ => Ok(()),
        }
    }
}

impl Contract for DeactivateInput {
    const NAME: &'static str = "DeactivateInput";
    fn validate(&self) -> Result<(), String> {
        check_run(&self.run)
    }
}

/// Decodes and checks an event: the one way a function reads its payload.
pub fn decode<T: Contract>(event: serde_json::Value) -> Result<T, InvalidEvent> {
    let value: T =
        serde_json::from_value(event).map_err(|e| InvalidEvent { contract: T::NAME, message: e.to_string() })?;
    value.validate().map_err(|message| InvalidEvent { contract: T::NAME, message })?;
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Listing, RunRef, ScreenReason};
    use crate::credential_report::UnreadableRow;
    use crate::org::AccountId;

    #[test]
    fn a_list_users_event_with_a_phase_is_an_organisation_step_judged_by_its_own_shape() {
        use super::{ListUsersEvent, OrgListUsersInput, decode};
        let account = serde_json::json!({"execution_name": "e-1", "evaluated_at": "2026-11-21T06:00:00Z"});
        assert!(matches!(decode::<ListUsersEvent>(account).unwrap(), ListUsersEvent::Account(_)));
        let step = serde_json::json!({
            "phase": "account-failed",
            "run": {"bucket": "b", "execution_name": "e-1", "account_id": "111122223333"},
            "error": "MemberRoleRefused"
        });
        match decode::<ListUsersEvent>(step).unwrap() {
            ListUsersEvent::Organization(OrgListUsersInput::AccountFailed { cause, .. }) => assert_eq!(cause, ""),
            other => panic!("{other:?}"),
        }
        for (bad, says) in [
            (serde_json::json!({"phase": "sweep", "execution_name": "e"}), "sweep"),
            (
                serde_json::json!({"phase": "account", "run": {"bucket": "b", "execution_name": "e"}, "evaluated_at": "2026-11-21T06:00:00Z"}),
                "run.account_id is missing",
            ),
            (
                serde_json::json!({"phase": "discover", "execution_name": "e", "evaluated_at": "2026-11-21T06:00:00Z", "extra": 1}),
                "extra",
            ),
            (serde_json::json!({"execution_name": "e", "evaluated_at": "2026-11-21T06:00:00Z", "run": {}}), "run"),
        ] {
            let err = decode::<ListUsersEvent>(bad.clone()).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn validate_keys_is_given_exactly_one_scopes_run() {
        use super::{ValidateKeysInput, decode};
        let listed = serde_json::json!({"run": {"bucket": "b", "execution_name": "e"}, "users_listed": 1, "candidates": 0,
            "batches": 0, "batches_key": "k", "has_candidates": false});
        let discovered = serde_json::json!({"run": {"bucket": "b", "execution_name": "e"}, "accounts_key": "k",
            "accounts_discovered": 2, "accounts_selected": 1, "has_accounts": true});
        let at = "2026-11-21T06:00:00Z";
        assert!(decode::<ValidateKeysInput>(serde_json::json!({"listed": listed, "evaluated_at": at})).is_ok());
        assert!(decode::<ValidateKeysInput>(serde_json::json!({"discovered": discovered, "evaluated_at": at})).is_ok());
        for (bad, says) in [
            (serde_json::json!({"evaluated_at": at}), "neither"),
            (serde_json::json!({"listed": listed, "discovered": discovered, "evaluated_at": at}), "both"),
        ] {
            let err = decode::<ValidateKeysInput>(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn an_accounts_part_of_a_run_keeps_its_sweep_under_its_id_and_shares_the_runs_report() {
        let run = RunRef::new("reports", "exec-1");
        let member = run.in_account(AccountId::parse("111122223333").unwrap());
        assert_eq!(member.listing_key(), "runs/exec-1/accounts/111122223333/listing.json");
        assert_eq!(member.batches_key(), "runs/exec-1/accounts/111122223333/batches.json");
        assert_eq!(member.batch_result_key(3), "runs/exec-1/accounts/111122223333/results/batch-00003.json");
        assert_eq!(member.account_failure_key(), "runs/exec-1/accounts/111122223333/failure.json");
        for key in [member.report_key(), run.report_key()] {
            assert_eq!(key, "runs/exec-1/report.json");
        }
        assert_eq!((member.accounts_key(), member.discovery_key()), (run.accounts_key(), run.discovery_key()));
        assert_eq!(run.listing_key(), "runs/exec-1/listing.json");
        assert_eq!(member.whole(), run);
        // The run as a whole has the shape it had before accounts existed.
        assert_eq!(
            serde_json::to_value(&run).unwrap(),
            serde_json::json!({"bucket": "reports", "execution_name": "exec-1"})
        );
        let json = serde_json::to_value(&member).unwrap();
        assert_eq!(json["account_id"], "111122223333");
        assert_eq!(serde_json::from_value::<RunRef>(json).unwrap(), member);
        let bad = serde_json::json!({"bucket": "b", "execution_name": "e", "account_id": "../../x"});
        assert!(serde_json::from_value::<RunRef>(bad).is_err());
    }

    #[test]
    fn reasons_serialize_in_kebab_case() {
        let json = serde_json::to_string(&[
            ScreenReason::NoMfa,
            ScreenReason::KeyNearAge,
            ScreenReason::KeyNearUnused,
            ScreenReason::MissingFromReport,
            ScreenReason::UnreadableReportRow,
            ScreenReason::Live,
        ])
        .unwrap();
        assert_eq!(
            json,
            r#"["no-mfa","key-near-age","key-near-unused","missing-from-report","unreadable-report-row","live"]"#
        );
    }

    #[test]
    fn listing_names_unreadable_report_rows_only_when_there_are_some() {
        // A listing written before unreadable rows were recorded still reads, as none.
        let old = r#"{"users_listed":2,"screening":"report","candidates":[],"deleted_since_report":0}"#;
        let listing: Listing = serde_json::from_str(old).unwrap();
        assert!(listing.unreadable_report_rows.is_empty());
        assert!(!serde_json::to_string(&listing).unwrap().contains("unreadable_report_rows"));

        let row = UnreadableRow { line: 4, user: Some("smith,john".into()), reason: "24 fields".into() };
        let listing = Listing { unreadable_report_rows: vec![row], ..listing };
        let json = serde_json::to_value(&listing).unwrap();
        assert_eq!(
            json["unreadable_report_rows"],
            serde_json::json!([{"line": 4, "user": "smith,john", "reason": "24 fields"}])
        );
        assert_eq!(serde_json::from_value::<Listing>(json).unwrap(), listing);
    }
}
