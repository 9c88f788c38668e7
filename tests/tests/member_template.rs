//! `member/keyward-member.yaml` against `template.yaml`: the two roles keyward assumes in member
//! accounts. Each trusts exactly keyward's own function roles (the tooling stack's outputs), only
//! from inside the organisation, and the write role only with the approver as source identity.
//! Each allows exactly the IAM actions its functions are allowed at home, on the same resources,
//! so the member roles cannot drift from what the functions do; and each denies every destructive
//! IAM verb and none of what it needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use keyward_tests::policy::{action_matches, allowed_actions, resources_allowed, strings};
use keyward_tests::template::{Intrinsic, Template, intrinsic, scalar};
use serde_norway::Value;

/// The member template's path, relative to the workspace root.
const MEMBER: &str = "member/keyward-member.yaml";
/// The read role's logical id: what list-users and check-user do in a member account.
const READ_ROLE: &str = "ReadRole";
/// The write role's logical id: what deactivate does in a member account.
const WRITE_ROLE: &str = "WriteRole";
/// Where the home template scopes its per-user IAM actions, and the member roles must too.
const USERS_OF_THIS_ACCOUNT: &str = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*";

fn member() -> Template {
    Template::load_path(MEMBER).unwrap()
}

fn home() -> Template {
    Template::load().unwrap()
}

/// `Properties.<name>` of a member role.
fn role_property<'a>(template: &'a Template, role: &str, name: &str) -> &'a Value {
    template
        .resource(role)
        .and_then(|r| r.get("Properties"))
        .and_then(|p| p.get(name))
        .unwrap_or_else(|| panic!("{MEMBER}: {role} has no Properties.{name}"))
}

/// The statements of a member role's trust policy (who may assume it).
fn trust_statements<'a>(template: &'a Template, role: &str) -> &'a [Value] {
    role_property(template, role, "AssumeRolePolicyDocument")
        .get("Statement")
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("{MEMBER}: {role}'s AssumeRolePolicyDocument has no Statement list"))
}

/// The IAM actions a resource's role is allowed, as a set.
fn iam_allowed(template: &Template, logical_id: &str) -> BTreeSet<String> {
    allowed_actions(template, logical_id).into_iter().filter(|a| a.starts_with("iam:")).collect()
}

/// The action patterns a resource's role denies on every resource (`Resource: "*"`).
fn denied_everywhere(template: &Template, logical_id: &str) -> Vec<String> {
    template
        .policy_statements(logical_id)
        .into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny") && strings(s.get("Resource")) == ["*"])
        .flat_map(|s| strings(s.get("Action")))
        .collect()
}

/// The home function (in `template.yaml`) whose binary is `binary`: its logical id.
fn home_function(template: &Template, binary: &str) -> String {
    template.function_by_binary(binary).unwrap_or_else(|| panic!("template.yaml has no function {binary}")).logical_id
}

/// A condition value as written: `!Ref X` for a reference, else the scalar (`"false"`).
fn as_written(value: &Value) -> String {
    match intrinsic(value) {
        Some(Intrinsic::Ref(name)) => format!("!Ref {name}"),
        Some(other) => format!("{other:?}"),
        None => scalar(value).unwrap_or_else(|| format!("{value:?}")),
    }
}

/// Checks the one trust statement of `role`: an Allow for exactly the role ARNs of `parameter`
/// (nothing else: no account, no `*`, no service), for exactly `actions`, under exactly the
/// condition operators of `conditions` (operator → key → value, [`as_written`]).
fn assert_trusts_only(
    template: &Template,
    role: &str,
    parameter: &str,
    actions: &[&str],
    conditions: &BTreeMap<&str, BTreeMap<&str, String>>,
) {
    let statements = trust_statements(template, role);
    assert_eq!(statements.len(), 1, "{role}: the trust policy must be one statement, so nothing else can assume it");
    let statement = &statements[0];
    assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{role}: the trust statement must be an Allow");

    let principal = statement.get("Principal").and_then(Value::as_mapping).unwrap_or_else(|| {
        panic!("{role}: the Principal must be {{AWS: !Ref {parameter}}}, not a string such as \"*\"")
    });
    let kinds: Vec<&str> = principal.keys().filter_map(Value::as_str).collect();
    assert_eq!(kinds, ["AWS"], "{role}: only AWS principals (keyward's roles) may assume it, no service or federation");
    assert_eq!(
        intrinsic(&principal["AWS"]),
        Some(Intrinsic::Ref(parameter.to_owned())),
        "{role}: the principals must be exactly the role ARNs of parameter {parameter} (no account root, no \"*\")"
    );

    let allowed: BTreeSet<String> = strings(statement.get("Action")).into_iter().collect();
    let expected: BTreeSet<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    assert_eq!(allowed, expected, "{role}: the trust statement allows exactly these STS actions");

    let condition = statement.get("Condition").and_then(Value::as_mapping).unwrap_or_else(|| {
        panic!("{role}: the trust statement has no Condition: aws:PrincipalOrgID must hold it to the organisation")
    });
    let written: BTreeMap<&str, BTreeMap<&str, String>> = condition
        .iter()
        .map(|(operator, keys)| {
            let keys = keys.as_mapping().unwrap_or_else(|| panic!("{role}: Condition.{operator:?} is not a mapping"));
            let keys = keys.iter().map(|(key, value)| (key.as_str().unwrap(), as_written(value))).collect();
            (operator.as_str().unwrap(), keys)
        })
        .collect();
    assert_eq!(
        &written, conditions,
        "{role}: the trust statement's Condition, exactly (aws:PrincipalOrgID = OrganizationId: only callers from \
         inside the organisation; on the write role also Null sts:SourceIdentity = false: only with an approver)"
    );
}

