//! template.yaml against the code: the six functions and how they are built, the environment each
//! function gets (names from `keyward_core::config::vars`, fed by the parameter of the same name,
//! with the code's own defaults), no secret in a parameter or an environment variable (the secret's
//! ARN, and the right to read it, only where it is read), and the IAM boundaries
//! (explicit denies, who may deactivate, who may answer the approval task, what the state machine
//! may invoke). Each parameter's constraints, evaluated as CloudFormation evaluates them, accept
//! exactly the values the code accepts, boundary by boundary; and the time budgets the code
//! enforces use the template's timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use keyward_core::config::{Config, ConfigError, budget, vars};
use keyward_tests::policy::{action_matches, allowed_actions, resources_allowed, strings};
use keyward_tests::template::{Constraint, Intrinsic, ParameterType, Template, conditional, intrinsic, scalar};
use serde_norway::Value;

/// Every variable of `keyward_core::config::vars`.
const ALL_VARS: [&str; 35] = [
    vars::MODE,
    vars::MAX_KEY_AGE_DAYS,
    vars::UNUSED_KEY_DAYS,
    vars::WARN_DAYS,
    vars::MFA_SCOPE,
    vars::NO_MFA_ACTION,
    vars::EXEMPT_USERS,
    vars::PROTECTED_USERS,
    vars::MAX_EXEMPTION_DAYS,
    vars::MAX_DEACTIVATIONS_PER_RUN,
    vars::MAX_DEACTIVATIONS_PER_ACCOUNT,
    vars::APPROVAL_TIMEOUT_SECONDS,
    vars::SCREENING,
    vars::BATCH_SIZE,
    vars::MAX_CONCURRENCY,
    vars::IAM_MAX_RPS,
    vars::SECRET_ARN,
    vars::SLACK_APPROVER_IDS,
    vars::SLACK_TEAM_ID,
    vars::SLACK_RESPONSE_URL_PREFIX,
    vars::APPROVER_AUTH,
    vars::OIDC_ISSUER,
    vars::OIDC_CLIENT_ID,
    vars::APPROVERS,
    vars::SCOPE,
    vars::ORG_INCLUDE,
    vars::ORG_EXCLUDE,
    vars::MEMBER_READ_ROLE,
    vars::MEMBER_WRITE_ROLE,
    vars::MAX_ACCOUNT_CONCURRENCY,
    vars::REPORT_BUCKET,
    vars::TOPIC_ARN,
    vars::APPROVALS_TABLE,
    vars::DECISIONS_TABLE,
    vars::APPROVAL_BASE_URL,
];

/// The variables only the local stack sets: a deployment keeps their defaults (for
/// `SLACK_RESPONSE_URL_PREFIX`, Slack's own host as the only place a button's answer may go).
const LOCAL_STACK_ONLY: [&str; 1] = [vars::SLACK_RESPONSE_URL_PREFIX];

/// The variables that name a resource of the stack, and the resource type each must point at.
const RESOURCE_VARS: [(&str, &str); 5] = [
    (vars::REPORT_BUCKET, "AWS::S3::Bucket"),
    (vars::TOPIC_ARN, "AWS::SNS::Topic"),
    (vars::APPROVALS_TABLE, "AWS::DynamoDB::Table"),
    (vars::DECISIONS_TABLE, "AWS::DynamoDB::Table"),
    // SAM generates `<Function>Url` for a function with a FunctionUrlConfig.
    (vars::APPROVAL_BASE_URL, "FunctionUrlConfig"),
];

/// The functions that read keyward's secret (`KEYWARD_SECRET_ARN`): notify (the Slack webhook) and
/// approval (Slack's signing secret).
const SECRET_READERS: [&str; 2] = ["notify", "approval"];

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
        vars::PROTECTED_USERS,
        vars::MAX_EXEMPTION_DAYS,
    ];
    BTreeMap::from([
        (
            "list-users",
            [
                &[
                    vars::REPORT_BUCKET,
                    vars::SCREENING,
                    vars::BATCH_SIZE,
                    vars::IAM_MAX_RPS,
                    vars::SCOPE,
                    vars::ORG_INCLUDE,
                    vars::ORG_EXCLUDE,
                    vars::MEMBER_READ_ROLE,
                ][..],
                &policy,
            ]
            .concat(),
        ),
        (
            "check-user",
            vec![vars::REPORT_BUCKET, vars::IAM_MAX_RPS, vars::MAX_CONCURRENCY, vars::SCOPE, vars::MEMBER_READ_ROLE],
        ),
        (
            "validate-keys",
            [&[vars::REPORT_BUCKET, vars::MODE, vars::MAX_DEACTIVATIONS_PER_RUN, vars::SCOPE][..], &policy].concat(),
        ),
        (
            "notify",
            vec![
                vars::REPORT_BUCKET,
                vars::TOPIC_ARN,
                vars::APPROVALS_TABLE,
                vars::DECISIONS_TABLE,
                vars::APPROVAL_BASE_URL,
                vars::APPROVAL_TIMEOUT_SECONDS,
                vars::SECRET_ARN,
                vars::APPROVER_AUTH,
                vars::OIDC_ISSUER,
            ],
        ),
        // The configuration in force when it acts: the mode now, who is protected or exempt now.
        (
            "deactivate",
            vec![
                vars::REPORT_BUCKET,
                vars::IAM_MAX_RPS,
                vars::APPROVALS_TABLE,
                vars::DECISIONS_TABLE,
                vars::MODE,
                vars::PROTECTED_USERS,
                vars::EXEMPT_USERS,
                vars::MAX_EXEMPTION_DAYS,
                vars::SCOPE,
                vars::MEMBER_WRITE_ROLE,
            ],
        ),
        (
            "approval",
            vec![
                vars::APPROVALS_TABLE,
                vars::DECISIONS_TABLE,
                vars::SECRET_ARN,
                vars::SLACK_APPROVER_IDS,
                vars::SLACK_TEAM_ID,
                vars::APPROVER_AUTH,
                vars::OIDC_ISSUER,
                vars::OIDC_CLIENT_ID,
                vars::APPROVERS,
            ],
        ),
    ])
}

