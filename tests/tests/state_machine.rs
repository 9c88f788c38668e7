//! The state machine's shape: placeholders and substitutions agree with template.yaml, every
//! transition lands on a state, every state is reachable, every Lambda task retries the Lambda
//! service errors with backoff, every error name exists, the approval step times out and catches
//! both endings, the organisation branch sweeps each account in a Distributed child that catches
//! everything and never reads `$$.Execution`, a run that did not sweep every account ends failed,
//! and the definition stays within what the local stack's engine (moto) runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use keyward_core::errors;
use keyward_tests::asl::{self, Level};
use keyward_tests::template::Template;
use serde_json::Value;

const LAMBDA_SERVICE_ERRORS: [&str; 4] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// What Lambda names a function that timed out or crashed (no error name of its own).
const LAMBDA_RUNTIME_ERRORS: [&str; 2] = ["Sandbox.Timedout", "Lambda.Unknown"];

/// Errors that a retry cannot fix: retrying them only repeats the failure (or, for the approval
/// endings, would ask again).
const NEVER_RETRIED: [&str; 8] = [
    errors::INVALID_INPUT,
    errors::MEMBER_ROLE_REFUSED,
    errors::DEACTIVATION_INCOMPLETE,
    errors::INVALID_CONFIG,
    errors::RUN_STATE_INVALID,
    errors::APPROVAL_REJECTED,
    "States.Timeout",
    "States.ALL",
];

fn raw() -> String {
    keyward_tests::read(asl::PATH).unwrap()
}

fn definition() -> Value {
    let subs = Template::load().unwrap().default_substitutions().unwrap();
    let text = asl::substitute(&raw(), &subs).unwrap();
    serde_json::from_str(&text).expect("the ASL is JSON once the template's defaults are substituted")
}