/// `aws:PrincipalOrgID` equal to the `OrganizationId` parameter: the caller's account must be in
/// the organisation.
fn inside_the_organisation() -> (&'static str, BTreeMap<&'static str, String>) {
    ("StringEquals", BTreeMap::from([("aws:PrincipalOrgID", "!Ref OrganizationId".to_owned())]))
}

#[test]
fn the_read_role_trusts_only_list_users_and_check_user_from_inside_the_organisation() {
    let template = member();
    // sts:AssumeRole only: a sweep's reads carry no approver, and the read role must not let one
    // be set (sts:SetSourceIdentity) where nothing is approved.
    let actions = trust_statements(&template, READ_ROLE).iter().flat_map(|s| strings(s.get("Action")));
    assert!(
        !actions.into_iter().any(|a| action_matches(&a, "sts:SetSourceIdentity")),
        "{READ_ROLE} must not allow sts:SetSourceIdentity: a source identity names an approver, and reads have none"
    );
    assert_trusts_only(
        &template,
        READ_ROLE,
        "ReadPrincipalArns",
        &["sts:AssumeRole"],
        &BTreeMap::from([inside_the_organisation()]),
    );
}

#[test]
fn the_write_role_trusts_only_deactivate_and_only_with_the_approver_as_source_identity() {
    let template = member();
    // sts:SetSourceIdentity lets deactivate name the approver; Null "false" refuses a session
    // that names none.
    assert_trusts_only(
        &template,
        WRITE_ROLE,
        "WritePrincipalArn",
        &["sts:AssumeRole", "sts:SetSourceIdentity"],
        &BTreeMap::from([
            inside_the_organisation(),
            ("Null", BTreeMap::from([("sts:SourceIdentity", "false".to_owned())])),
        ]),
    );
}

#[test]
fn the_principal_parameters_admit_only_role_arns_and_the_organisation_only_an_organisation_id() {
    let template = member();
    let pattern = |name: &str| {
        let parameter = template.parameter(name).unwrap_or_else(|| panic!("{MEMBER} has no parameter {name}"));
        let pattern = parameter.get("AllowedPattern").and_then(Value::as_str);
        let pattern = pattern.unwrap_or_else(|| panic!("{name} has no AllowedPattern: any principal would be trusted"));
        regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .unwrap_or_else(|e| panic!("{name}'s AllowedPattern {pattern:?} does not compile: {e}"))
    };
    let kind = |name: &str| template.parameter(name).and_then(|p| p.get("Type")).and_then(Value::as_str);
    // On a CommaDelimitedList, CloudFormation matches the pattern against each value.
    assert_eq!(kind("ReadPrincipalArns"), Some("CommaDelimitedList"), "list-users' and check-user's roles");
    assert_eq!(kind("WritePrincipalArn"), Some("String"), "deactivate's role, one ARN");

    let roles = [
        "arn:aws:iam::123456789012:role/keyward-ListUsersFunctionRole-AbC123dEf456",
        "arn:aws-us-gov:iam::123456789012:role/keyward-DeactivateFunctionRole-AbC123",
        "arn:aws-cn:iam::123456789012:role/security/keyward-check-user",
    ];
    let not_roles = [
        ("arn:aws:iam::123456789012:root", "an account root trusts every principal of the account"),
        ("123456789012", "an account id trusts every principal of the account"),
        ("*", "a wildcard trusts everyone"),
        ("arn:aws:iam::123456789012:user/alice", "a user is not one of keyward's functions"),
        ("arn:aws:sts::123456789012:assumed-role/keyward-x/fn", "a session ARN is not a role ARN"),
        ("arn:aws:iam::12345678901:role/x", "an account id has 12 digits"),
        ("", "empty"),
    ];
    for name in ["ReadPrincipalArns", "WritePrincipalArn"] {
        let pattern = pattern(name);
        for role in roles {
            assert!(pattern.is_match(role), "{name} must admit the role ARN {role}");
        }
        for (value, why) in not_roles {
            assert!(!pattern.is_match(value), "{name} must refuse {value:?}: {why}");
        }
    }
    let organisation = pattern("OrganizationId");
    assert!(organisation.is_match("o-a1b2c3d4e5"), "OrganizationId must admit an organisation id");
    for value in ["r-a1b2", "ou-a1b2-c3d4e5f6", "o-short", "O-A1B2C3D4E5", ""] {
        assert!(
            !organisation.is_match(value),
            "OrganizationId must refuse {value:?} (Organizations: ^o-[a-z0-9]{{10,32}}$)"
        );
    }
}

