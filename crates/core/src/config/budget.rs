//! What the time budgets are made of: each function's Lambda timeout and the most IAM calls one
//! unit of its work costs (docs/architecture.md, "The IAM call budget").
//!
//! The timeouts are `template.yaml`'s `Timeout` of `CheckUserFunction` and `DeactivateFunction`,
//! mirrored here and pinned equal by `tests/tests/template.rs`. A function cannot learn its timeout
//! at start-up: Lambda sets no environment variable for it (its reserved variables name the
//! function, its memory and version, not the timeout), and the deadline it gives (the runtime
//! API's `Lambda-Runtime-Deadline-Ms`) arrives with each invocation, too late to refuse the
//! configuration at init. A variable fed from the template would only add a second value to keep
//! equal to `Timeout`, which a constant pinned by the contract test does without.

use std::time::Duration;

use super::{Config, ConfigError, vars};

/// `CheckUserFunction`'s `Timeout` in `template.yaml` (Lambda's maximum).
pub const CHECK_USER_TIMEOUT_SECONDS: u32 = 900;
/// `DeactivateFunction`'s `Timeout` in `template.yaml` (Lambda's maximum).
pub const DEACTIVATE_TIMEOUT_SECONDS: u32 = 900;
/// The most IAM requests check-user makes for one user: read fully live (a user the credential
/// report does not describe, or `SCREENING=live`), GetUser, ListUserTags, ListMFADevices,
/// GetLoginProfile, ListAccessKeys and GetAccessKeyLastUsed per key, with IAM's fixed quota of
/// two access keys per user; each List* fits one page (IAM allows 50 tags and 8 MFA devices
/// per user, a page holds 1,000). Screened with the report, a user costs 3 to 5.
pub const IAM_CALLS_PER_USER: u32 = 7;
/// The waits before each re-read of the keys that still read `Active` after `UpdateAccessKey`
/// succeeded. IAM is eventually consistent: a change is made in one control plane and copied
/// to read-only replicas, so a read right after a write can still show the old status for a
/// few seconds (<https://docs.aws.amazon.com/IAM/latest/UserGuide/disaster-recovery-resiliency.html>).
/// Doubling from half a second finds the usual lag within a second or two while costing few
/// reads. The waits are the run's, not each key's (deactivate re-reads all lagging keys after
/// each wait), so a run waits at most [`READ_BACK_WAIT_SECONDS`] however many keys lag.
pub const READ_BACK_DELAYS: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];
/// The sum of [`READ_BACK_DELAYS`], in seconds.
pub const READ_BACK_WAIT_SECONDS: f64 = 15.5;
/// The most IAM requests deactivate makes for one key: the live re-check (a full read,
/// [`IAM_CALLS_PER_USER`]), UpdateAccessKey, the read-back of the key's status (one
/// ListAccessKeys) and one more after each of [`READ_BACK_DELAYS`]: 14.
///
/// The claim and the journal ([`crate::journal`]) are S3 calls, not IAM calls, and do not count
/// here: per key at most three conditional PutObjects (intent, result, settled) and three
/// GetObjects (the journal read back to rebuild the report), plus five a run (claim, done, the
/// report read and written, the claim read back) and one DynamoDB GetItem (the recorded decision).
/// S3 does not share IAM's request rate, so they cost latency only, which this budget, made of the
/// rate alone, leaves out as it leaves out IAM's: at a few tens of milliseconds each they add well
/// under half a second a key, a few seconds for the default cap of 25, against a timeout of 900 s.
pub const IAM_CALLS_PER_DEACTIVATION: u32 = IAM_CALLS_PER_USER + 1 + 1 + READ_BACK_DELAYS.len() as u32;

impl Config {
    /// Each Map child's share of the account's IAM budget, in requests per second.
    pub fn iam_rps_per_invocation(&self) -> f64 {
        self.iam_max_rps / f64::from(self.max_concurrency.max(1))
    }

    /// The seconds check-user needs, at its share of the rate, for a full batch whose every user
    /// costs the most IAM calls ([`IAM_CALLS_PER_USER`]).
    pub fn check_user_batch_seconds(&self) -> f64 {
        f64::from(self.batch_size) * f64::from(IAM_CALLS_PER_USER) / self.iam_rps_per_invocation()
    }

    /// The seconds deactivate needs, at the whole rate, for `MAX_DEACTIVATIONS_PER_RUN` keys
    /// ([`IAM_CALLS_PER_DEACTIVATION`] each) and the run's read-back waits
    /// ([`READ_BACK_WAIT_SECONDS`]).
    pub fn deactivate_seconds(&self) -> f64 {
        // Only the per-run cap bounds one deactivate invocation: `MAX_DEACTIVATIONS_PER_ACCOUNT`
        // limits each account's share of the same run, never the run's total, so a per-account cap
        // above the per-run one acts on no more keys and needs no budget of its own.
        f64::from(self.policy.max_deactivations_per_run) * f64::from(IAM_CALLS_PER_DEACTIVATION) / self.iam_max_rps
            + READ_BACK_WAIT_SECONDS
    }