fn state<'a>(levels: &'a [Level<'a>], name: &str) -> &'a Value {
    levels.iter().find_map(|l| l.states.get(name)).unwrap_or_else(|| panic!("no state {name:?}"))
}

#[test]
fn every_placeholder_is_a_definition_substitution_and_every_substitution_is_used() {
    let used = asl::placeholders(&raw());
    let defined: BTreeSet<String> = Template::load().unwrap().definition_substitutions().unwrap().into_keys().collect();
    assert_eq!(used, defined, "ASL placeholders (left) vs template DefinitionSubstitutions (right)");
}

#[test]
fn numbers_are_substituted_unquoted() {
    let raw = raw();
    for (key, placeholder) in [
        ("MaxConcurrency", "MaxConcurrency"),
        ("ToleratedFailurePercentage", "ToleratedFailurePercentage"),
        ("TimeoutSeconds", "ApprovalTimeoutSeconds"),
        ("MaxConcurrency", "MaxAccountConcurrency"),
    ] {
        let written = format!("\"{key}\": ${{{placeholder}}}");
        assert!(raw.contains(&written), "expected {written} in {}", asl::PATH);
    }
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    let map = state(&levels, "Check Users");
    assert!(map["MaxConcurrency"].is_u64(), "MaxConcurrency must be an integer");
    assert!(map["ToleratedFailurePercentage"].is_f64(), "moto only accepts a decimal ToleratedFailurePercentage");
    assert!(state(&levels, "Request Approval")["TimeoutSeconds"].is_u64());
}

#[test]
fn every_transition_lands_on_a_state_of_its_level() {
    let definition = definition();
    for level in asl::levels(&definition).unwrap() {
        assert!(
            level.states.contains_key(&level.start_at),
            "StartAt {:?} of {:?} is not a state",
            level.start_at,
            level.scope
        );
        for (name, state) in level.states {
            for next in asl::transitions(state) {
                assert!(
                    level.states.contains_key(&next),
                    "{name:?} moves to {next:?}, which is not a state of its level"
                );
            }
        }
    }
}

#[test]
fn every_state_is_reachable_from_start() {
    let definition = definition();
    for level in asl::levels(&definition).unwrap() {
        let mut seen = BTreeSet::from([level.start_at.clone()]);
        let mut todo = vec![level.start_at.clone()];
        while let Some(name) = todo.pop() {
            for next in asl::transitions(&level.states[&name]) {
                if seen.insert(next.clone()) {
                    todo.push(next);
                }
            }
        }
        let all: BTreeSet<String> = level.states.keys().cloned().collect();
        let unreachable: Vec<_> = all.difference(&seen).collect();
        assert!(unreachable.is_empty(), "unreachable states in {:?}: {unreachable:?}", level.scope);
    }
}

#[test]
fn every_state_either_ends_or_moves_on() {
    let definition = definition();
    for level in asl::levels(&definition).unwrap() {
        for (name, state) in level.states {
            match state["Type"].as_str().unwrap() {
                "Succeed" | "Fail" => assert!(state.get("Next").is_none(), "{name:?} is terminal"),
                "Choice" => assert!(state.get("Choices").is_some_and(|c| c.as_array().is_some_and(|c| !c.is_empty()))),
                other => {
                    let ends = state.get("End") == Some(&Value::Bool(true));
                    assert!(
                        ends ^ state.get("Next").is_some(),
                        "{other} state {name:?} needs exactly one of Next or End"
                    );
                }
            }
        }
    }
}

#[test]
fn state_names_are_title_case() {
    let definition = definition();
    for level in asl::levels(&definition).unwrap() {
        for name in level.states.keys() {
            for word in name.trim_end_matches('?').split(' ') {
                assert!(
                    word.chars().next().is_some_and(char::is_uppercase),
                    "state {name:?}: {word:?} is not capitalised"
                );
            }
        }
    }
}

#[test]
fn every_lambda_task_calls_a_function_of_the_template() {
    let template = Template::load().unwrap();
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    let tasks = asl::lambda_tasks(&levels);
    assert!(!tasks.is_empty());
    let mut called = BTreeSet::new();
    for (_, name, state) in &tasks {
        let arn =
            state["Parameters"]["FunctionName"].as_str().unwrap_or_else(|| panic!("{name:?} has no FunctionName"));
        let binary = arn.rsplit(':').next().unwrap();
        assert_eq!(
            arn,
            keyward_tests::template::function_arn(binary),
            "{name:?}: FunctionName must be a substituted ARN"
        );
        assert!(
            template.function_by_binary(binary).is_some(),
            "{name:?} calls {binary}, which template.yaml does not define"
        );
        called.insert(binary.to_owned());
    }
    // The approval function is called by people (its URL), never by the state machine.
    let expected: BTreeSet<String> =
        ["list-users", "check-user", "validate-keys", "notify", "deactivate"].map(str::to_owned).into();
    assert_eq!(called, expected);
    // Every Task in keyward is a Lambda task.
    for level in &levels {
        for (name, state) in level.states {
            if state["Type"] == "Task" {
                assert!(asl::is_lambda_task(state), "{name:?} is a Task but not lambda:invoke");
            }
        }
    }
}

#[test]
fn every_error_name_is_a_keyward_error_or_a_step_functions_error() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    for level in &levels {
        for (name, state) in level.states {
            let (retried, caught) = asl::error_names(state);
            for error in retried.iter().chain(&caught) {
                let known = errors::ALL.contains(&error.as_str())
                    || error.starts_with("States.")
                    || LAMBDA_SERVICE_ERRORS.contains(&error.as_str())
                    || LAMBDA_RUNTIME_ERRORS.contains(&error.as_str());
                assert!(known, "{name:?} names the error {error:?}, which is not in keyward_core::errors::ALL");
            }
        }
    }
}

#[test]
fn every_lambda_task_retries_the_lambda_service_errors_with_backoff_and_never_the_hopeless_ones() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    for (_, name, state) in asl::lambda_tasks(&levels) {
        let retriers = state["Retry"].as_array().unwrap_or_else(|| panic!("{name:?} has no Retry"));
        let lambda = retriers
            .iter()
            .find(|r| {
                LAMBDA_SERVICE_ERRORS.iter().all(|e| r["ErrorEquals"].as_array().unwrap().contains(&Value::from(*e)))
            })
            .unwrap_or_else(|| panic!("{name:?} does not retry all of {LAMBDA_SERVICE_ERRORS:?} in one retrier"));
        for retrier in retriers {
            assert!(retrier["MaxAttempts"].as_u64().is_some_and(|n| (2..=10).contains(&n)), "{name:?}: MaxAttempts");
            assert!(retrier["BackoffRate"].as_f64().is_some_and(|r| r >= 1.5), "{name:?}: BackoffRate must back off");
            assert!(retrier["IntervalSeconds"].as_u64().is_some_and(|s| s >= 1), "{name:?}: IntervalSeconds");
        }
        assert_eq!(lambda["JitterStrategy"], "FULL", "{name:?}: the Lambda retrier should jitter");
        let (retried, _) = asl::error_names(state);
        for hopeless in NEVER_RETRIED {
            assert!(!retried.iter().any(|e| e == hopeless), "{name:?} retries {hopeless}");
        }
    }
}

