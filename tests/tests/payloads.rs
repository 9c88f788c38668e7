//! Every task's payload, built the way Step Functions builds it along every path of a simulated
//! run, decodes through its function's contract (`keyward_core::contracts::decode`), and every
//! `ResultSelector` reads fields that the function's output type really has.
//!
//! The walk starts from the execution input `{}` and follows every branch (choices are not
//! evaluated: each of their targets is visited). Each Lambda task is answered with a sample of its
//! output type, the approval task with a sample `Decision`, each catcher with an error; the Map
//! runs its `ItemProcessor` once on a sample batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use keyward_core::contracts::{
    self, CheckUserInput, CheckUserOutput, DeactivateInput, DeactivateOutput, ListUsersInput, ListUsersOutput,
    NextStep, NotifyEvent, NotifyOutput, RunRef, UserBatch, ValidateKeysInput, ValidateKeysOutput,
};
use keyward_core::decision::Decision;
use keyward_core::policy::PlanStatus;
use keyward_tests::asl::{self, Level};
use keyward_tests::template::Template;
use serde_json::{Value, json};

const EXECUTION: &str = "keyward-contract-run";
/// `$$.Execution.StartTime` as Step Functions writes it. Also a sentinel: it must never be kept in
/// state output (moto's DescribeExecution fails on timestamps held in state).
const START_TIME: &str = "2026-11-21T06:00:00.123Z";
const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAcontractTaskToken";
/// State output stays far below Step Functions' 256 KiB: pointers and counts only.
const MAX_STATE_BYTES: usize = 4096;

fn run_ref() -> RunRef {
    RunRef::new("keyward-reports-123456789012", EXECUTION)
}

fn sample_batch() -> UserBatch {
    UserBatch { index: 0, users: vec!["alice".to_owned(), "bob".to_owned()] }
}

fn sample_decision() -> Value {
    let event: Value = serde_json::from_str(&keyward_tests::read("events/deactivate/approved.json").unwrap()).unwrap();
    let decision: Decision =
        serde_json::from_value(event["decision"].clone()).expect("the sample decision is a Decision");
    serde_json::to_value(decision).unwrap()
}

/// What each function's payload decoded to, by state.
#[derive(Debug, Default)]
struct Seen {
    /// State name → the contract's debug rendering of what it decoded.
    decoded: BTreeMap<String, Vec<String>>,
    /// Notify kinds sent, and whether the sending task waited for a token.
    notify_kinds: BTreeSet<(String, bool)>,
    /// Whether deactivate was called with and without a decision.
    deactivate_with_decision: BTreeSet<bool>,
    /// States entered.
    entered: BTreeSet<String>,
    /// Problems found.
    problems: Vec<String>,
}

/// Decodes a payload with the contract of the function `binary` and answers with a sample output.
fn call(binary: &str, payload: Value, seen: &mut Seen, state: &str, waits: bool) -> Result<Value, String> {
    let run = run_ref();
    let output = match binary {
        "list-users" => {
            let input: ListUsersInput = contracts::decode(payload).map_err(|e| e.to_string())?;
            if input.evaluated_at != start_time() {
                return Err(format!("evaluated_at is not $$.Execution.StartTime: {}", input.evaluated_at));
            }
            serde_json::to_value(ListUsersOutput {
                run: RunRef { execution_name: input.execution_name, ..run.clone() },
                users_listed: 12,
                candidates: 2,
                batches: 1,
                batches_key: run.batches_key(),
                has_candidates: true,
            })
        }
        "check-user" => {
            let input: CheckUserInput = contracts::decode(payload).map_err(|e| e.to_string())?;
            if input.batch != sample_batch() {
                return Err(format!("the batch is not the Map item: {:?}", input.batch));
            }
            serde_json::to_value(CheckUserOutput {
                index: input.batch.index,
                users_checked: input.batch.users.len(),
                users_gone: 0,
                result_key: input.run.batch_result_key(input.batch.index),
            })
        }
        "validate-keys" => {
            let input: ValidateKeysInput = contracts::decode(payload).map_err(|e| e.to_string())?;
            let run = match (input.listed, input.discovered) {
                (Some(listed), _) => listed.run,
                (None, Some(discovered)) => discovered.run,
                (None, None) => return Err("validate-keys got neither listed nor discovered".to_owned()),
            };
            serde_json::to_value(ValidateKeysOutput {
                report_key: run.report_key(),
                run,
                status: PlanStatus::AwaitingApproval,
                next: NextStep::RequestApproval,
                findings: 2,
                warnings: 1,
                planned: 2,
                users_not_evaluated: 0,
                coverage_complete: true,
                accounts_failed: 0,
            })
        }
        "notify" => {
            let event: NotifyEvent = contracts::decode(payload.clone()).map_err(|e| e.to_string())?;
            let kind = payload["kind"].as_str().unwrap_or_default().to_owned();
            if matches!(event, NotifyEvent::ApprovalRequest { .. }) != waits {
                return Err(format!(
                    "kind {kind} in a task that {} for a token",
                    if waits { "waits" } else { "does not wait" }
                ));
            }
            if let NotifyEvent::ApprovalRequest { task_token, .. } = &event
                && task_token != TASK_TOKEN
            {
                return Err("task_token is not $$.Task.Token".to_owned());
            }
            if let NotifyEvent::Clean { evaluated_at, .. } = &event
                && *evaluated_at != start_time()
            {
                return Err("evaluated_at is not $$.Execution.StartTime".to_owned());
            }
            seen.notify_kinds.insert((kind, waits));
            serde_json::to_value(NotifyOutput { sns_message_id: Some("sns-message-id".to_owned()), slack_sent: false })
        }
        "deactivate" => {
            let input: DeactivateInput = contracts::decode(payload).map_err(|e| e.to_string())?;
            seen.deactivate_with_decision.insert(input.decision.is_some());
            serde_json::to_value(DeactivateOutput {
                run: input.run,
                deactivated: 1,
                skipped: 1,
                failed: 0,
                already_executed: false,
            })
        }
        other => return Err(format!("no contract for function {other:?}")),
    }
    .map_err(|e| e.to_string())?;
    seen.decoded.entry(state.to_owned()).or_default().push(binary.to_owned());
    Ok(output)
}