/// The parameter that feeds a setting: `KEYWARD_MODE` → `Mode`, `MAX_KEY_AGE_DAYS` → `MaxKeyAgeDays`;
/// `KEYWARD_SECRET_ARN` → `KeywardSecretArn` (the secret is keyward's, not a generic "SecretArn"),
/// `KEYWARD_SCOPE` → `KeywardScope` (beside `MfaScope`, a bare "Scope" would not say which).
fn parameter_of(var: &str) -> String {
    if var == vars::SECRET_ARN {
        return "KeywardSecretArn".to_owned();
    }
    if var == vars::SCOPE {
        return "KeywardScope".to_owned();
    }
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
    ALL_VARS
        .into_iter()
        .filter(|v| !RESOURCE_VARS.iter().any(|(r, _)| r == v) && !LOCAL_STACK_ONLY.contains(v))
        .collect()
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
            if ![vars::SECRET_ARN, vars::SLACK_APPROVER_IDS, vars::SLACK_TEAM_ID].contains(&var) {
                assert!(env.contains_key(var), "{binary} does not get the setting {var}");
            }
        }
    }
}

#[test]
fn the_local_stack_only_variables_are_set_nowhere_and_fed_by_no_parameter() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        let env = template.function_environment(&function.logical_id);
        for var in LOCAL_STACK_ONLY {
            assert!(!env.contains_key(var), "{}: {var} is for the local stack only", function.logical_id);
        }
    }
    for var in LOCAL_STACK_ONLY {
        assert!(template.parameter(&parameter_of(var)).is_none(), "{var} has a parameter");
    }
}

#[test]
fn no_secret_is_a_parameter_or_an_environment_variable() {
    // SAM CLI's guided deploy cannot leave a NoEcho parameter empty and never saves one; an
    // environment variable is readable by whoever may read the function's configuration.
    let template = Template::load().unwrap();
    for name in template.parameter_names() {
        let parameter = template.parameter(&name).unwrap();
        assert!(parameter.get("NoEcho").is_none(), "{name} is NoEcho: secrets belong in keyward's secret");
    }
    for function in template.functions() {
        for name in template.function_environment(&function.logical_id).keys() {
            let secret_like = ["SECRET", "WEBHOOK"].iter().any(|word| name.contains(word));
            assert!(
                !secret_like || name == vars::SECRET_ARN,
                "{}: {name} looks like a secret in the environment",
                function.logical_id
            );
        }
    }
}

#[test]
fn only_the_functions_that_read_keywards_secret_get_its_arn_and_may_read_it_when_there_is_one() {
    let template = Template::load().unwrap();
    let has_secret = &template.root()["Conditions"]["HasSecret"];
    assert_eq!(
        serde_norway::to_string(has_secret).unwrap().trim(),
        "!Not\n- !Equals\n  - !Ref KeywardSecretArn\n  - ''",
        "HasSecret must be: KeywardSecretArn is not empty"
    );
    for function in template.functions() {
        let id = &function.logical_id;
        let reads = SECRET_READERS.contains(&function.binary.as_deref().unwrap());
        let env = template.function_environment(id);
        assert_eq!(env.contains_key(vars::SECRET_ARN), reads, "{id}: {}", vars::SECRET_ARN);
        let mut grants = Vec::new();
        for statement in template.raw_policy_statements(id) {
            let (condition, branches) = conditional(statement).unwrap_or_default();
            let branches = if condition.is_empty() { vec![statement] } else { branches };
            for branch in branches {
                if strings(branch.get("Action")).iter().any(|a| a.starts_with("secretsmanager:")) {
                    grants.push((condition.clone(), branch));
                }
            }
        }
        if !reads {
            assert!(grants.is_empty(), "{id} may use Secrets Manager");
            continue;
        }
        let [(condition, grant)] = grants.as_slice() else { panic!("{id}: expected one secretsmanager statement") };
        assert_eq!(condition, "HasSecret", "{id}: the secret's statement must be dropped when there is no secret");
        assert_eq!(strings(grant.get("Action")), ["secretsmanager:GetSecretValue"], "{id}");
        assert_eq!(intrinsic(&grant["Resource"]), Some(Intrinsic::Ref("KeywardSecretArn".into())), "{id}");
    }
}

