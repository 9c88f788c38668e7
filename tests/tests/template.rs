//! template.yaml against the code: the six functions and how they are built, the environment each
//! function gets (names from `keyward_core::config::vars`, fed by the parameter of the same name,
//! with the code's own defaults and ranges), secrets only where they are read, and the IAM
//! boundaries (explicit denies, who may deactivate, who may answer the approval task, what the
//! state machine may invoke).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use keyward_core::config::{Config, vars};
use keyward_tests::template::{Intrinsic, Template, intrinsic, scalar};
use serde_norway::Value;

/// Every variable of `keyward_core::config::vars`.
const ALL_VARS: [&str; 20] = [
    vars::MODE,
    vars::MAX_KEY_AGE_DAYS,
    vars::UNUSED_KEY_DAYS,
    vars::WARN_DAYS,
    vars::MFA_SCOPE,
    vars::NO_MFA_ACTION,
    vars::EXEMPT_USERS,
    vars::MAX_DEACTIVATIONS_PER_RUN,
    vars::APPROVAL_TIMEOUT_SECONDS,
    vars::SCREENING,
    vars::BATCH_SIZE,
    vars::MAX_CONCURRENCY,
    vars::IAM_MAX_RPS,
    vars::SLACK_WEBHOOK_URL,
    vars::SLACK_SIGNING_SECRET,
    vars::SLACK_APPROVER_IDS,
    vars::REPORT_BUCKET,
    vars::TOPIC_ARN,
    vars::APPROVALS_TABLE,
    vars::APPROVAL_BASE_URL,
];

/// The variables that name a resource of the stack, and the resource type each must point at.
const RESOURCE_VARS: [(&str, &str); 4] = [
    (vars::REPORT_BUCKET, "AWS::S3::Bucket"),
    (vars::TOPIC_ARN, "AWS::SNS::Topic"),
    (vars::APPROVALS_TABLE, "AWS::DynamoDB::Table"),
    // SAM generates `<Function>Url` for a function with a FunctionUrlConfig.
    (vars::APPROVAL_BASE_URL, "FunctionUrlConfig"),
];

/// Secrets: set only on the functions that read them.
const SECRETS: [(&str, &str); 2] = [(vars::SLACK_WEBHOOK_URL, "notify"), (vars::SLACK_SIGNING_SECRET, "approval")];

/// What each function reads besides validating the whole configuration at start-up (its `main.rs`
/// and handler): these must be set for it.
fn reads() -> BTreeMap<&'static str, Vec<&'static str>> {
    let policy = [
        vars::MAX_KEY_AGE_DAYS,
        vars::UNUSED_KEY_DAYS,
        vars::WARN_DAYS,
        vars::MFA_SCOPE,
        vars::NO_MFA_ACTION,
        vars::EXEMPT_USERS,
    ];
    BTreeMap::from([
        (
            "list-users",
            [&[vars::REPORT_BUCKET, vars::SCREENING, vars::BATCH_SIZE, vars::IAM_MAX_RPS][..], &policy].concat(),
        ),
        ("check-user", vec![vars::REPORT_BUCKET, vars::IAM_MAX_RPS, vars::MAX_CONCURRENCY]),
        ("validate-keys", [&[vars::REPORT_BUCKET, vars::MODE, vars::MAX_DEACTIVATIONS_PER_RUN][..], &policy].concat()),
        (
            "notify",
            vec![
                vars::REPORT_BUCKET,
                vars::TOPIC_ARN,
                vars::APPROVALS_TABLE,
                vars::APPROVAL_BASE_URL,
                vars::APPROVAL_TIMEOUT_SECONDS,
                vars::SLACK_WEBHOOK_URL,
            ],
        ),
        ("deactivate", vec![vars::REPORT_BUCKET, vars::IAM_MAX_RPS]),
        ("approval", vec![vars::APPROVALS_TABLE, vars::SLACK_SIGNING_SECRET, vars::SLACK_APPROVER_IDS]),
    ])
}