    /// Refuses settings under which check-user's batch or deactivate's run cannot finish within
    /// the function's timeout, at the rate alone (throttling retries and latency come on top: this
    /// refuses only what can never fit).
    pub(super) fn check_time_budgets(&self) -> Result<(), ConfigError> {
        let batch = self.check_user_batch_seconds();
        if batch > f64::from(CHECK_USER_TIMEOUT_SECONDS) {
            return Err(ConfigError::OverTimeBudget {
                function: "check-user",
                timeout_seconds: CHECK_USER_TIMEOUT_SECONDS,
                arithmetic: format!(
                    "{}={} users × {} IAM calls each = {} calls, at {}={} / {}={} = {} calls/s, take {} s, over {} s; \
                     lower {} or {}, or raise {}",
                    vars::BATCH_SIZE,
                    self.batch_size,
                    IAM_CALLS_PER_USER,
                    u64::from(self.batch_size) * u64::from(IAM_CALLS_PER_USER),
                    vars::IAM_MAX_RPS,
                    shown(self.iam_max_rps),
                    vars::MAX_CONCURRENCY,
                    self.max_concurrency,
                    shown(self.iam_rps_per_invocation()),
                    shown(batch),
                    CHECK_USER_TIMEOUT_SECONDS,
                    vars::BATCH_SIZE,
                    vars::MAX_CONCURRENCY,
                    vars::IAM_MAX_RPS,
                ),
            });
        }
        let deactivate = self.deactivate_seconds();
        if deactivate > f64::from(DEACTIVATE_TIMEOUT_SECONDS) {
            let cap = self.policy.max_deactivations_per_run;
            return Err(ConfigError::OverTimeBudget {
                function: "deactivate",
                timeout_seconds: DEACTIVATE_TIMEOUT_SECONDS,
                arithmetic: format!(
                    "{}={} keys × {} IAM calls each = {} calls, at {}={} calls/s, plus {} s of read-back \
                     waits, take {} s, over {} s; lower {} or raise {}",
                    vars::MAX_DEACTIVATIONS_PER_RUN,
                    cap,
                    IAM_CALLS_PER_DEACTIVATION,
                    u64::from(cap) * u64::from(IAM_CALLS_PER_DEACTIVATION),
                    vars::IAM_MAX_RPS,
                    shown(self.iam_max_rps),
                    shown(READ_BACK_WAIT_SECONDS),
                    shown(deactivate),
                    DEACTIVATE_TIMEOUT_SECONDS,
                    vars::MAX_DEACTIVATIONS_PER_RUN,
                    vars::IAM_MAX_RPS,
                ),
            });
        }
        Ok(())
    }
}

/// A number in an error, to three decimals at most and without trailing zeros (`2`, `0.1`, `901.5`).
fn shown(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `NotifyFunction`'s `Timeout` in `template.yaml`: how long after the approval task started notify
/// may store its record, so how much earlier than the record's expiry the task may time out.
pub const NOTIFY_TIMEOUT_SECONDS: u32 = 60;
/// `ApprovalFunction`'s `Timeout` in `template.yaml`.
pub const APPROVAL_FUNCTION_TIMEOUT_SECONDS: u32 = 60;
/// The most AWS calls one request of the approval function makes, one after the other. The
/// heaviest is a Slack click's follow-up: DeleteItem (its ticket), GetItem (the record), GetObject
/// (the run report), UpdateItem (pending → decided), GetObject (the report again), PutObject (the
/// decision into the report), SendTaskSuccess or SendTaskFailure. A form decision makes the same
/// calls but the ticket's; the click itself makes two PutItem and one Invoke. A call added to a
/// request's path raises this number.
pub const APPROVAL_AWS_CALLS_PER_REQUEST: u32 = 7;
/// The bound on each of the approval function's AWS calls, its retries included
/// (`keyward_aws::sdk::approval_sdk_config`). The other functions' 60 s per call would let one
/// request run 7 minutes, far past the Lambda timeout, which would stop the function between
/// deciding and telling Step Functions, with no page to say so.
pub const APPROVAL_CALL_TIMEOUT_SECONDS: u32 = 6;
/// The bound on one attempt of those calls: three attempts fit in a call's bound.
pub const APPROVAL_ATTEMPT_TIMEOUT_SECONDS: u32 = 2;
/// Attempts per approval call, the first one included.
pub const APPROVAL_MAX_ATTEMPTS: u32 = 3;
/// The bound on the one post to a Slack `response_url` a follow-up makes
/// (`keyward_aws::slack::TIMEOUT`, pinned equal there).
pub const SLACK_POST_TIMEOUT_SECONDS: u32 = 10;

/// The longest one approval request can take: every AWS call at its bound, then the Slack post.
pub const fn approval_request_seconds() -> u32 {
    APPROVAL_AWS_CALLS_PER_REQUEST * APPROVAL_CALL_TIMEOUT_SECONDS + SLACK_POST_TIMEOUT_SECONDS
}

// The build refuses bounds under which a request could outlive the function, or a call's attempts
// its bound.
const _: () = assert!(approval_request_seconds() < APPROVAL_FUNCTION_TIMEOUT_SECONDS);
const _: () = assert!(APPROVAL_ATTEMPT_TIMEOUT_SECONDS * APPROVAL_MAX_ATTEMPTS <= APPROVAL_CALL_TIMEOUT_SECONDS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_request_at_its_worst_ends_before_the_function_is_stopped() {
        // 7 calls × 6 s + 10 s = 52 s: the function still answers (a page, a Slack reply) within
        // its 60 s, with time to write its last log line.
        assert_eq!(approval_request_seconds(), 52);
        assert_eq!(APPROVAL_FUNCTION_TIMEOUT_SECONDS, 60);
    }
}