fn start_time() -> DateTime<Utc> {
    START_TIME.parse().unwrap()
}

fn context(map_item: Option<&Value>) -> Value {
    json!({
        "Execution": {
            "Id": format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{EXECUTION}"),
            "Name": EXECUTION,
            "StartTime": START_TIME,
            "Input": {}
        },
        "StateMachine": {"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:keyward", "Name": "keyward"},
        "Task": {"Token": TASK_TOKEN},
        "Map": {"Item": {"Index": 0, "Value": map_item.cloned().unwrap_or(Value::Null)}}
    })
}

struct Walker<'a> {
    levels: &'a [Level<'a>],
    seen: Seen,
}

impl Walker<'_> {
    fn level(&self, scope: &str) -> &Level<'_> {
        self.levels.iter().find(|l| l.scope == scope).expect("a level")
    }

    fn problem(&mut self, state: &str, message: impl std::fmt::Display) {
        self.seen.problems.push(format!("{state}: {message}"));
    }

    fn walk(&mut self, scope: &str, name: &str, input: Value, map_item: Option<&Value>, depth: usize) {
        if depth > 64 {
            self.problem(name, "the walk is too deep: a cycle?");
            return;
        }
        let key = if scope.is_empty() { name.to_owned() } else { format!("{scope} / {name}") };
        self.seen.entered.insert(key.clone());
        let text = input.to_string();
        if text.len() > MAX_STATE_BYTES {
            self.problem(&key, format!("state input is {} bytes", text.len()));
        }
        if text.contains(START_TIME) {
            self.problem(&key, "state input holds $$.Execution.StartTime (moto's DescribeExecution fails on it)");
        }
        let Some(state) = self.level(scope).states.get(name).cloned() else {
            self.problem(&key, "no such state");
            return;
        };
        let ctx = context(map_item);
        match state["Type"].as_str().unwrap_or_default() {
            "Task" => self.task(scope, &key, &state, input, map_item, &ctx, depth),
            "Choice" => {
                for rule in state["Choices"].as_array().into_iter().flatten() {
                    if let Err(e) = asl::resolve(rule["Variable"].as_str().unwrap_or("?"), &input, &ctx) {
                        self.problem(&key, e);
                    }
                    if let Some(next) = rule["Next"].as_str() {
                        self.walk(scope, next, input.clone(), map_item, depth + 1);
                    }
                }
                if let Some(default) = state["Default"].as_str() {
                    self.walk(scope, default, input, map_item, depth + 1);
                }
            }
            "Map" => self.map(scope, &key, &state, input, map_item, &ctx, depth),
            "Pass" => {
                // Parameters (or the input itself) placed by ResultPath; a Pass state calls nothing.
                let result = match state.get("Parameters") {
                    Some(parameters) => asl::build(parameters, &input, &ctx),
                    None => Ok(input.clone()),
                };
                self.proceed(scope, &key, &state, &input, result, map_item, depth);
            }
            "Succeed" | "Fail" => {}
            other => self.problem(&key, format!("state type {other} is not simulated")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &mut self,
        scope: &str,
        key: &str,
        state: &Value,
        input: Value,
        item: Option<&Value>,
        ctx: &Value,
        depth: usize,
    ) {
        let waits = asl::waits_for_task_token(state);
        let binary = state["Parameters"]["FunctionName"].as_str().and_then(|arn| arn.rsplit(':').next()).unwrap_or("?");
        let outcome = asl::build(&state["Parameters"]["Payload"], &input, ctx)
            .and_then(|payload| call(binary, payload, &mut self.seen, key, waits));
        let output = match outcome {
            Ok(output) => output,
            Err(e) => return self.problem(key, format!("{binary}: {e}")),
        };
        let result = if waits {
            sample_decision()
        } else {
            json!({"ExecutedVersion": "$LATEST", "Payload": output, "StatusCode": 200})
        };
        let selected = match state.get("ResultSelector") {
            Some(selector) => asl::build(selector, &result, ctx),
            None => Ok(result),
        };
        self.proceed(scope, key, state, &input, selected, item, depth);
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            for error in catcher["ErrorEquals"].as_array().into_iter().flatten() {
                let error_output = json!({"Error": error, "Cause": "simulated"});
                match asl::apply_result_path(&input, catcher.get("ResultPath"), error_output) {
                    Ok(after) => self.walk(scope, catcher["Next"].as_str().unwrap_or("?"), after, item, depth + 1),
                    Err(e) => self.problem(key, e),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn map(
        &mut self,
        scope: &str,
        key: &str,
        state: &Value,
        input: Value,
        item: Option<&Value>,
        ctx: &Value,
        depth: usize,
    ) {
        let name = key.rsplit(" / ").next().unwrap_or(key).to_owned();
        match asl::build(&state["ItemReader"]["Parameters"], &input, ctx) {
            Ok(reader) => {
                let listed: ListUsersOutput = serde_json::from_value(input["listed"].clone()).unwrap();
                if reader != json!({"Bucket": listed.run.bucket, "Key": listed.run.batches_key()}) {
                    self.problem(key, format!("the ItemReader does not read the run's batches.json: {reader}"));
                }
            }
            Err(e) => self.problem(key, e),
        }
        let batch = serde_json::to_value(sample_batch()).unwrap();
        let child_ctx = context(Some(&batch));
        match asl::build(&state["ItemSelector"], &input, &child_ctx) {
            Ok(child_input) => {
                let start = self.level(&name).start_at.clone();
                self.walk(&name, &start, child_input, Some(&batch), depth + 1);
            }
            Err(e) => self.problem(key, e),
        }
        self.proceed(scope, key, state, &input, Ok(json!([{"index": 0}])), item, depth);
    }

    /// Places a state's `result` into its `input` by the state's ResultPath and walks on to its
    /// `Next`, if it has one.
    #[allow(clippy::too_many_arguments)]
    fn proceed(
        &mut self,
        scope: &str,
        key: &str,
        state: &Value,
        input: &Value,
        result: Result<Value, String>,
        item: Option<&Value>,
        depth: usize,
    ) {
        match result.and_then(|r| asl::apply_result_path(input, state.get("ResultPath"), r)) {
            Ok(after) => {
                if let Some(next) = state["Next"].as_str() {
                    self.walk(scope, next, after, item, depth + 1);
                }
            }
            Err(e) => self.problem(key, e),
        }
    }
}

fn walk_every_path() -> Seen {
    let template = Template::load().unwrap();
    let text =
        asl::substitute(&keyward_tests::read(asl::PATH).unwrap(), &template.default_substitutions().unwrap()).unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    let levels = asl::levels(&definition).unwrap();
    let mut walker = Walker { levels: &levels, seen: Seen::default() };
    let start = walker.level("").start_at.clone();
    walker.walk("", &start, json!({}), None, 0);
    walker.seen
}

#[test]
fn every_payload_on_every_path_decodes_through_its_contract() {
    let seen = walk_every_path();
    assert!(seen.problems.is_empty(), "contract problems:\n{}", seen.problems.join("\n"));
}

#[test]
fn the_walk_reaches_every_lambda_task() {
    let seen = walk_every_path();
    let template = Template::load().unwrap();
    let text =
        asl::substitute(&keyward_tests::read(asl::PATH).unwrap(), &template.default_substitutions().unwrap()).unwrap();
    let definition: Value = serde_json::from_str(&text).unwrap();
    let levels = asl::levels(&definition).unwrap();
    for (scope, name, _) in asl::lambda_tasks(&levels) {
        let key = if scope.is_empty() { name } else { format!("{scope} / {name}") };
        assert!(seen.decoded.contains_key(&key), "{key:?} was never called with a decodable payload");
    }
}

#[test]
fn every_notify_kind_is_sent_and_only_the_approval_request_waits() {
    let seen = walk_every_path();
    let expected: BTreeSet<(String, bool)> = [
        ("clean", false),
        ("digest", false),
        ("approval-request", true),
        ("rejected", false),
        ("expired", false),
        ("outcome", false),
        ("deactivation-failed", false),
    ]
    .into_iter()
    .map(|(k, w)| (k.to_owned(), w))
    .collect();
    assert_eq!(seen.notify_kinds, expected);
}

#[test]
fn deactivate_gets_the_decision_after_approval_and_none_in_auto_mode() {
    let seen = walk_every_path();
    assert_eq!(seen.deactivate_with_decision, BTreeSet::from([false, true]));
}