#[test]
fn notify_may_see_who_is_subscribed_to_the_topic() {
    let template = Template::load().unwrap();
    let notify = template.function_by_binary("notify").unwrap();
    let statement = template
        .policy_statements(&notify.logical_id)
        .into_iter()
        .find(|s| strings(s.get("Action")).contains(&"sns:ListSubscriptionsByTopic".to_owned()))
        .expect("notify cannot list the topic's subscriptions");
    assert_eq!(intrinsic(&statement["Resource"]), Some(Intrinsic::Ref("NotificationTopic".into())));
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

/// Whether `value` matches the Java regular expression `pattern` as a whole, as CloudFormation
/// matches an `AllowedPattern` (the template's patterns are in the subset Java and regex-lite read
/// alike: classes, groups, `{m,n}`, anchors).
fn whole_match(pattern: &str, value: &str) -> bool {
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
        .unwrap_or_else(|e| panic!("AllowedPattern {pattern:?} does not compile: {e}"))
        .is_match(value)
}

/// Settings under which every value a variable's range holds also fits the time budgets (one user
/// per batch, one child, no deactivations, the highest rate): so that a refusal in the contract
/// below is the variable's own range, never the budget.
const ROOMY: [(&str, &str); 5] = [
    (vars::BATCH_SIZE, "1"),
    (vars::MAX_CONCURRENCY, "1"),
    (vars::IAM_MAX_RPS, "1000"),
    (vars::MAX_DEACTIVATIONS_PER_RUN, "0"),
    // SLACK_APPROVER_IDS needs their workspace (the template's Rules say the same).
    (vars::SLACK_TEAM_ID, "T0001"),
];

/// Whether the code accepts `var=value`, the other variables set as in [`ROOMY`] or unset.
fn code_accepts(var: &str, value: &str) -> bool {
    let env: BTreeMap<&str, &str> = ROOMY.into_iter().chain([(var, value)]).collect();
    Config::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).is_ok()
}

/// The values fed to every parameter: empty, blank, signs, decimals, exponents, words.
const EVERY_PARAMETER: [&str; 16] =
    ["", " ", "0", "1", "-1", "+5", "07", "1.5", "1.0", "1e3", ".5", "5.", "abc", "NaN", "inf", "yolo"];

