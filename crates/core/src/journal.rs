//! A run's deactivation journal, under `runs/<execution-name>/deactivation/`: the record that
//! makes a deactivation happen once and lose nothing. Every object is written once
//! ([`crate::ports::ObjectStore::create`], S3 `If-None-Match: *`):
//!
//! - `claim.json` ([`Claim`]), before any IAM write: which keys, on whose decision, when, by which
//!   Lambda request. Whoever creates it acts; anyone after acts on nothing.
//! - `journal/<nnnn>-<key>-intent.json` before each `UpdateAccessKey`, and
//!   `journal/<nnnn>-<key>-result.json` after it (or for a key skipped or failed before any
//!   write) ([`Entry`]); `…-settled.json` when a later read-back changed the outcome. A crash, a
//!   timeout or a failed report write leaves an intent without a result: that key may have
//!   changed, and every key after it was not touched.
//! - `done.json` ([`Done`]) once every key has its result: the journal is complete.
//!
//! [`Journal::read`] reads it back for deactivate (a retry answers from it) and for notify (the
//! "deactivation failed part-way" message): which keys were changed, may have been, or were not
//! touched ([`KeyState`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contracts::RunRef;
use crate::decision::Approver;
use crate::model::KeyRef;
use crate::ports::ObjectStore;
use crate::run_report::{ActionOutcome, ActionRecord};
use crate::run_store::{RunStore, RunStoreError};

/// Who took a run's deactivation, and for which keys (`claim.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The keys to act on, in the order they are acted on (the journal's numbering).
    pub keys: Vec<KeyRef>,
    /// Whose decision (a person, or `automatic`).
    pub decided_by: Approver,
    /// When deactivate claimed the run.
    pub claimed_at: DateTime<Utc>,
    /// The Lambda request id of the invocation that claimed it (its logs).
    pub request_id: String,
}

/// One journal entry about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "entry")]
pub enum Entry {
    /// `UpdateAccessKey` is about to be called for `key`.
    Intent {
        /// The key.
        #[serde(flatten)]
        key: KeyRef,
        /// When.
        at: DateTime<Utc>,
    },
    /// What happened to the key (also a key skipped or failed before any write).
    Result(ActionRecord),
}

/// The journal is complete: every claimed key has its result (`done.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// When the last result was written.
    pub at: DateTime<Utc>,
}

/// What the journal tells about one claimed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// `UpdateAccessKey` succeeded.
    Changed,
    /// `UpdateAccessKey` was called (an intent) but no result says it succeeded: it may have.
    PossiblyChanged,
    /// No `UpdateAccessKey` call: skipped, failed before any write, or never reached.
    NotTouched,
}

/// One claimed key as the journal has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyJournal {
    /// The key.
    pub key: KeyRef,
    /// When `UpdateAccessKey` was about to be called, if it was.
    pub intent_at: Option<DateTime<Utc>>,
    /// The last result recorded (a settled read-back over the first result).
    pub result: Option<ActionRecord>,
}

impl KeyJournal {
    /// Changed, possibly changed, or not touched.
    pub fn state(&self) -> KeyState {
        match (&self.intent_at, self.result.as_ref().map(|r| &r.outcome)) {
            (_, Some(ActionOutcome::Deactivated | ActionOutcome::DeactivatedNotYetVisible)) => KeyState::Changed,
            // A failed UpdateAccessKey may still have applied (a timeout after IAM took it).
            (Some(_), _) => KeyState::PossiblyChanged,
            (None, _) => KeyState::NotTouched,
        }
    }
}

/// A run's journal as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// The claim.
    pub claim: Claim,
    /// Each claimed key, in claim order.
    pub keys: Vec<KeyJournal>,
    /// Whether the journal is complete.
    pub done: Option<Done>,
}

/// The key of `run`'s claim.
pub fn claim_key(run: &RunRef) -> String {
    format!("{}deactivation/claim.json", run.run_prefix())
}

/// The key of `run`'s completion marker.
pub fn done_key(run: &RunRef) -> String {
    format!("{}deactivation/done.json", run.run_prefix())
}

/// The key of the journal entry `kind` (`intent`, `result`, `settled`) of the `index`-th claimed
/// key.
pub fn entry_key(run: &RunRef, index: usize, key: &KeyRef, kind: &str) -> String {
    format!("{}deactivation/journal/{index:04}-{}-{kind}.json", run.run_prefix(), key.access_key_id)
}

impl Journal {
    /// Reads `run`'s journal; `None` when nobody claimed the run. One GET per entry the claim
    /// implies (at most three per key), so no listing is needed.
    pub async fn read<S: ObjectStore>(runs: &RunStore<S>, run: &RunRef) -> Result<Option<Journal>, RunStoreError> {
        let Some(claim) = runs.get_optional_json::<Claim>(run, &claim_key(run)).await? else { return Ok(None) };
        let mut keys = Vec::with_capacity(claim.keys.len());
        for (index, key) in claim.keys.iter().enumerate() {
            let intent_at = match runs.get_optional_json::<Entry>(run, &entry_key(run, index, key, "intent")).await? {
                Some(Entry::Intent { at, .. }) => Some(at),
                _ => None,
            };
            let mut result = None;
            for kind in ["result", "settled"] {
                if let Some(Entry::Result(record)) =
                    runs.get_optional_json(run, &entry_key(run, index, key, kind)).await?
                {
                    result = Some(record);
                }
            }
            keys.push(KeyJournal { key: key.clone(), intent_at, result });
        }
        let done = runs.get_optional_json(run, &done_key(run)).await?;
        Ok(Some(Journal { claim, keys, done }))
    }

    /// The keys in `state`, in claim order.
    pub fn in_state(&self, state: KeyState) -> Vec<&KeyJournal> {
        self.keys.iter().filter(|k| k.state() == state).collect()
    }

    /// The run report's actions, rebuilt from the results (a key without one has no action).
    pub fn actions(&self) -> Vec<ActionRecord> {
        self.keys.iter().filter_map(|k| k.result.clone()).collect()
    }
}