/// Checks that the member `role` allows exactly the IAM actions the home functions `binaries`
/// are allowed, each on the same resources, per-user actions on the account's users only.
fn assert_same_iam_as_at_home(role: &str, binaries: &[&str]) {
    let (member, home) = (member(), home());
    let functions: Vec<String> = binaries.iter().map(|b| home_function(&home, b)).collect();
    let at_home: BTreeSet<String> = functions.iter().flat_map(|f| iam_allowed(&home, f)).collect();
    assert!(!at_home.is_empty(), "{binaries:?} are allowed no IAM action in template.yaml");

    let everything = allowed_actions(&member, role);
    let beyond_iam: Vec<&String> = everything.iter().filter(|a| !a.starts_with("iam:")).collect();
    assert!(beyond_iam.is_empty(), "{role} allows actions outside IAM, which no sweep needs: {beyond_iam:?}");
    assert_eq!(
        iam_allowed(&member, role),
        at_home,
        "{role} must allow exactly the IAM actions {binaries:?} are allowed in template.yaml: change both together"
    );
    for action in &at_home {
        let member_resources = resources_allowed(&member, role, action);
        let home_resources: BTreeSet<String> =
            functions.iter().flat_map(|f| resources_allowed(&home, f, action)).collect();
        assert_eq!(member_resources, home_resources, "{role}: {action} on the resources template.yaml allows it on");
        if home_resources.iter().any(|r| r.contains(":user/")) {
            assert_eq!(
                member_resources,
                BTreeSet::from([USERS_OF_THIS_ACCOUNT.to_owned()]),
                "{role}: {action} only on this account's users"
            );
        }
    }
}

#[test]
fn the_read_role_allows_exactly_what_list_users_and_check_user_are_allowed_at_home() {
    assert_same_iam_as_at_home(READ_ROLE, &["list-users", "check-user"]);
}

#[test]
fn the_write_role_allows_exactly_what_deactivate_is_allowed_at_home() {
    assert_same_iam_as_at_home(WRITE_ROLE, &["deactivate"]);
}

#[test]
fn no_member_role_denies_an_action_it_is_allowed() {
    let template = member();
    for role in [READ_ROLE, WRITE_ROLE] {
        let denied = denied_everywhere(&template, role);
        // An explicit deny wins over any allow: an allowed action under a deny would never work.
        for action in allowed_actions(&template, role) {
            let by: Vec<&String> = denied.iter().filter(|pattern| action_matches(pattern, &action)).collect();
            assert!(by.is_empty(), "{role} is allowed {action} but also denies it ({by:?}), so it can never do it");
        }
    }
}

/// The destructive IAM families no member role may ever be able to use, whatever is attached to
/// it later: a family is denied when a deny pattern matches it read literally (`iam:Delete*` is
/// covered by `iam:Delete*` or `iam:*`, not by `iam:DeleteUser`).
const DESTRUCTIVE: [&str; 11] = [
    "iam:DeleteAccessKey",
    "iam:CreateAccessKey",
    "iam:Delete*",
    "iam:Create*",
    "iam:Attach*",
    "iam:Put*",
    "iam:PassRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateLoginProfile",
    "iam:UpdateUser",
    "iam:Tag*",
];

#[test]
fn both_member_roles_deny_every_destructive_family_and_the_read_role_denies_updating_keys() {
    let template = member();
    let read_role_also = ["iam:UpdateAccessKey"];
    for role in [READ_ROLE, WRITE_ROLE] {
        let denied = denied_everywhere(&template, role);
        let extra: &[&str] = if role == READ_ROLE { &read_role_also } else { &[] };
        for family in DESTRUCTIVE.iter().chain(extra) {
            assert!(
                denied.iter().any(|pattern| action_matches(pattern, family)),
                "{role} does not explicitly deny {family} on \"*\": a policy attached later could grant it"
            );
        }
    }
}