/// The variables that take a whole number.
const WHOLE_NUMBERS: [&str; 9] = [
    vars::MAX_KEY_AGE_DAYS,
    vars::UNUSED_KEY_DAYS,
    vars::WARN_DAYS,
    vars::MAX_EXEMPTION_DAYS,
    vars::MAX_DEACTIVATIONS_PER_RUN,
    vars::APPROVAL_TIMEOUT_SECONDS,
    vars::BATCH_SIZE,
    vars::MAX_CONCURRENCY,
    vars::MAX_ACCOUNT_CONCURRENCY,
];

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The values fed to a parameter besides [`EVERY_PARAMETER`]: its boundaries and edge cases.
fn values_for(var: &str, constraint: &Constraint) -> Vec<String> {
    let mut values = owned(&EVERY_PARAMETER);
    for allowed in constraint.allowed_values.iter().flatten() {
        values.extend([allowed.clone(), allowed.to_ascii_uppercase(), format!("{allowed}x"), format!(" {allowed} ")]);
    }
    let long = |c: char, n: usize| std::iter::repeat_n(c, n).collect::<String>();
    match var {
        vars::IAM_MAX_RPS => values.extend(owned(&[
            "0.0",
            "0.05",
            "0.09",
            "0.099",
            "0.0999999999999999999999",
            "0.1",
            "0.10",
            "0.5",
            "1.",
            "1.25",
            "05.5",
            "999.999",
            "1000",
            "1000.0",
            "1000.000",
            "1000.01",
            "1000.1",
            "1001",
            "1e2",
            "-0.5",
            "2,5",
        ])),
        vars::EXEMPT_USERS | vars::PROTECTED_USERS => {
            values.extend(owned(&[
                "alice",
                "svc-ci,/breakglass/",
                "/breakglass",
                "breakglass/",
                "/",
                "//",
                "///",
                "/a/b/",
                "/a;b/",
                "/a b/",
                "/a,b/",
                "alice;bob",
                "ali ce",
                " alice , bob ",
                "a,,b",
                ",a,",
                "a=b+c.d@e_f-g",
                "é",
                "alice\t,bob",
                "alice,/x",
                "123456789012:alice",
                "123456789012:/breakglass/",
                "bob, 123456789012:svc-ci ,/ops/",
                "12345678901:alice",
                "1234567890123:alice",
                "12345678901a:alice",
                ":alice",
                "123456789012:",
                "123456789012:123456789012:alice",
                "123456789012 :alice",
                "123456789012: alice",
                "123456789012:/breakglass",
                "123456789012:/a:b/",
                "/a:b/",
                "a:b",
            ]));
            let name64 = long('a', 64);
            values.extend([name64.clone(), format!("{name64}a"), format!("x,{name64}")]);
            values.extend([format!("/{}/", long('p', 510)), format!("/{}/", long('p', 511))]);
        }
        vars::ORG_INCLUDE | vars::ORG_EXCLUDE => {
            values.extend(owned(&[
                "111122223333",
                "111122223333,ou-ab12-cd34ef56",
                " 111122223333 ,, ou-ab12-cd34ef56 ",
                ",111122223333,",
                "111122223333;444455556666",
                "111122223333 444455556666",
                "11112222333",
                "1111222233334",
                "11112222333a",
                "ou-ab12-cd34ef56",
                "ou-0000-00000000",
                "ou-abc-cd34ef56",
                "ou-ab12-cd34ef5",
                "OU-ab12-cd34ef56",
                "ou-AB12-cd34ef56",
                "ou-ab12-cd34ef56-x",
                "ou-ab12_cd34ef56",
                "ou-ab12-",
                "ou-",
                "r-ab12",
                "111122223333\t,ou-ab12-cd34ef56",
                "１１１１２２２２３３３３",
            ]));
            values.extend([
                format!("ou-{}-{}", long('a', 32), long('9', 32)),
                format!("ou-{}-cd34ef56", long('a', 33)),
                format!("ou-ab12-{}", long('a', 33)),
            ]);
        }
        vars::MEMBER_READ_ROLE | vars::MEMBER_WRITE_ROLE => {
            values.extend(owned(&[
                "keyward-read",
                "keyward-deactivate",
                "a+=,.@_-z",
                "role/keyward-read",
                "arn:aws:iam::111122223333:role/keyward-read",
                "keyward read",
                "kéyward",
                "a\tb",
            ]));
            values.extend([long('r', 64), long('r', 65)]);
        }
        vars::SLACK_TEAM_ID => {
            values.extend(owned(&["T012ABCDEF", "T", "T1", "t012", "U012", "T01,T02", "T01 ", " T01", "T-1", "TÉ1"]))
        }
        vars::SLACK_APPROVER_IDS => values.extend(owned(&[
            "U012ABCDEF",
            "U",
            "U1",
            "U1,W2",
            "u012",
            "U012 AB",
            " U1 , W2 ",
            "U1,,W2",
            "U-1",
            ",U1",
            "U1,",
            "U1;W2",
        ])),
        vars::OIDC_ISSUER => values.extend(owned(&[
            "https://idp.example.com",
            "https://login.microsoftonline.com/tenant/v2.0",
            "https://tenant.auth0.com/",
            "https://",
            "https://a",
            "https://a b",
            "https://é.example",
            "http://idp.example.com",
            "http://127.0.0.1",
            "http://127.0.0.1:9162",
            "http://127.0.0.1:9162/a",
            "http://127.0.0.10",
            "http://localhost",
            "http://localhost/x",
            "http://localhost.evil.example",
            "https://x\t",
            "ftp://x",
            "idp.example.com",
        ])),
        vars::OIDC_CLIENT_ID => {
            values.extend(owned(&["0oa1b2c3d4", "123-abc.apps.googleusercontent.com", "a b", "é", "a,b", "!~", "a\tb"]))
        }
        vars::APPROVERS => values.extend(owned(&[
            "alice@example.com",
            "Alice@Example.com,sub:00u1",
            " alice@example.com , bob@example.org ",
            "a@b,,c@d",
            ",a@b,",
            "sub:",
            "sub:x",
            "sub:x@y",
            "sub:@",
            "sub:a b",
            "sub",
            "sub@x",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c",
            "a@b c@d",
            "a@b;c@d",
            "alice@exämple.com",
            "a@b\t,c@d",
            "!#$%&'*+-/=?^_`{|}~@x",
        ])),
        vars::SECRET_ARN => {
            let arn = |partition: &str, region: &str, account: &str, name: &str| {
                format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{name}")
            };
            let account = "123456789012";
            values.extend([
                arn("aws", "us-east-1", account, "keyward-Ab12Cd"),
                arn("aws-cn", "cn-north-1", account, "keyward"),
                arn("aws-us-gov", "us-gov-west-1", account, "team/keyward_1+=.@-"),
                arn("aws", "us-east-1", account, ""),
                arn("aws", "us-east-1", account, "a:b"),
                arn("aws", "us-east-1", account, "a b"),
                arn("aws", "us-east-1", account, "é"),
                arn("aws", "us-east-1", account, &long('k', 519)),
                arn("aws", "us-east-1", account, &long('k', 520)),
                arn("aws", "us-east-1", account, &format!("{}-Ab12Cd", long('k', 512))),
                arn("aws", "us-east-1", account, &format!("{}-Ab12Cd", long('k', 513))),
                arn("aws", "us-east-1", account, "team/keyward_1+=.@--Ab12Cd"),
                arn("aws", "us-east-1", account, "keyward-Ab12C"),
                arn("aws", "us-east-1", account, "keyward-Ab12Cde"),
                arn("aws", "us-east-1", account, "keyward-Ab12C_"),
                arn("aws", "us-east-1", account, "-Ab12Cd"),
                arn("aws", "us-east-1", "12345678901", "k"),
                arn("aws", "us-east-1", "1234567890123", "k"),
                arn("aws", "us-east-1", "12345678901a", "k"),
                arn("aws", "useast1", account, "k"),
                arn("aws", "us-east", account, "k"),
                arn("aws", "us-1", account, "k"),
                arn("aws", "usa-east-1", account, "k"),
                arn("aws", "US-EAST-1", account, "k"),
                arn("aws", "us--1", account, "k"),
                arn("aws", "us-east-1a", account, "k"),
                arn("AWS", "us-east-1", account, "k"),
                arn("aws2", "us-east-1", account, "k"),
                arn("aw", "us-east-1", account, "k"),
                arn("aws", "", account, "k"),
                format!("arn:aws:ssm:us-east-1:{account}:secret:k"),
                format!("arn:aws:secretsmanager:us-east-1:{account}:parameter:k"),
                format!("arn:aws:secretsmanager:us-east-1:{account}:secret"),
                "keyward".to_owned(),
                "arn:aws:secretsmanager".to_owned(),
            ]);
        }
        _ => {}
    }
    if WHOLE_NUMBERS.contains(&var) {
        // Whole numbers: every value up to past the largest range but one, then a stride through
        // APPROVAL_TIMEOUT_SECONDS's range with each of its boundaries, and past u32.
        values.extend((0..=10_002).map(|n: u32| n.to_string()));
        values.extend((10_002..=700_000).step_by(97).map(|n: u32| n.to_string()));
        for edge in [59, 60, 61, 99_999, 100_000, 599_999, 600_000, 603_999, 604_000, 604_799, 604_800, 604_801] {
            values.extend([edge.to_string(), format!("{edge}.0"), format!("0{edge}")]);
        }
        values.extend(owned(&["4294967295", "4294967296", "99999999999999999999"]));
    }
    values
}