/// The parameter that feeds a setting: `KEYWARD_MODE` → `Mode`, `MAX_KEY_AGE_DAYS` → `MaxKeyAgeDays`.
fn parameter_of(var: &str) -> String {
    var.trim_start_matches("KEYWARD_")
        .split('_')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

fn settings() -> Vec<&'static str> {
    ALL_VARS.into_iter().filter(|v| !RESOURCE_VARS.iter().any(|(r, _)| r == v)).collect()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn there_are_six_functions_each_built_from_its_workspace_binary() {
    let template = Template::load().unwrap();
    let functions = template.functions();
    let binaries: BTreeSet<String> = functions.iter().filter_map(|f| f.binary.clone()).collect();
    let expected: BTreeSet<String> = reads().keys().map(|b| (*b).to_owned()).collect();
    assert_eq!(binaries, expected);
    assert_eq!(functions.len(), 6);
    for function in &functions {
        let id = &function.logical_id;
        let binary = function.binary.as_deref().unwrap();
        assert_eq!(function.resource["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{id}");
        assert_eq!(
            function.property("CodeUri").and_then(Value::as_str),
            Some("."),
            "{id}: CodeUri is the workspace root"
        );
        let main = keyward_tests::workspace_root().join("crates").join(binary).join("src/main.rs");
        assert!(main.exists(), "{id}: binary {binary} has no {}", main.display());
        let pascal: String = parameter_of(&binary.replace('-', "_").to_ascii_uppercase());
        assert_eq!(id, &format!("{pascal}Function"), "logical ids are PascalCase binary + Function");
        let timeout = function.property("Timeout").and_then(Value::as_u64).unwrap_or(60);
        assert!((1..=900).contains(&timeout), "{id}: Timeout {timeout}");
        let log_group = function.property("LoggingConfig").and_then(|l| l.get("LogGroup")).and_then(intrinsic);
        match log_group {
            Some(Intrinsic::Ref(group)) => assert_eq!(template.resource_type(&group), Some("AWS::Logs::LogGroup")),
            other => panic!("{id}: LoggingConfig.LogGroup must !Ref a log group with a retention, got {other:?}"),
        }
    }
}

#[test]
fn globals_run_every_function_on_arm64_al2023_with_json_logs() {
    let template = Template::load().unwrap();
    let global = |name: &str| template.global_function_property(name).cloned();
    assert_eq!(global("Runtime").and_then(|v| scalar(&v)).as_deref(), Some("provided.al2023"));
    assert_eq!(global("Handler").and_then(|v| scalar(&v)).as_deref(), Some("bootstrap"));
    assert_eq!(strings(global("Architectures").as_ref()), ["arm64"]);
    assert_eq!(global("MemorySize").and_then(|v| v.as_u64()), Some(256));
    assert_eq!(global("LoggingConfig").unwrap()["LogFormat"].as_str(), Some("JSON"));
    for function in template.functions() {
        for overridden in ["Runtime", "Architectures", "Handler"] {
            assert!(function.property(overridden).is_none(), "{} overrides {overridden}", function.logical_id);
        }
    }
}

#[test]
fn every_environment_variable_is_a_config_variable() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        for name in template.function_environment(&function.logical_id).keys() {
            assert!(
                ALL_VARS.contains(&name.as_str()),
                "{}: {name} is not in keyward_core::config::vars",
                function.logical_id
            );
        }
    }
}

#[test]
fn every_function_gets_the_variables_it_reads_and_every_setting() {
    let template = Template::load().unwrap();
    for (binary, needed) in reads() {
        let function = template.function_by_binary(binary).unwrap();
        let env = template.function_environment(&function.logical_id);
        for var in needed {
            assert!(env.contains_key(var), "{binary} reads {var}, which template.yaml does not set for it");
        }
        // Every function validates the whole configuration at start-up: all see the same settings.
        for var in settings() {
            if !SECRETS.iter().any(|(s, _)| *s == var) && var != vars::SLACK_APPROVER_IDS {
                assert!(env.contains_key(var), "{binary} does not get the setting {var}");
            }
        }
    }
}

#[test]
fn secrets_are_set_only_where_they_are_read() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        let env = template.function_environment(&function.logical_id);
        for (secret, reader) in SECRETS {
            let expected = function.binary.as_deref() == Some(reader);
            assert_eq!(env.contains_key(secret), expected, "{secret} on {}", function.logical_id);
        }
    }
    for (secret, _) in SECRETS {
        let parameter = template.parameter(&parameter_of(secret)).unwrap();
        assert_eq!(parameter["NoEcho"].as_bool(), Some(true), "{secret}'s parameter must be NoEcho");
    }
}