/// Every IAM action that changes something, by its verb: the IAM actions of the Service
/// Authorization Reference (as cfn-lint 1.x knows them) are these plus the Get, List, Generate and
/// Simulate reads. `iam:ChangePassword` and `iam:PassRole` are the only actions of their verbs.
const CHANGING: [&str; 23] = [
    "iam:Accept*",
    "iam:Add*",
    "iam:Associate*",
    "iam:Attach*",
    "iam:ChangePassword",
    "iam:Create*",
    "iam:Deactivate*",
    "iam:Delete*",
    "iam:Detach*",
    "iam:Disable*",
    "iam:Enable*",
    "iam:PassRole",
    "iam:Put*",
    "iam:Reject*",
    "iam:Remove*",
    "iam:Reset*",
    "iam:Resync*",
    "iam:Send*",
    "iam:Set*",
    "iam:Tag*",
    "iam:Untag*",
    "iam:Update*",
    "iam:Upload*",
];

/// Every IAM `Update…` action: the write role needs one (`iam:UpdateAccessKey`), so it denies the
/// others by name.
const UPDATES: [&str; 17] = [
    "iam:UpdateAccessKey",
    "iam:UpdateAccountEmailAddress",
    "iam:UpdateAccountName",
    "iam:UpdateAccountPasswordPolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateCloudFrontPublicKey",
    "iam:UpdateGroup",
    "iam:UpdateLoginProfile",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateSAMLProvider",
    "iam:UpdateSSHPublicKey",
    "iam:UpdateServerCertificate",
    "iam:UpdateServiceSpecificCredential",
    "iam:UpdateSigningCertificate",
    "iam:UpdateUser",
];

#[test]
fn every_iam_verb_that_changes_something_is_denied_in_both_roles_but_the_one_update_deactivate_needs() {
    let template = member();
    for role in [READ_ROLE, WRITE_ROLE] {
        let denied = denied_everywhere(&template, role);
        let is_denied = |action: &str| denied.iter().any(|pattern| action_matches(pattern, action));
        for family in CHANGING {
            if role == WRITE_ROLE && family == "iam:Update*" {
                for update in UPDATES.iter().filter(|u| **u != "iam:UpdateAccessKey") {
                    assert!(is_denied(update), "{role} does not deny {update}: only iam:UpdateAccessKey may stay open");
                }
            } else {
                assert!(is_denied(family), "{role} does not deny {family}: it changes IAM");
            }
        }
    }
}

#[test]
fn the_role_names_default_to_keyward_read_and_keyward_deactivate_and_sessions_last_an_hour() {
    let template = member();
    for (role, parameter, default) in
        [(READ_ROLE, "ReadRoleName", "keyward-read"), (WRITE_ROLE, "WriteRoleName", "keyward-deactivate")]
    {
        assert_eq!(
            intrinsic(role_property(&template, role, "RoleName")),
            Some(Intrinsic::Ref(parameter.to_owned())),
            "{role}'s RoleName comes from parameter {parameter}"
        );
        assert_eq!(
            template.parameter_default(parameter).as_deref(),
            Some(default),
            "{parameter} defaults to {default}, the name keyward assumes unless told otherwise"
        );
        // A Lambda function's session assuming a role is role chaining: one hour at most anyway.
        assert_eq!(
            role_property(&template, role, "MaxSessionDuration").as_u64(),
            Some(3600),
            "{role}: MaxSessionDuration 3600 s"
        );
    }
}

#[test]
fn the_tooling_stack_outputs_the_function_role_arns_the_member_template_trusts() {
    let template = home();
    let outputs = template.root().get("Outputs").expect("template.yaml has no Outputs");
    for (output, binary, member_parameter) in [
        ("ListUsersRoleArn", "list-users", "ReadPrincipalArns"),
        ("CheckUserRoleArn", "check-user", "ReadPrincipalArns"),
        ("DeactivateRoleArn", "deactivate", "WritePrincipalArn"),
    ] {
        let function = template.function_by_binary(binary).unwrap();
        // SAM names the role it generates for a function without a Role of its own `<Function>Role`.
        assert!(function.property("Role").is_none(), "{}: a Role of its own changes the output", function.logical_id);
        let value = outputs
            .get(output)
            .and_then(|o| o.get("Value"))
            .unwrap_or_else(|| panic!("template.yaml has no output {output}: {MEMBER}'s {member_parameter} needs it"));
        assert_eq!(
            intrinsic(value),
            Some(Intrinsic::GetAtt { resource: format!("{}Role", function.logical_id), attribute: "Arn".to_owned() }),
            "output {output} is the ARN of {binary}'s role"
        );
        let description = outputs[output].get("Description").and_then(Value::as_str).unwrap_or_default();
        assert!(description.contains(member_parameter), "output {output}'s Description names {member_parameter}");
    }
}
