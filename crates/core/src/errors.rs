//! Error names that cross the Lambda boundary. Step Functions sees these strings as the error of a
//! failed task; the ASL retries and catches them by name, so they are constants here, never a Rust
//! type name.

/// The approver rejected every key (SendTaskFailure). Caught: NotifyRejected, no action.
pub const APPROVAL_REJECTED: &str = "ApprovalRejected";
/// IAM throttled a call past all retries. Retried by the ASL with backoff.
pub const IAM_THROTTLED: &str = "IamThrottled";
/// S3, SNS, Step Functions or DynamoDB throttled a call past all retries. Retried by the ASL.
pub const AWS_THROTTLED: &str = "AwsThrottled";
/// A user named in the run no longer exists.
pub const USER_NOT_FOUND: &str = "UserNotFound";
/// The event a function received does not match its contract. Never retried.
pub const INVALID_INPUT: &str = "InvalidInput";
/// A configuration variable is missing or not valid. Never retried.
pub const INVALID_CONFIG: &str = "InvalidConfig";
/// The IAM credential report could not be parsed (AWS changed its format, or it is corrupt).
pub const CREDENTIAL_REPORT_INVALID: &str = "CredentialReportInvalid";
/// The IAM credential report could not be generated within the bounded wait.
pub const CREDENTIAL_REPORT_UNAVAILABLE: &str = "CredentialReportUnavailable";
/// An AWS call failed for a reason other than throttling (after the SDK's retries).
pub const AWS_CALL_FAILED: &str = "AwsCallFailed";
/// A notification (SNS, Slack) could not be delivered.
pub const NOTIFY_FAILED: &str = "NotifyFailed";
/// The run's stored state (S3 objects under `runs/<execution>/`) is missing or unreadable.
pub const RUN_STATE_INVALID: &str = "RunStateInvalid";
/// The run's report already exists: an earlier execution with the same name (Step Functions allows
/// a name again 90 days after its execution closed) or a redrive recorded it, and it is never
/// overwritten. Nothing was written. Never retried.
pub const RUN_ALREADY_RECORDED: &str = "RunAlreadyRecorded";

/// A run's deactivation was claimed by an invocation that did not finish (a crash, a timeout, a
/// journal or report write that failed, or one still running): this invocation did nothing; the
/// journal tells which keys were changed. Never retried; caught: Notify Deactivation Failed.
pub const DEACTIVATION_INCOMPLETE: &str = "DeactivationIncomplete";

/// STS refused AssumeRole into a member account's role (missing there, or not trusting the
/// function): the error names the account, the role and the fix. Retrying cannot help.
pub const MEMBER_ROLE_REFUSED: &str = "MemberRoleRefused";

/// Not a function's error: the state machine's end (its Fail state "Accounts Not Swept") when an
/// organisation run could not sweep every selected account. The messages name it, so that whoever
/// reads the digest knows which alarm fires.
pub const ACCOUNTS_NOT_SWEPT: &str = "AccountsNotSwept";

/// Every name above but [`ACCOUNTS_NOT_SWEPT`], for contract tests that check the ASL only catches names that exist.
pub const ALL: &[&str] = &[
    APPROVAL_REJECTED,
    IAM_THROTTLED,
    AWS_THROTTLED,
    USER_NOT_FOUND,
    INVALID_INPUT,
    INVALID_CONFIG,
    CREDENTIAL_REPORT_INVALID,
    CREDENTIAL_REPORT_UNAVAILABLE,
    AWS_CALL_FAILED,
    NOTIFY_FAILED,
    RUN_STATE_INVALID,
    RUN_ALREADY_RECORDED,
    DEACTIVATION_INCOMPLETE,
    MEMBER_ROLE_REFUSED,
];

/// An error with a stable name that Step Functions can catch.
pub trait NamedError: std::error::Error {
    /// One of the constants of this module.
    fn error_name(&self) -> &'static str;
}