/// Why the code may accept a value the template refuses, and never the other way round: the code
/// also reads variables set by hand and by the local stack, so it takes an empty value as its
/// default, trims whitespace and reads a choice in any case. None of these makes a deployed
/// function die; each is named here so that any other disagreement fails.
fn code_is_lenient(var: &str, constraint: &Constraint, value: &str) -> bool {
    let choice_in_another_case = constraint.allowed_values.iter().flatten().any(|a| a.eq_ignore_ascii_case(value));
    let tab_between_entries = matches!(
        var,
        vars::EXEMPT_USERS
            | vars::PROTECTED_USERS
            | vars::SLACK_APPROVER_IDS
            | vars::APPROVERS
            | vars::ORG_INCLUDE
            | vars::ORG_EXCLUDE
    ) && value.contains('\t');
    value.trim().is_empty() || value != value.trim() || choice_in_another_case || tab_between_entries
}

#[test]
fn every_parameter_accepts_exactly_what_the_code_accepts() {
    let template = Template::load().unwrap();
    let mut disagreements = Vec::new();
    let mut lenient = 0;
    for var in settings() {
        let parameter = parameter_of(var);
        let constraint = template.constraint(&parameter).unwrap();
        for value in values_for(var, &constraint) {
            let cloudformation = constraint.admits(&value, whole_match);
            let code = code_accepts(var, &value);
            match (cloudformation, code) {
                (true, true) | (false, false) => {}
                (false, true) if code_is_lenient(var, &constraint, &value) => lenient += 1,
                (true, false) => disagreements.push(format!(
                    "{parameter}={value:?}: the template accepts it, {var} refuses it: the function would die at init"
                )),
                (false, true) => {
                    disagreements.push(format!("{parameter}={value:?}: {var} accepts it, the template refuses it"))
                }
            }
        }
    }
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    assert!(lenient > 0, "the lenient cases are exercised");
}

#[test]
fn no_parameter_is_a_number_that_admits_decimals() {
    // CloudFormation's Number takes 1.5, which neither the code nor S3's ExpirationInDays nor Logs'
    // RetentionInDays takes; a String with a pattern says exactly which values are meant.
    let template = Template::load().unwrap();
    for name in template.parameter_names() {
        let constraint = template.constraint(&name).unwrap();
        assert!(
            !constraint.admits("1.5", whole_match) || constraint.kind == ParameterType::String,
            "{name} is a Number that admits 1.5"
        );
    }
}

#[test]
fn the_maps_tolerated_failure_percentage_is_a_json_decimal_from_0_to_100() {
    // Not a variable of the code: the ASL's ToleratedFailurePercentage, substituted unquoted, where
    // Step Functions takes 0 to 100 and the local stack's engine (moto) only a decimal.
    let template = Template::load().unwrap();
    let constraint = template.constraint("ToleratedFailurePercentage").unwrap();
    let state_machine_accepts = |value: &str| {
        // JSON's grammar, without whitespace around (the value sits between `:` and `,`) or an exponent.
        value.contains('.')
            && value.trim() == value
            && !value.contains(['e', 'E'])
            && serde_json::from_str::<f64>(value).is_ok_and(|v| (0.0..=100.0).contains(&v))
    };
    for value in [
        "0.0", "0.5", "5.0", "10.0", "99.99", "100.0", "100.00", "100.5", "100.01", "101.0", "05.0", "5", "5.", ".5",
        "-1.0", "", "10.0 ", "1000.0",
    ] {
        assert_eq!(
            constraint.admits(value, whole_match),
            state_machine_accepts(value),
            "ToleratedFailurePercentage={value:?}"
        );
    }
}

/// A function's `Timeout` in template.yaml.
fn timeout_of(template: &Template, binary: &str) -> u32 {
    let function = template.function_by_binary(binary).unwrap();
    let timeout = function.property("Timeout").or_else(|| template.global_function_property("Timeout"));
    timeout
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .unwrap_or_else(|| panic!("{binary}: no Timeout"))
}

