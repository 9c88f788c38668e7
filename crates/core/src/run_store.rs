//! Run state: the JSON objects of one run under `runs/<execution-name>/` in this stack's report
//! bucket (the listing, the Map's batches, each batch's result, the run report). [`RunStore`] is the
//! one way the functions read and write them, and holds the one guard that keeps an event from
//! pointing a function at another bucket: every call refuses a [`RunRef`] whose bucket is not the
//! configured one, before any S3 call.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contracts::RunRef;
use crate::errors::{self, NamedError};
use crate::ports::{Creation, ObjectStore, PortError};
use crate::run_report::RunReport;

/// The report bucket's run state, over an [`ObjectStore`]. Built once per instance with the
/// configured bucket.
pub struct RunStore<S> {
    store: S,
    bucket: String,
}

/// Why run state could not be read or written. Each maps to a stable error name.
#[derive(Debug, thiserror::Error)]
pub enum RunStoreError {
    /// The run is in another bucket than this stack's report bucket: `InvalidInput`. Nothing was
    /// read or written.
    #[error("invalid event: run.bucket {got:?} is not this stack's report bucket {expected:?}")]
    WrongBucket {
        /// The bucket the event named.
        got: String,
        /// This stack's report bucket.
        expected: String,
    },
    /// An object of the run is missing, unreadable, not what it should be, or cannot be encoded:
    /// `RunStateInvalid`.
    #[error("run state s3://{bucket}/{key} {problem}")]
    Invalid {
        /// The report bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// What is wrong, as a sentence ending (`does not exist`, `is not valid: …`).
        problem: String,
    },
    /// The run report was to be created, but one is already there (an earlier execution with the
    /// same name, or a redrive): `RunAlreadyRecorded`. It was left as it was; nothing was written.
    #[error(
        "the run report s3://{bucket}/{key} already exists: an earlier execution with this name (or a redrive of \
         this one) recorded it, and a run's record is never overwritten; nothing was written (start the run under \
         a new execution name)"
    )]
    AlreadyRecorded {
        /// The report bucket.
        bucket: String,
        /// The existing report's key.
        key: String,
    },
    /// The S3 call failed: the port's name (`AwsThrottled`, `AwsCallFailed`).
    #[error(transparent)]
    Port(#[from] PortError),
}

impl NamedError for RunStoreError {
    fn error_name(&self) -> &'static str {
        match self {
            RunStoreError::WrongBucket { .. } => errors::INVALID_INPUT,
            RunStoreError::Invalid { .. } => errors::RUN_STATE_INVALID,
            RunStoreError::AlreadyRecorded { .. } => errors::RUN_ALREADY_RECORDED,
            RunStoreError::Port(e) => e.error_name(),
        }
    }
}

impl<S: ObjectStore> RunStore<S> {
    /// Run state in `bucket` (the configured report bucket) of `store`.
    pub fn new(store: S, bucket: impl Into<String>) -> RunStore<S> {
        RunStore { store, bucket: bucket.into() }
    }

    /// The object store underneath (tests look at what was written).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The run `execution_name` in this bucket: where a new run's state goes.
    pub fn run(&self, execution_name: String) -> RunRef {
        RunRef::new(self.bucket.clone(), execution_name)
    }

    /// Refuses a run outside this stack's report bucket ([`RunStoreError::WrongBucket`]). Every
    /// read and write checks it; a handler also calls it first, so a run elsewhere is refused
    /// before any other call.
    pub fn check(&self, run: &RunRef) -> Result<(), RunStoreError> {
        if run.bucket == self.bucket {
            Ok(())
        } else {
            Err(RunStoreError::WrongBucket { got: run.bucket.clone(), expected: self.bucket.clone() })
        }
    }

    /// Writes `value` as compact JSON at `key` (one of `run`'s keys).
    pub async fn put_json<T: Serialize>(&self, run: &RunRef, key: &str, value: &T) -> Result<(), RunStoreError> {
        self.check(run)?;
        let body = serde_json::to_vec(value).map_err(|e| self.invalid(key, format!("could not be encoded: {e}")))?;
        Ok(self.store.put(&self.bucket, key, body).await?)
    }

    /// Writes `value` as compact JSON at `key` only if nothing is there yet (a claim, a journal
    /// entry): `AlreadyExists` leaves the object there as it was.
    pub async fn create_json<T: Serialize>(
        &self,
        run: &RunRef,
        key: &str,
        value: &T,
    ) -> Result<Creation, RunStoreError> {
        self.check(run)?;
        let body = serde_json::to_vec(value).map_err(|e| self.invalid(key, format!("could not be encoded: {e}")))?;
        Ok(self.store.create(&self.bucket, key, body).await?)
    }

    /// Reads and parses the object at `key`, which must exist.
    pub async fn get_json<T: DeserializeOwned>(&self, run: &RunRef, key: &str) -> Result<T, RunStoreError> {
        self.check(run)?;
        let body = self.store.get(&self.bucket, key).await?.ok_or_else(|| self.missing(key))?;
        self.parse(key, &body)
    }