#[test]
fn tasks_that_call_aws_retry_throttling_by_name() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    // Which service a function calls decides which throttling names it can raise.
    let calls_iam = [
        "List Users",
        "Check User",
        "List Account Users",
        "Check Account User Batch",
        "Deactivate",
        "Deactivate Approved Keys",
    ];
    for (_, name, state) in asl::lambda_tasks(&levels) {
        let (retried, _) = asl::error_names(state);
        assert!(retried.iter().any(|e| e == errors::AWS_THROTTLED), "{name:?} does not retry AwsThrottled");
        if calls_iam.contains(&name.as_str()) {
            assert!(retried.iter().any(|e| e == errors::IAM_THROTTLED), "{name:?} does not retry IamThrottled");
        }
    }
}

#[test]
fn the_approval_step_waits_for_the_token_times_out_and_catches_both_endings() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    let waiting: Vec<_> = asl::lambda_tasks(&levels)
        .into_iter()
        .filter(|(_, _, s)| asl::waits_for_task_token(s))
        .map(|(_, n, _)| n)
        .collect();
    assert_eq!(waiting, ["Request Approval"], "exactly one task waits for a human");
    let approval = state(&levels, "Request Approval");
    let defaults = Template::load().unwrap().default_substitutions().unwrap();
    assert_eq!(approval["TimeoutSeconds"].to_string(), defaults["ApprovalTimeoutSeconds"]);
    assert_eq!(approval["Payload"], Value::Null, "the payload belongs under Parameters");
    assert_eq!(approval["Parameters"]["Payload"]["task_token.$"], "$$.Task.Token");
    let catchers = approval["Catch"].as_array().unwrap();
    let target = |error: &str| {
        catchers
            .iter()
            .find(|c| c["ErrorEquals"].as_array().unwrap().contains(&Value::from(error)))
            .unwrap_or_else(|| panic!("Request Approval does not catch {error}"))
    };
    assert_eq!(target(errors::APPROVAL_REJECTED)["Next"], "Notify Rejected");
    assert_eq!(target("States.Timeout")["Next"], "Notify Expired");
    for catcher in catchers {
        // The default ResultPath ($) would replace the state, and the run with it.
        let path = catcher["ResultPath"].as_str().unwrap_or("$");
        assert!(path.starts_with("$.") && !path.starts_with("$.validated"), "a catcher must keep $.validated: {path}");
    }
    // Other states that catch: a Map child whose batch still fails after its retries ends in
    // "Batch Not Evaluated" (Validate Keys then names its users as not evaluated and nothing acts on
    // them), an account's sweep that fails is recorded as the account's failure (and a record that
    // fails ends the child with none: Validate Organization names the account not recorded), and
    // the deactivate tasks (below). A failure anywhere else fails the run loudly.
    for level in &levels {
        for (name, state) in level.states {
            let fallback = match name.as_str() {
                "Request Approval" | "Deactivate" | "Deactivate Approved Keys" => continue,
                "Check User" => "Batch Not Evaluated",
                "Check Account User Batch" => "Account Batch Not Evaluated",
                "List Account Users" | "Check Account Users" => "Record Account Not Swept",
                "Record Account Not Swept" => "Account Not Recorded",
                _ => {
                    assert!(state.get("Catch").is_none(), "{name:?} catches errors");
                    continue;
                }
            };
            let catchers = state["Catch"].as_array().unwrap();
            assert_eq!(catchers.len(), 1, "{name:?}");
            assert_eq!(catchers[0]["ErrorEquals"], serde_json::json!(["States.ALL"]), "{name:?}");
            assert_eq!(catchers[0]["Next"], fallback, "{name:?}");
            if fallback != "Record Account Not Swept" {
                let fallback = &level.states[fallback];
                assert_eq!(fallback["Type"], "Pass");
                assert_eq!(fallback["End"], true);
            }
        }
    }
}