#[test]
fn the_time_budgets_use_the_templates_timeouts_and_its_descriptions_state_them() {
    let template = Template::load().unwrap();
    assert_eq!(budget::CHECK_USER_TIMEOUT_SECONDS, timeout_of(&template, "check-user"), "check-user's Timeout");
    assert_eq!(budget::DEACTIVATE_TIMEOUT_SECONDS, timeout_of(&template, "deactivate"), "deactivate's Timeout");
    assert_eq!(budget::APPROVAL_FUNCTION_TIMEOUT_SECONDS, timeout_of(&template, "approval"), "approval's Timeout");
    assert_eq!(budget::NOTIFY_TIMEOUT_SECONDS, timeout_of(&template, "notify"), "notify's Timeout");
    let description = |name: &str| template.parameter(name).unwrap()["Description"].as_str().unwrap().to_owned();
    let per_user = format!("× {} IAM calls", budget::IAM_CALLS_PER_USER);
    let per_key = format!("× {} IAM calls", budget::IAM_CALLS_PER_DEACTIVATION);
    let check_user = format!("check-user's {} s", budget::CHECK_USER_TIMEOUT_SECONDS);
    let deactivate = format!("deactivate's {} s", budget::DEACTIVATE_TIMEOUT_SECONDS);
    for (parameter, says) in
        [("BatchSize", [&per_user, &check_user]), ("MaxDeactivationsPerRun", [&per_key, &deactivate])]
    {
        for part in says {
            assert!(description(parameter).contains(part.as_str()), "{parameter}'s Description should say {part:?}");
        }
    }
}

#[test]
fn around_the_template_defaults_the_budget_caps_fall_where_the_timeouts_put_them() {
    let template = Template::load().unwrap();
    let default = |name: &str| template.parameter_default(name).unwrap().parse::<f64>().unwrap();
    let (batch, concurrency, rps, cap) =
        (default("BatchSize"), default("MaxConcurrency"), default("IamMaxRps"), default("MaxDeactivationsPerRun"));
    let check_user = f64::from(timeout_of(&template, "check-user"));
    let deactivate = f64::from(timeout_of(&template, "deactivate"));
    let (per_user, per_key) = (f64::from(budget::IAM_CALLS_PER_USER), f64::from(budget::IAM_CALLS_PER_DEACTIVATION));
    let wait = budget::READ_BACK_WAIT_SECONDS;
    // With the other settings at their defaults, the largest value that fits each timeout.
    let largest = [
        (vars::BATCH_SIZE, (check_user * rps / concurrency / per_user).floor(), "check-user"),
        (vars::MAX_CONCURRENCY, (check_user * rps / (batch * per_user)).floor(), "check-user"),
        (vars::MAX_DEACTIVATIONS_PER_RUN, ((deactivate - wait) * rps / per_key).floor(), "deactivate"),
    ];
    let with = |var: &str, value: String| Config::from_lookup(|name| (name == var).then(|| value.clone()));
    for (var, fits, function) in largest {
        assert!(with(var, format!("{fits}")).is_ok(), "{var}={fits} fits {function}'s timeout");
        let err = with(var, format!("{}", fits + 1.0)).unwrap_err();
        assert!(
            matches!(err, ConfigError::OverTimeBudget { function: f, .. } if f == function),
            "{var}={} must be over {function}'s budget: {err}",
            fits + 1.0
        );
    }
    // The lowest rate that fits both, to a hundredth.
    let lowest = (batch * per_user * concurrency / check_user).max(cap * per_key / (deactivate - wait));
    let above = (lowest * 100.0).ceil() / 100.0;
    assert!(with(vars::IAM_MAX_RPS, format!("{above}")).is_ok(), "IAM_MAX_RPS={above}");
    let below = above - 0.01;
    assert!(
        matches!(with(vars::IAM_MAX_RPS, format!("{below:.2}")), Err(ConfigError::OverTimeBudget { .. })),
        "IAM_MAX_RPS={below:.2}"
    );
}

#[test]
fn every_value_the_template_allows_for_a_budget_setting_can_be_met() {
    // The template's range of each of the four settings is the code's, and with the other three
    // at their roomiest every value in it fits (every_parameter_accepts_exactly_what_the_code_accepts
    // proves it value by value); here the extremes together, at the defaults of the rest.
    for (var, value) in [
        (vars::BATCH_SIZE, "500"),
        (vars::MAX_CONCURRENCY, "1000"),
        (vars::MAX_DEACTIVATIONS_PER_RUN, "10000"),
        (vars::IAM_MAX_RPS, "0.1"),
    ] {
        assert!(code_accepts(var, value), "{var}={value} cannot be met even with the other settings at their roomiest");
    }
}

#[test]
fn the_map_and_the_functions_share_their_settings() {
    let template = Template::load().unwrap();
    let subs = template.definition_substitutions().unwrap();
    for (substitution, var) in [
        ("MaxConcurrency", vars::MAX_CONCURRENCY),
        ("ApprovalTimeoutSeconds", vars::APPROVAL_TIMEOUT_SECONDS),
        ("KeywardScope", vars::SCOPE),
        ("MaxAccountConcurrency", vars::MAX_ACCOUNT_CONCURRENCY),
    ] {
        assert_eq!(intrinsic(&subs[substitution]), Some(Intrinsic::Ref(parameter_of(var))), "{substitution} and {var}");
    }
    let tolerated = template.parameter_default("ToleratedFailurePercentage").unwrap();
    assert!(tolerated.contains('.'), "ToleratedFailurePercentage must default to a decimal (moto), got {tolerated}");
}

/// IAM actions that create an identity or a credential, grant or change a permission, or let a role
/// be used or trusted elsewhere: no keyward role may ever make one, whatever else it is allowed.
const NEVER_ALLOWED: [&str; 35] = [
    "iam:CreateAccessKey",
    "iam:DeleteAccessKey",
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:CreateGroup",
    "iam:CreateServiceLinkedRole",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:DeleteLoginProfile",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutGroupPolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachGroupPolicy",
    "iam:DetachUserPolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteRolePolicy",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:AddUserToGroup",
    "iam:TagUser",
    "iam:TagRole",
    "iam:UntagUser",
    "iam:UntagRole",
    "iam:PassRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateVirtualMFADevice",
    "iam:DeleteUser",
];

