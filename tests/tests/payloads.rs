//! Every task's payload, built the way Step Functions builds it along every path of a simulated
//! run, decodes through its function's contract (`keyward_core::contracts::decode`), and every
//! `ResultSelector` reads fields that the function's output type really has.
//!
//! The walk starts from the execution input `{}` and follows every branch (choices are not
//! evaluated: each of their targets is visited), so both scopes' branches are walked. Each Lambda
//! task is answered with a sample of its output type, the approval task with a sample `Decision`,
//! each catcher with an error; each Map runs its `ItemProcessor` once on a sample item (a batch, or
//! an account of accounts.json). A Map's child runs with the context of an execution of its own, as
//! on AWS: a child that read `$$.Execution` instead of its item would name another run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use keyward_core::contracts::{
    self, AccountFailedOutput, AccountItem, CheckUserInput, CheckUserOutput, DeactivateInput, DeactivateOutput,
    DiscoverOutput, ListUsersEvent, ListUsersOutput, NextStep, NotifyEvent, NotifyOutput, OrgListUsersInput, RunRef,
    UserBatch, ValidateKeysInput, ValidateKeysOutput,
};
use keyward_core::decision::Decision;
use keyward_core::org::AccountId;
use keyward_core::policy::PlanStatus;
use keyward_tests::asl::{self, Level};
use keyward_tests::template::Template;
use serde_json::{Value, json};

const EXECUTION: &str = "keyward-contract-run";
/// `$$.Execution.StartTime` as Step Functions writes it. Also a sentinel: it must never be kept in
/// state output (moto's DescribeExecution fails on timestamps held in state).
const START_TIME: &str = "2026-11-21T06:00:00.123Z";
/// A Map child's own `$$.Execution.Name` and `StartTime` on AWS (moto gives the parent's).
const CHILD_EXECUTION: &str = "a1b2c3d4-map-run-child";
const CHILD_START_TIME: &str = "2026-11-21T06:00:42.000Z";
/// The account of the sample item of accounts.json.
const MEMBER_ACCOUNT: &str = "111122223333";
const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAcontractTaskToken";
/// State output stays far below Step Functions' 256 KiB: pointers and counts only.
const MAX_STATE_BYTES: usize = 4096;

fn run_ref() -> RunRef {
    RunRef::new("keyward-reports-123456789012", EXECUTION)
}

fn member_account() -> AccountId {
    AccountId::parse(MEMBER_ACCOUNT).unwrap()
}

fn sample_account() -> AccountItem {
    AccountItem { run: run_ref().in_account(member_account()), account_name: "Production".to_owned() }
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
    /// The list-users steps called (`account scope`, or the organisation run's phase).
    list_users_steps: BTreeSet<&'static str>,
    /// What validate-keys was given: `listed` or `discovered`.
    validate_keys_inputs: BTreeSet<&'static str>,
    /// States entered.
    entered: BTreeSet<String>,
    /// Problems found.
    problems: Vec<String>,
}