#[test]
fn every_setting_is_fed_by_its_parameter_and_every_resource_variable_by_its_resource() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        for (name, value) in template.function_environment(&function.logical_id) {
            let id = &function.logical_id;
            match RESOURCE_VARS.iter().find(|(var, _)| *var == name) {
                Some((_, "FunctionUrlConfig")) => {
                    let Some(Intrinsic::GetAtt { resource, attribute }) = intrinsic(&value) else {
                        panic!("{id}: {name} must be !GetAtt <Function>Url.FunctionUrl");
                    };
                    assert_eq!(attribute, "FunctionUrl");
                    let function = resource.strip_suffix("Url").unwrap_or_else(|| panic!("{id}: {name} = {resource}"));
                    let approval = template.function_by_binary("approval").unwrap();
                    assert_eq!(function, approval.logical_id, "{id}: {name} must be the approval function's URL");
                    assert!(approval.property("FunctionUrlConfig").is_some(), "the approval function has no URL");
                }
                Some((_, kind)) => {
                    let Some(Intrinsic::Ref(resource)) = intrinsic(&value) else {
                        panic!("{id}: {name} must !Ref a resource")
                    };
                    assert_eq!(template.resource_type(&resource), Some(*kind), "{id}: {name} points at {resource}");
                }
                None => {
                    assert_eq!(intrinsic(&value), Some(Intrinsic::Ref(parameter_of(&name))), "{id}: {name}");
                }
            }
        }
    }
}

#[test]
fn parameter_defaults_are_the_code_defaults() {
    let template = Template::load().unwrap();
    let defaults: BTreeMap<String, String> = settings()
        .into_iter()
        .map(|var| (var.to_owned(), template.parameter_default(&parameter_of(var)).unwrap()))
        .collect();
    let from_template = Config::from_lookup(|name| defaults.get(name).cloned()).unwrap();
    assert_eq!(from_template, Config::default(), "template.yaml's defaults differ from keyward_core::config's");
}

#[test]
fn parameter_ranges_and_choices_are_what_the_code_accepts() {
    let template = Template::load().unwrap();
    let accepts = |var: &str, value: &str| Config::from_lookup(|name| (name == var).then(|| value.to_owned())).is_ok();
    for var in settings() {
        let parameter = template.parameter(&parameter_of(var)).unwrap_or_else(|| panic!("no parameter for {var}"));
        for allowed in parameter.get("AllowedValues").and_then(Value::as_sequence).into_iter().flatten() {
            let allowed = scalar(allowed).unwrap();
            assert!(accepts(var, &allowed), "{var}: AllowedValues has {allowed}, which the code refuses");
        }
        if parameter["Type"].as_str() == Some("Number") {
            let min = parameter.get("MinValue").and_then(Value::as_f64).unwrap_or_else(|| panic!("{var}: no MinValue"));
            let max = parameter.get("MaxValue").and_then(Value::as_f64).unwrap_or_else(|| panic!("{var}: no MaxValue"));
            let text = |v: f64| if v.fract() == 0.0 { format!("{v:.0}") } else { v.to_string() };
            assert!(accepts(var, &text(min)), "{var}: MinValue {min} is refused by the code");
            assert!(accepts(var, &text(max)), "{var}: MaxValue {max} is refused by the code");
            let step = if var == vars::IAM_MAX_RPS { 0.1 } else { 1.0 };
            if min - step >= 0.0 || var != vars::IAM_MAX_RPS {
                assert!(!accepts(var, &text(min - step)), "{var}: the code accepts {} below MinValue", min - step);
            }
            assert!(!accepts(var, &text(max + step)), "{var}: the code accepts {} above MaxValue", max + step);
        }
    }
}

#[test]
fn the_map_and_the_functions_share_their_settings() {
    let template = Template::load().unwrap();
    let subs = template.definition_substitutions().unwrap();
    for (substitution, var) in
        [("MaxConcurrency", vars::MAX_CONCURRENCY), ("ApprovalTimeoutSeconds", vars::APPROVAL_TIMEOUT_SECONDS)]
    {
        assert_eq!(intrinsic(&subs[substitution]), Some(Intrinsic::Ref(parameter_of(var))), "{substitution} and {var}");
    }
    let tolerated = template.parameter_default("ToleratedFailurePercentage").unwrap();
    assert!(tolerated.contains('.'), "ToleratedFailurePercentage must default to a decimal (moto), got {tolerated}");
}