#[test]
fn every_role_denies_every_identity_credential_and_policy_write_and_nothing_it_needs() {
    let template = Template::load().unwrap();
    for function in template.functions() {
        let id = &function.logical_id;
        let denied: Vec<String> = template
            .policy_statements(id)
            .into_iter()
            .filter(|s| s["Effect"].as_str() == Some("Deny") && strings(s.get("Resource")) == ["*"])
            .flat_map(|s| strings(s.get("Action")))
            .collect();
        let is_denied = |action: &str| denied.iter().any(|pattern| action_matches(pattern, action));
        for action in NEVER_ALLOWED {
            assert!(is_denied(action), "{id} does not explicitly deny {action} on *");
        }
        // The deny would override the allow: what the function needs must stay outside it.
        for action in allowed_actions(&template, id) {
            assert!(!is_denied(&action), "{id} denies {action}, which it is allowed and needs");
        }
    }
}

#[test]
fn the_public_function_has_reserved_concurrency_and_the_token_stores_actions() {
    let template = Template::load().unwrap();
    let approval = template.function_by_binary("approval").unwrap();
    let reserved = approval.property("ReservedConcurrentExecutions").and_then(Value::as_u64);
    // Small: the Function URL is public. At least 2: a click's follow-up runs beside the next click.
    assert!(reserved.is_some_and(|n| (2..=10).contains(&n)), "ReservedConcurrentExecutions: {reserved:?}");
    let event_invoke = approval.property("EventInvokeConfig").unwrap();
    assert_eq!(event_invoke["MaximumEventAgeInSeconds"].as_u64(), Some(300), "throttled follow-ups wait 5 min");
    let allowed = allowed_actions(&template, &approval.logical_id);
    for action in ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"] {
        assert!(allowed.iter().any(|a| a == action), "approval may not {action} (keyward_aws::tokens)");
    }
    assert!(budget::approval_request_seconds() < timeout_of(&template, "approval"));
}

#[test]
fn a_dropped_slack_follow_up_is_recorded_in_an_encrypted_queue_not_lost() {
    let template = Template::load().unwrap();
    let approval = template.function_by_binary("approval").unwrap();
    let on_failure = &approval.property("EventInvokeConfig").unwrap()["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"), "{on_failure:?}");
    assert_eq!(
        intrinsic(&on_failure["Destination"]),
        Some(Intrinsic::GetAtt { resource: "ApprovalFollowUpFailures".into(), attribute: "Arn".into() }),
        "a follow-up Lambda drops goes to ApprovalFollowUpFailures"
    );
    assert_eq!(template.resource_type("ApprovalFollowUpFailures"), Some("AWS::SQS::Queue"));
    let queue = &template.resource("ApprovalFollowUpFailures").unwrap()["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true), "the records hold Slack's requests: encrypted");
    assert_eq!(queue["MessageRetentionPeriod"].as_u64(), Some(14 * 24 * 3600), "kept 14 days, SQS's longest");
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

fn run_objects(objects: &[&str]) -> BTreeSet<String> {
    objects.iter().map(|o| format!("${{ReportBucket.Arn}}/runs/*/{o}")).collect()
}

#[test]
fn each_function_may_write_exactly_the_run_objects_it_writes_and_approval_none() {
    let template = Template::load().unwrap();
    let writes: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        // An account's objects are under runs/<execution>/accounts/<id>/, which runs/*/ covers.
        ("list-users", vec!["listing.json", "batches.json", "discovery.json", "accounts.json", "failure.json"]),
        ("check-user", vec!["results/*"]),
        ("validate-keys", vec!["report.json"]),
        ("notify", vec!["report.json"]),
        ("deactivate", vec!["report.json", "deactivation/*"]),
        ("approval", vec![]),
    ]);
    let reads: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        // Whether an account is one of the run's.
        ("list-users", vec!["accounts.json"]),
        ("check-user", vec![]),
        (
            "validate-keys",
            vec!["listing.json", "batches.json", "results/*", "report.json", "discovery.json", "failure.json"],
        ),
        // "Deactivation failed part-way" reads the run's journal.
        ("notify", vec!["report.json", "deactivation/*"]),
        ("deactivate", vec!["report.json", "deactivation/*"]),
        ("approval", vec!["report.json"]),
    ]);
    for function in template.functions() {
        let id = &function.logical_id;
        let binary = function.binary.as_deref().unwrap();
        assert_eq!(resources_allowed(&template, id, "s3:PutObject"), run_objects(&writes[binary]), "{binary} writes");
        assert_eq!(resources_allowed(&template, id, "s3:GetObject"), run_objects(&reads[binary]), "{binary} reads");
        for action in allowed_actions(&template, id).into_iter().filter(|a| a.starts_with("s3:")) {
            assert!(["s3:GetObject", "s3:PutObject", "s3:ListBucket"].contains(&action.as_str()), "{binary}: {action}");
        }
    }
}