/// Decodes a payload with the contract of the function `binary` and answers with a sample output.
fn call(binary: &str, payload: Value, seen: &mut Seen, state: &str, waits: bool) -> Result<Value, String> {
    let output = match binary {
        "list-users" => Ok(list_users(contracts::decode(payload).map_err(|e| e.to_string())?, seen)?),
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
                (Some(listed), None) => {
                    seen.validate_keys_inputs.insert("listed");
                    listed.run
                }
                (None, Some(discovered)) => {
                    seen.validate_keys_inputs.insert("discovered");
                    discovered.run
                }
                _ => return Err("validate-keys must get exactly one of listed and discovered".to_owned()),
            };
            if run.account_id.is_some() || input.evaluated_at != start_time() {
                return Err(format!("validate-keys must get the whole run at the run's time: {run:?}"));
            }
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

/// list-users' answer to one of its steps: account scope's listing, or the organisation run's
/// discovery, an account's listing (under the account's part of the run) and an account's failure.
fn list_users(event: ListUsersEvent, seen: &mut Seen) -> Result<Value, String> {
    let run = run_ref();
    let at_run_start = |evaluated_at: DateTime<Utc>| {
        (evaluated_at == start_time())
            .then_some(())
            .ok_or(format!("evaluated_at is not the run's $$.Execution.StartTime: {evaluated_at}"))
    };
    let listing = |run: RunRef| ListUsersOutput {
        batches_key: run.batches_key(),
        run,
        users_listed: 12,
        candidates: 2,
        batches: 1,
        has_candidates: true,
    };
    let output = match event {
        ListUsersEvent::Account(input) => {
            seen.list_users_steps.insert("account scope");
            at_run_start(input.evaluated_at)?;
            serde_json::to_value(listing(RunRef { execution_name: input.execution_name, ..run }))
        }
        ListUsersEvent::Organization(OrgListUsersInput::Discover { execution_name, evaluated_at, .. }) => {
            seen.list_users_steps.insert("discover");
            at_run_start(evaluated_at)?;
            let run = RunRef { execution_name, ..run };
            serde_json::to_value(DiscoverOutput {
                accounts_key: run.accounts_key(),
                run,
                accounts_discovered: 3,
                accounts_selected: 2,
                has_accounts: true,
            })
        }
        ListUsersEvent::Organization(OrgListUsersInput::Account { run: account_run, evaluated_at }) => {
            seen.list_users_steps.insert("account");
            at_run_start(evaluated_at)?;
            if account_run != sample_account().run {
                return Err(format!("the account step's run is not the item's: {account_run:?}"));
            }
            serde_json::to_value(listing(account_run))
        }
        ListUsersEvent::Organization(OrgListUsersInput::AccountFailed { run: account_run, error, .. }) => {
            seen.list_users_steps.insert("account-failed");
            if account_run != sample_account().run || error.is_empty() {
                return Err(format!(
                    "account-failed must name the item's run and the error: {account_run:?} {error:?}"
                ));
            }
            serde_json::to_value(AccountFailedOutput { run: account_run, account_id: member_account(), recorded: true })
        }
    };
    output.map_err(|e| e.to_string())
}

fn start_time() -> DateTime<Utc> {
    START_TIME.parse().unwrap()
}

/// The context object of a state: the run's execution at the top level, a child execution of its
/// own inside a Map's `ItemProcessor` (`in_child`).
fn context(map_item: Option<&Value>, in_child: bool) -> Value {
    let (name, start) = if in_child { (CHILD_EXECUTION, CHILD_START_TIME) } else { (EXECUTION, START_TIME) };
    json!({
        "Execution": {
            "Id": format!("arn:aws:states:us-east-1:123456789012:execution:keyward:{name}"),
            "Name": name,
            "StartTime": start,
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
        // A child's item carries the run's time as evaluated_at (its ItemSelector is evaluated in the
        // run); nowhere else may state hold it.
        let mut held = input.clone();
        if !scope.is_empty()
            && let Some(fields) = held.as_object_mut()
        {
            fields.remove("evaluated_at");
        }
        if held.to_string().contains(START_TIME) {
            self.problem(&key, "state input holds $$.Execution.StartTime (moto's DescribeExecution fails on it)");
        }
        let Some(state) = self.level(scope).states.get(name).cloned() else {
            self.problem(&key, "no such state");
            return;
        };
        let ctx = context(map_item, !scope.is_empty());
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
                // Result, Parameters or the input itself, placed by ResultPath; a Pass calls nothing.
                let result = match (state.get("Result"), state.get("Parameters")) {
                    (Some(result), _) => Ok(result.clone()),
                    (None, Some(parameters)) => asl::build(parameters, &input, &ctx),
                    (None, None) => Ok(input.clone()),
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
        self.catch(scope, key, state, &input, item, depth);
    }

    /// Walks each of a state's catchers with its error placed by the catcher's ResultPath.
    fn catch(&mut self, scope: &str, key: &str, state: &Value, input: &Value, item: Option<&Value>, depth: usize) {
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            for error in catcher["ErrorEquals"].as_array().into_iter().flatten() {
                let error_output = json!({"Error": error, "Cause": "simulated"});
                match asl::apply_result_path(input, catcher.get("ResultPath"), error_output) {
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
        // The Map over accounts reads the discovery's accounts.json, a Map over batches the listing's
        // batches.json (the run's, or the account's part of it).
        let (expected, child_item) = match serde_json::from_value::<DiscoverOutput>(input["discovered"].clone()) {
            Ok(discovered) if input.get("listed").is_none() => (
                json!({"Bucket": discovered.run.bucket, "Key": discovered.run.accounts_key()}),
                serde_json::to_value(sample_account()).unwrap(),
            ),
            _ => match serde_json::from_value::<ListUsersOutput>(input["listed"].clone()) {
                Ok(listed) => (
                    json!({"Bucket": listed.run.bucket, "Key": listed.run.batches_key()}),
                    serde_json::to_value(sample_batch()).unwrap(),
                ),
                Err(e) => return self.problem(key, format!("a Map with neither a discovery nor a listing: {e}")),
            },
        };
        match asl::build(&state["ItemReader"]["Parameters"], &input, ctx) {
            Ok(reader) if reader == expected => {}
            Ok(reader) => self.problem(key, format!("the ItemReader reads {reader}, not {expected}")),
            Err(e) => self.problem(key, e),
        }
        // The ItemSelector is evaluated in the execution that runs the Map, with the item.
        let selector_ctx = context(Some(&child_item), !scope.is_empty());
        match asl::build(&state["ItemSelector"], &input, &selector_ctx) {
            Ok(child_input) => {
                let start = self.level(&name).start_at.clone();
                self.walk(&name, &start, child_input, Some(&child_item), depth + 1);
            }
            Err(e) => self.problem(key, e),
        }
        self.proceed(scope, key, state, &input, Ok(json!([{"index": 0}])), item, depth);
        self.catch(scope, key, state, &input, item, depth);
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

#[test]
fn both_scopes_are_walked_through_every_list_users_step_and_both_validate_inputs() {
    let seen = walk_every_path();
    assert_eq!(seen.list_users_steps, BTreeSet::from(["account scope", "discover", "account", "account-failed"]));
    assert_eq!(seen.validate_keys_inputs, BTreeSet::from(["listed", "discovered"]));
}