    /// Reads and parses the object at `key`; `None` if it does not exist.
    pub async fn get_optional_json<T: DeserializeOwned>(
        &self,
        run: &RunRef,
        key: &str,
    ) -> Result<Option<T>, RunStoreError> {
        self.check(run)?;
        let Some(body) = self.store.get(&self.bucket, key).await? else { return Ok(None) };
        self.parse(key, &body).map(Some)
    }

    /// Reads the run report of `run`, refusing one of another schema version or execution
    /// ([`RunReport::parse_for`]).
    pub async fn read_report(&self, run: &RunRef) -> Result<RunReport, RunStoreError> {
        self.check(run)?;
        let key = run.report_key();
        let body = self.store.get(&self.bucket, &key).await?.ok_or_else(|| self.missing(&key))?;
        RunReport::parse_for(&body, &run.execution_name).map_err(|problem| self.invalid(&key, problem))
    }

    /// Writes the run report of `run` as pretty JSON (people read it in the bucket).
    pub async fn write_report(&self, run: &RunRef, report: &RunReport) -> Result<(), RunStoreError> {
        self.check(run)?;
        let key = run.report_key();
        Ok(self.store.put(&self.bucket, &key, self.report_body(&key, report)?).await?)
    }

    /// Creates the run report of `run` (S3's conditional write): a report already there, an earlier
    /// execution's with the same name or this run's before a redrive, is never overwritten, and is
    /// [`RunStoreError::AlreadyRecorded`]. The very same report already there is this invocation's
    /// own, written before a retry (the report is a function of the run's state and its start
    /// time): that is `Ok`, and nothing is written.
    pub async fn create_report(&self, run: &RunRef, report: &RunReport) -> Result<(), RunStoreError> {
        self.check(run)?;
        let key = run.report_key();
        let body = self.report_body(&key, report)?;
        match self.store.create(&self.bucket, &key, body.clone()).await? {
            Creation::Created => Ok(()),
            Creation::AlreadyExists => match self.store.get(&self.bucket, &key).await? {
                Some(existing) if existing == body => Ok(()),
                _ => Err(RunStoreError::AlreadyRecorded { bucket: self.bucket.clone(), key }),
            },
        }
    }

    fn report_body(&self, key: &str, report: &RunReport) -> Result<Vec<u8>, RunStoreError> {
        serde_json::to_vec_pretty(report).map_err(|e| self.invalid(key, format!("could not be encoded: {e}")))
    }

    /// A [`RunStoreError::Invalid`] for the object at `key`.
    pub fn invalid(&self, key: &str, problem: String) -> RunStoreError {
        RunStoreError::Invalid { bucket: self.bucket.clone(), key: key.to_owned(), problem }
    }

    fn missing(&self, key: &str) -> RunStoreError {
        self.invalid(key, "does not exist".to_owned())
    }