#[test]
fn only_approval_may_write_the_decisions_table_and_only_deactivate_and_notify_read_it() {
    let template = Template::load().unwrap();
    assert_eq!(template.resource_type("DecisionsTable"), Some("AWS::DynamoDB::Table"));
    let table = &template.resource("DecisionsTable").unwrap()["Properties"];
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(table["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    assert_eq!(table["KeySchema"][0]["AttributeName"].as_str(), Some("execution_name"));
    let decisions = BTreeSet::from(["DecisionsTable.Arn".to_owned()]);
    for function in template.functions() {
        let id = &function.logical_id;
        let binary = function.binary.as_deref().unwrap();
        let dynamodb_actions: BTreeSet<String> = allowed_actions(&template, id)
            .into_iter()
            .filter(|a| a.starts_with("dynamodb:"))
            .filter(|a| resources_allowed(&template, id, a).contains("DecisionsTable.Arn"))
            .collect();
        let expected: &[&str] = match binary {
            "approval" => &["dynamodb:PutItem"],
            "deactivate" | "notify" => &["dynamodb:GetItem"],
            _ => &[],
        };
        assert_eq!(dynamodb_actions, expected.iter().map(|a| (*a).to_owned()).collect(), "{binary}");
        for action in &dynamodb_actions {
            assert_eq!(resources_allowed(&template, id, action).intersection(&decisions).count(), 1, "{binary}");
        }
    }
}

#[test]
fn only_approval_may_invoke_a_function_and_only_itself() {
    let template = Template::load().unwrap();
    let approval = template.function_by_binary("approval").unwrap();
    for function in template.functions() {
        let id = &function.logical_id;
        let invoking: Vec<&Value> = template
            .policy_statements(id)
            .into_iter()
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .filter(|s| strings(s.get("Action")).iter().any(|a| a.starts_with("lambda:")))
            .collect();
        if function.binary.as_deref() != Some("approval") {
            assert!(invoking.is_empty(), "{id} may call Lambda: {invoking:?}");
            continue;
        }
        assert_eq!(invoking.len(), 1, "{id}: {invoking:?}");
        assert_eq!(strings(invoking[0].get("Action")), ["lambda:InvokeFunction"]);
        let resource = invoking[0].get("Resource");
        assert!(
            resource.and_then(intrinsic) == Some(Intrinsic::GetAtt { resource: id.clone(), attribute: "Arn".into() }),
            "{id} may invoke another function than itself: {resource:?}"
        );
    }
    let retries = &approval.property("EventInvokeConfig").unwrap()["MaximumRetryAttempts"];
    assert_eq!(retries.as_u64(), Some(0), "a Slack follow-up is never retried");
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

/// The Organizations and STS grants of `logical_id`'s role: (its condition, "" when it has none;
/// the action; the resource as written, a `!Sub`'s string).
fn organization_grants(template: &Template, logical_id: &str) -> BTreeSet<(String, String, String)> {
    let mut grants = BTreeSet::new();
    for statement in template.raw_policy_statements(logical_id) {
        let (condition, branches) = conditional(statement).unwrap_or_default();
        let branches = if condition.is_empty() { vec![statement] } else { branches };
        for branch in branches {
            let resource = match branch.get("Resource") {
                Some(Value::Tagged(tagged)) => scalar(&tagged.value).unwrap_or_default(),
                Some(other) => scalar(other).unwrap_or_default(),
                None => String::new(),
            };
            for action in strings(branch.get("Action")) {
                if action.starts_with("sts:") || action.starts_with("organizations:") {
                    assert_eq!(branch["Effect"].as_str(), Some("Allow"), "{logical_id}: {action}");
                    grants.insert((condition.clone(), action, resource.clone()));
                }
            }
        }
    }
    grants
}

#[test]
fn only_an_organization_deployment_may_discover_accounts_or_assume_a_member_role() {
    // In account scope no function calls STS or Organizations (org-contracts, "every account is
    // reached through the member roles"); in organization scope exactly what the adapters call.
    let template = Template::load().unwrap();
    assert_eq!(
        serde_norway::to_string(&template.root()["Conditions"]["IsOrganization"]).unwrap().trim(),
        "!Equals\n- !Ref KeywardScope\n- organization",
        "IsOrganization must be: KeywardScope is organization"
    );
    let read_role = "arn:${AWS::Partition}:iam::*:role/${MemberReadRole}";
    let write_role = "arn:${AWS::Partition}:iam::*:role/${MemberWriteRole}";
    let grant = |action: &str, resource: &str| ("IsOrganization".to_owned(), action.to_owned(), resource.to_owned());
    let expected: BTreeMap<&str, BTreeSet<(String, String, String)>> = BTreeMap::from([
        (
            "list-users",
            BTreeSet::from([
                // keyward_aws::organizations: the listing actions take "*" only.
                grant("organizations:ListAccounts", "*"),
                grant("organizations:ListRoots", "*"),
                grant("organizations:ListChildren", "*"),
                grant("organizations:ListParents", "*"),
                grant("sts:AssumeRole", read_role),
            ]),
        ),
        ("check-user", BTreeSet::from([grant("sts:AssumeRole", read_role)])),
        (
            "deactivate",
            BTreeSet::from([grant("sts:AssumeRole", write_role), grant("sts:SetSourceIdentity", write_role)]),
        ),
    ]);
    for function in template.functions() {
        let binary = function.binary.as_deref().unwrap();
        let grants = organization_grants(&template, &function.logical_id);
        assert_eq!(grants, expected.get(binary).cloned().unwrap_or_default(), "{binary}");
    }
    let machine = template.state_machine().unwrap();
    assert!(organization_grants(&template, &machine).is_empty(), "the state machine calls neither");
}