#[test]
fn a_failed_deactivation_is_caught_after_its_retries_reported_from_the_journal_and_ends_the_run_failed() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    for name in ["Deactivate", "Deactivate Approved Keys"] {
        let task = state(&levels, name);
        let catchers = task["Catch"].as_array().unwrap();
        assert_eq!(catchers.len(), 1, "{name}");
        // Everything: a refusal, a crash (Lambda.Unknown), a timeout (Sandbox.Timedout), a journal
        // or report write that failed, an incomplete earlier claim — once the retries are spent.
        assert_eq!(catchers[0]["ErrorEquals"], serde_json::json!(["States.ALL"]), "{name}");
        assert_eq!(catchers[0]["ResultPath"], "$.deactivation_error", "{name}: keeps $.validated");
        assert_eq!(catchers[0]["Next"], "Notify Deactivation Failed", "{name}");
        assert!(
            task["Retry"].as_array().unwrap().iter().all(|r| r["ErrorEquals"] != serde_json::json!(["States.ALL"]))
        );
    }
    let notify = state(&levels, "Notify Deactivation Failed");
    let payload = &notify["Parameters"]["Payload"];
    assert_eq!(payload["kind"], "deactivation-failed");
    assert_eq!(payload["run.$"], "$.validated.run");
    assert_eq!(payload["error.$"], "$.deactivation_error.Error");
    assert_eq!(notify["ResultPath"], Value::Null);
    let end = state(&levels, notify["Next"].as_str().unwrap());
    assert_eq!(end["Type"], "Fail", "the run ends failed");
    // The payload is a NotifyEvent notify accepts.
    let event = serde_json::json!({"kind": "deactivation-failed", "run": {"bucket": "b", "execution_name": "x"}, "error": "Sandbox.Timedout"});
    keyward_core::contracts::decode::<keyward_core::contracts::NotifyEvent>(event).unwrap();
}