fn allowed_actions(template: &Template, logical_id: &str) -> Vec<String> {
    template
        .policy_statements(logical_id)
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .flat_map(|s| strings(s.get("Action")))
        .collect()
}

#[test]
fn every_function_role_denies_creating_deleting_and_granting() {
    let template = Template::load().unwrap();
    let required = ["iam:DeleteAccessKey", "iam:CreateAccessKey", "iam:Delete*", "iam:Put*", "iam:Attach*"];
    for function in template.functions() {
        let id = &function.logical_id;
        let denied: BTreeSet<String> = template
            .policy_statements(id)
            .into_iter()
            .filter(|s| s["Effect"].as_str() == Some("Deny") && strings(s.get("Resource")) == ["*"])
            .flat_map(|s| strings(s.get("Action")))
            .collect();
        for action in required {
            assert!(denied.contains(action), "{id} does not explicitly deny {action} on *");
        }
        for action in allowed_actions(&template, id) {
            let lower = action.to_ascii_lowercase();
            let destructive = lower == "*"
                || lower == "iam:*"
                || ["iam:delete", "iam:create", "iam:put", "iam:attach", "iam:detach", "iam:remove", "iam:add"]
                    .iter()
                    .any(|p| lower.starts_with(p));
            assert!(!destructive, "{id} allows {action}");
            assert!(!action.ends_with(":*"), "{id} allows a whole service: {action}");
        }
    }
}

#[test]
fn only_deactivate_may_update_keys_and_only_approval_may_answer_the_task() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        let allowed = allowed_actions(&template, &function.logical_id);
        let binary = function.binary.as_deref().unwrap();
        assert_eq!(
            allowed.iter().any(|a| a == "iam:UpdateAccessKey"),
            binary == "deactivate",
            "{binary}: UpdateAccessKey"
        );
        assert_eq!(
            allowed.iter().any(|a| a.starts_with("states:SendTask")),
            binary == "approval",
            "{binary}: SendTask*"
        );
        assert!(!allowed.iter().any(|a| a == "iam:ListUsers") || binary == "list-users", "{binary}: ListUsers");
    }
}

#[test]
fn the_state_machine_may_invoke_exactly_the_functions_it_calls() {
    let template = Template::load().unwrap();
    let machine = template.state_machine().unwrap();
    let invoked: BTreeSet<String> = template
        .policy_statements(&machine)
        .into_iter()
        .filter(|s| strings(s.get("Action")).contains(&"lambda:InvokeFunction".to_owned()))
        .flat_map(|s| s["Resource"].as_sequence().cloned().unwrap_or_default())
        .map(|r| match intrinsic(&r) {
            Some(Intrinsic::GetAtt { resource, attribute }) if attribute == "Arn" => resource,
            other => panic!("InvokeFunction on {other:?}: name a function with !GetAtt <Function>.Arn"),
        })
        .collect();
    let substituted: BTreeSet<String> = template
        .definition_substitutions()
        .unwrap()
        .values()
        .filter_map(|v| match intrinsic(v) {
            Some(Intrinsic::GetAtt { resource, .. }) => Some(resource),
            _ => None,
        })
        .collect();
    assert_eq!(invoked, substituted);
    assert!(!invoked.contains("ApprovalFunction"));
}

#[test]
fn a_parameter_value_given_replaces_its_default_in_the_substitutions_and_an_unknown_one_is_refused() {
    let template = Template::load().unwrap();
    let defaults = template.default_substitutions().unwrap();
    assert_eq!(defaults["ApprovalTimeoutSeconds"], "86400");

    let given = BTreeMap::from([("ApprovalTimeoutSeconds".to_owned(), "60".to_owned())]);
    let substituted = template.substitutions(&given).unwrap();
    assert_eq!(substituted["ApprovalTimeoutSeconds"], "60");
    // Everything not given keeps its default.
    for (name, value) in &defaults {
        if name != "ApprovalTimeoutSeconds" {
            assert_eq!(&substituted[name], value, "{name}");
        }
    }

    let unknown = BTreeMap::from([("NoSuchParameter".to_owned(), "1".to_owned())]);
    let err = template.substitutions(&unknown).unwrap_err();
    assert!(err.contains("NoSuchParameter is not a parameter of template.yaml"), "{err}");
}