    fn parse<T: DeserializeOwned>(&self, key: &str, body: &[u8]) -> Result<T, RunStoreError> {
        serde_json::from_slice(body).map_err(|e| self.invalid(key, format!("is not valid: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::config::{PolicyConfig, Screening};
    use crate::fakes::FakeStore;
    use crate::fixtures;
    use crate::policy;
    use crate::run_report::REPORT_SCHEMA_VERSION;

    const BUCKET: &str = "keyward-reports-test";
    const EXEC: &str = "keyward-2026-11-21";

    /// The fake store answers at once, so one poll finishes any call (keyward-core has no runtime).
    fn now_or_never<F: Future>(future: F) -> F::Output {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the fake store does not wait"),
        }
    }

    fn runs() -> RunStore<FakeStore> {
        RunStore::new(FakeStore::default(), BUCKET)
    }

    fn elsewhere() -> RunRef {
        RunRef::new("attacker-bucket", EXEC)
    }

    fn report(execution_name: &str) -> RunReport {
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            execution_name: execution_name.into(),
            account_id: None,
            config: PolicyConfig::default(),
            screening: Screening::CredentialReport,
            users_listed: 0,
            users_checked: 0,
            users_gone: vec![],
            users_not_evaluated: vec![],
            unreadable_report_rows: vec![],
            report_unavailable: None,
            evaluation: policy::evaluate(&[], &PolicyConfig::default(), fixtures::now()),
            decision: None,
            actions: vec![],
            api_calls: BTreeMap::new(),
            coverage: None,
        }
    }

    fn put_raw(runs: &RunStore<FakeStore>, key: &str, body: &[u8]) {
        runs.store().objects.lock().unwrap().insert((BUCKET.into(), key.into()), body.to_vec());
    }

    #[test]
    fn a_run_is_written_and_read_back_in_the_configured_bucket() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        assert_eq!(run.bucket, BUCKET);

        now_or_never(runs.put_json(&run, &run.listing_key(), &vec![1, 2, 3])).unwrap();

        let stored = runs.store().objects.lock().unwrap().get(&(BUCKET.into(), run.listing_key())).cloned();
        assert_eq!(stored.as_deref(), Some(&b"[1,2,3]"[..]), "compact JSON at the run's key");
        let back: Vec<u32> = now_or_never(runs.get_json(&run, &run.listing_key())).unwrap();
        assert_eq!(back, vec![1, 2, 3]);
    }

    #[test]
    fn a_run_in_another_bucket_is_invalid_input_and_touches_nothing() {
        let runs = runs();
        put_raw(&runs, &elsewhere().listing_key(), b"[1]");
        let run = elsewhere();
        let report = report(EXEC);

        let errs = [
            runs.check(&run).unwrap_err(),
            now_or_never(runs.put_json(&run, &run.listing_key(), &1)).unwrap_err(),
            now_or_never(runs.get_json::<Vec<u32>>(&run, &run.listing_key())).unwrap_err(),
            now_or_never(runs.get_optional_json::<Vec<u32>>(&run, &run.listing_key())).unwrap_err(),
            now_or_never(runs.read_report(&run)).unwrap_err(),
            now_or_never(runs.write_report(&run, &report)).unwrap_err(),
        ];

        for err in errs {
            assert!(matches!(err, RunStoreError::WrongBucket { .. }), "{err:?}");
            assert_eq!(err.error_name(), errors::INVALID_INPUT);
            assert!(err.to_string().contains("\"attacker-bucket\""), "{err}");
        }
        let objects = runs.store().objects.lock().unwrap();
        assert_eq!(objects.len(), 1, "nothing written: {:?}", objects.keys().collect::<Vec<_>>());
    }

    #[test]
    fn a_missing_object_is_none_or_run_state_invalid_naming_it() {
        let runs = runs();
        let run = runs.run(EXEC.into());

        assert_eq!(now_or_never(runs.get_optional_json::<u32>(&run, &run.batches_key())).unwrap(), None);
        let err = now_or_never(runs.get_json::<u32>(&run, &run.batches_key())).unwrap_err();
        assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
        assert_eq!(err.to_string(), format!("run state s3://{BUCKET}/runs/{EXEC}/batches.json does not exist"));
        let err = now_or_never(runs.read_report(&run)).unwrap_err();
        assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
        assert_eq!(err.to_string(), format!("run state s3://{BUCKET}/runs/{EXEC}/report.json does not exist"));
    }

    #[test]
    fn an_unreadable_object_is_run_state_invalid_naming_it() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        put_raw(&runs, &run.batches_key(), b"[1, 2");
        put_raw(&runs, &run.report_key(), b"{}");

        let err = now_or_never(runs.get_json::<Vec<u32>>(&run, &run.batches_key())).unwrap_err();
        assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
        assert!(err.to_string().contains("batches.json is not valid"), "{err}");
        let err = now_or_never(runs.read_report(&run)).unwrap_err();
        assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
        assert!(err.to_string().contains("report.json is not a run report"), "{err}");
    }

    #[test]
    fn another_executions_report_is_run_state_invalid() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        let other = report("keyward-other");
        put_raw(&runs, &run.report_key(), &serde_json::to_vec(&other).unwrap());

        let err = now_or_never(runs.read_report(&run)).unwrap_err();

        assert_eq!(err.error_name(), errors::RUN_STATE_INVALID);
        assert!(err.to_string().contains("belongs to execution \"keyward-other\""), "{err}");
    }

    #[test]
    fn the_report_is_written_pretty_and_read_back() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        let mut report = report(EXEC);
        report.api_calls = BTreeMap::from([("iam:ListUsers".to_owned(), 2)]);

        now_or_never(runs.write_report(&run, &report)).unwrap();

        let body = runs.store().objects.lock().unwrap().get(&(BUCKET.into(), run.report_key())).cloned().unwrap();
        assert!(body.starts_with(b"{\n"), "pretty JSON");
        assert_eq!(now_or_never(runs.read_report(&run)).unwrap(), report);
    }

    #[test]
    fn a_report_is_created_once_and_an_existing_one_is_never_overwritten() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        let earlier = report(EXEC);
        now_or_never(runs.create_report(&run, &earlier)).unwrap();

        let mut later = report(EXEC);
        later.users_listed = 7;
        let err = now_or_never(runs.create_report(&run, &later)).unwrap_err();

        assert_eq!(err.error_name(), errors::RUN_ALREADY_RECORDED);
        assert!(err.to_string().contains(&format!("s3://{BUCKET}/{}", run.report_key())), "{err}");
        assert_eq!(now_or_never(runs.read_report(&run)).unwrap(), earlier);
    }

    #[test]
    fn the_same_report_again_is_a_retry_and_writes_nothing() {
        let runs = runs();
        let run = runs.run(EXEC.into());
        now_or_never(runs.create_report(&run, &report(EXEC))).unwrap();

        now_or_never(runs.create_report(&run, &report(EXEC))).unwrap();

        assert_eq!(now_or_never(runs.read_report(&run)).unwrap(), report(EXEC));
    }

    #[test]
    fn a_failing_store_keeps_the_ports_name() {
        let runs = runs();
        *runs.store().broken.lock().unwrap() = true;
        let run = runs.run(EXEC.into());

        let err = now_or_never(runs.put_json(&run, &run.listing_key(), &1)).unwrap_err();
        assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
        let err = now_or_never(runs.read_report(&run)).unwrap_err();
        assert_eq!(err.error_name(), errors::AWS_CALL_FAILED);
    }
}