#[test]
fn the_definition_stays_within_what_moto_runs() {
    fn keys(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(fields) => {
                for (key, inner) in fields {
                    out.insert(key.clone());
                    keys(inner, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| keys(i, out)),
            _ => {}
        }
    }
    let definition = definition();
    let mut used = BTreeSet::new();
    keys(&definition, &mut used);
    // JSONata fields, and the two Map features moto 5.2.5 lacks (ResultWriter only writes an empty manifest).
    for absent in ["QueryLanguage", "Arguments", "Output", "Assign", "ItemBatcher", "ResultWriter"] {
        assert!(!used.contains(absent), "{} uses {absent}, which the local stack (moto 5.2.5) cannot run", asl::PATH);
    }
    let levels = asl::levels(&definition).unwrap();
    for name in ["Check Users", "Sweep Accounts", "Check Account Users"] {
        let map = state(&levels, name);
        assert_eq!(
            map["ItemProcessor"]["ProcessorConfig"],
            serde_json::json!({"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}),
            "{name}"
        );
        assert_eq!(map["ItemReader"]["Resource"], "arn:aws:states:::s3:getObject", "{name}");
        assert_eq!(map["ItemReader"]["ReaderConfig"]["InputType"], "JSON", "{name}");
        assert_eq!(map["ResultPath"], Value::Null, "{name}: the Map's results are read from S3, not kept in state");
        assert!(map["ToleratedFailurePercentage"].is_f64(), "{name}: moto only accepts a decimal");
    }
}

/// The levels that run as a Distributed Map's child executions.
fn distributed_children<'a>(levels: &'a [Level<'a>]) -> Vec<&'a Level<'a>> {
    levels
        .iter()
        .filter(|l| {
            !l.scope.is_empty() && state(levels, &l.scope)["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        })
        .collect()
}

#[test]
fn every_task_and_map_of_a_distributed_child_catches_everything() {
    // An uncaught failure fails the child, and the Map over accounts tolerates it (100 %): the
    // account would then be reported only as not recorded. Every child records what it can.
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    let children = distributed_children(&levels);
    assert_eq!(children.len(), 3, "Check Users, Sweep Accounts, Check Account Users");
    for level in children {
        for (name, state) in level.states {
            if matches!(state["Type"].as_str(), Some("Task" | "Map")) {
                let caught = state["Catch"].as_array().into_iter().flatten().flat_map(|c| c["ErrorEquals"].as_array());
                assert!(
                    caught.flatten().any(|e| e == "States.ALL"),
                    "{name:?} in {:?} does not catch States.ALL",
                    level.scope
                );
            }
        }
    }
}

#[test]
fn no_distributed_child_reads_the_execution_context() {
    // On AWS a Distributed Map child's $$.Execution is the child's own; on moto it is the parent's.
    // The run and its time come with the item (an ItemSelector is evaluated in the parent).
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    for level in distributed_children(&levels) {
        for (name, state) in level.states {
            let mut own = state.clone();
            if let Some(fields) = own.as_object_mut() {
                fields.remove("ItemProcessor");
            }
            assert!(!own.to_string().contains("$$.Execution"), "{name:?} in {:?} reads $$.Execution", level.scope);
        }
    }
    let sweep = state(&levels, "Sweep Accounts");
    assert_eq!(
        sweep["ItemSelector"],
        serde_json::json!({
            "run.$": "$$.Map.Item.Value.run",
            "account_name.$": "$$.Map.Item.Value.account_name",
            "evaluated_at.$": "$$.Execution.StartTime"
        })
    );
}

#[test]
fn the_scope_picks_the_branch_and_the_organization_sweep_is_bounded_and_tolerant() {
    let template = Template::load().unwrap();
    let scopes = template.constraint("KeywardScope").unwrap().allowed_values.unwrap();
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    assert_eq!(levels[0].start_at, "Settings");
    let settings = state(&levels, "Settings");
    assert_eq!(settings["Result"]["scope"], template.parameter_default("KeywardScope").unwrap());
    assert!(raw().contains(r#""scope": "${KeywardScope}""#));
    let choice = state(&levels, "Scope?");
    assert!(choice.get("Default").is_none(), "an unknown scope fails the run");
    let branches: BTreeMap<String, String> = choice["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Variable"], "$.settings.scope");
            (c["StringEquals"].as_str().unwrap().to_owned(), c["Next"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(branches.keys().cloned().collect::<Vec<_>>(), scopes, "one branch per KeywardScope value");
    assert_eq!(branches["account"], "List Users");
    assert_eq!(branches["organization"], "Discover Accounts");
    let sweep = state(&levels, "Sweep Accounts");
    let defaults = template.default_substitutions().unwrap();
    assert_eq!(sweep["MaxConcurrency"].to_string(), defaults["MaxAccountConcurrency"]);
    assert_eq!(sweep["ToleratedFailurePercentage"].as_f64(), Some(100.0));
    let inner = state(&levels, "Check Account Users");
    assert_eq!(inner["MaxConcurrency"].to_string(), defaults["MaxConcurrency"]);
    assert_eq!(inner["ToleratedFailurePercentage"].to_string(), defaults["ToleratedFailurePercentage"]);
}

#[test]
fn a_run_that_did_not_sweep_every_account_ends_failed_accounts_not_swept() {
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    for validate in ["Validate Keys", "Validate Organization"] {
        assert_eq!(
            state(&levels, validate)["ResultSelector"]["coverage_complete.$"],
            "$.Payload.coverage_complete",
            "{validate}"
        );
    }
    let coverage = state(&levels, "Coverage Complete?");
    assert_eq!(coverage["Choices"].as_array().unwrap().len(), 1);
    assert_eq!(coverage["Choices"][0]["Variable"], "$.validated.coverage_complete");
    assert_eq!(coverage["Choices"][0]["BooleanEquals"], true);
    assert_eq!(coverage["Choices"][0]["Next"], "Done");
    let fail = state(&levels, coverage["Default"].as_str().unwrap());
    assert_eq!(fail["Type"], "Fail");
    assert_eq!(fail["Error"], keyward_core::errors::ACCOUNTS_NOT_SWEPT);
    // Only the clean report (account scope, nothing validated) and the coverage check reach Done.
    let top = &levels[0];
    let into_done: BTreeSet<&str> = top
        .states
        .iter()
        .filter(|(_, s)| asl::transitions(s).iter().any(|n| n == "Done"))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(into_done, BTreeSet::from(["Report Clean", "Coverage Complete?"]));
}

#[test]
fn choices_compare_with_the_values_the_contracts_serialize() {
    use keyward_core::contracts::NextStep;
    let definition = definition();
    let levels = asl::levels(&definition).unwrap();
    let next_step = state(&levels, "Next Step?");
    let compared: BTreeMap<String, String> = next_step["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Variable"], "$.validated.next");
            (c["StringEquals"].as_str().unwrap().to_owned(), c["Next"].as_str().unwrap().to_owned())
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        (NextStep::Done, "Coverage Complete?"),
        (NextStep::Deactivate, "Deactivate"),
        (NextStep::RequestApproval, "Request Approval"),
    ]
    .into_iter()
    .map(|(step, target)| (serde_json::to_value(step).unwrap().as_str().unwrap().to_owned(), target.to_owned()))
    .collect();
    assert_eq!(compared, expected, "every NextStep has exactly one branch");
    let candidates = state(&levels, "Has Candidates?");
    assert_eq!(candidates["Choices"][0]["Variable"], "$.listed.has_candidates");
    assert_eq!(candidates["Choices"][0]["BooleanEquals"], true);
}
