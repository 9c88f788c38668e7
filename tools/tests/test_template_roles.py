"""The roles the local stack creates are template.yaml's, resolved as a deployment resolves them
(keyward_local.roles, keyward_local.cfn), and each function gets its own role's profile."""

from __future__ import annotations

import pytest
from keyward_local.cfn import Resolver
from keyward_local.console import LocalStackError
from keyward_local.roles import check_profiles, iam_role_name, role_policies
from keyward_local.template import Template

USERS = "arn:aws:iam::123456789012:user/*"
RUNS = "arn:aws:s3:::keyward-reports-123456789012/runs/*"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/keyward-approvals"
DECISIONS = "arn:aws:dynamodb:us-east-1:123456789012:table/keyward-decisions"
TASK_FUNCTIONS = ("list-users", "check-user", "validate-keys", "notify", "deactivate")


def statements(role: str) -> list[dict[str, object]]:
    documents = role_policies(Template.load(), {})[role]
    return [statement for document in documents for statement in document["Statement"]]  # type: ignore[attr-defined]


def allowed(role: str, action: str) -> list[object]:
    """The resources `role` is allowed `action` on."""
    found = []
    for statement in statements(role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and action in actions:
            found.append(statement["Resource"])
    return found


def test_every_function_and_the_state_machine_has_its_own_role() -> None:
    roles = role_policies(Template.load(), {})
    assert set(roles) == {iam_role_name(f) for f in Template.load().functions} | {"keyward-state-machine"}


def test_the_roles_resolve_to_the_local_stacks_resources() -> None:
    assert allowed(iam_role_name("deactivate"), "iam:UpdateAccessKey") == [USERS]
    assert allowed(iam_role_name("list-users"), "s3:PutObject") == [
        [
            f"{RUNS}/listing.json",
            f"{RUNS}/batches.json",
            f"{RUNS}/discovery.json",
            f"{RUNS}/accounts.json",
            f"{RUNS}/failure.json",
        ]
    ]
    assert allowed(iam_role_name("approval"), "s3:PutObject") == []
    assert allowed(iam_role_name("notify"), "sns:Publish") == ["arn:aws:sns:us-east-1:123456789012:keyward"]
    assert allowed(iam_role_name("notify"), "dynamodb:PutItem") == [TABLE]
    # Each table by its own name: the decisions table is not the approvals table.
    assert allowed(iam_role_name("approval"), "dynamodb:PutItem") == [TABLE, DECISIONS]
    assert allowed(iam_role_name("notify"), "dynamodb:GetItem") == [DECISIONS]
    assert allowed("keyward-state-machine", "lambda:InvokeFunction") == [
        [
            f"arn:aws:lambda:us-east-1:123456789012:function:{f}"
            for f in ("list-users", "check-user", "validate-keys", "notify", "deactivate")
        ]
    ]
    assert allowed(iam_role_name("approval"), "iam:UpdateAccessKey") == []
    # From the AWS::IAM::Policy attached to the role SAM generates for the function.
    assert allowed(iam_role_name("approval"), "lambda:InvokeFunction") == [
        "arn:aws:lambda:us-east-1:123456789012:function:approval"
    ]


def test_every_function_role_denies_deleting_and_creating_keys() -> None:
    for function in Template.load().functions:
        denies = [s for s in statements(iam_role_name(function)) if s["Effect"] == "Deny"]
        actions = {a for s in denies for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        assert {"iam:DeleteAccessKey", "iam:CreateAccessKey"} <= actions, function


def test_cargo_lambda_gives_each_function_its_roles_profile() -> None:
    check_profiles(Template.load())


def resolver(**conditions: object) -> Resolver:
    return Resolver(
        {"Name": "x", "Empty": ""}, {"Bucket": ("b", {"Arn": "arn:aws:s3:::b"})}, conditions, {"AWS::Region": "r"}
    )


def test_the_resolver_resolves_what_the_template_uses() -> None:
    r = resolver(
        HasName={"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]}, HasEmpty={"Fn::Equals": [{"Ref": "Empty"}, "x"]}
    )
    assert r.resolve({"Fn::Sub": "${Bucket.Arn}/runs/${AWS::Region}/${Name}"}) == "arn:aws:s3:::b/runs/r/x"
    assert r.resolve({"Fn::Sub": ["${A}-${Name}", {"A": {"Ref": "Bucket"}}]}) == "b-x"
    assert r.resolve(
        [{"Fn::If": ["HasEmpty", "kept", {"Ref": "AWS::NoValue"}]}, {"Fn::If": ["HasName", "yes", "no"]}]
    ) == ["yes"]


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::ImportValue": "x"},
        {"Ref": "Nothing"},
        {"Fn::GetAtt": ["Bucket", "DomainName"]},
        {"Fn::If": ["Missing", 1, 2]},
    ],
)
def test_the_resolver_refuses_what_it_cannot_mirror(value: object) -> None:
    with pytest.raises(LocalStackError):
        resolver().resolve(value)


def test_a_statement_moto_would_evaluate_wrongly_stops_up() -> None:
    template = Template.load()
    deactivate = template.resources[template.function_resources["deactivate"]]
    statement = deactivate["Properties"]["Policies"][0]["Statement"][0]  # type: ignore[index]
    statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    with pytest.raises(LocalStackError, match="Condition"):
        role_policies(template, {})


def test_a_function_role_is_named_as_sam_names_it_never_as_a_member_role() -> None:
    # The management account holds the member roles too (KEYWARD_SCOPE=organization): keyward-deactivate
    # is the write role's default name there, so it cannot also be deactivate's own role.
    assert iam_role_name("list-users") == "keyward-ListUsersFunctionRole"
    assert iam_role_name("deactivate") == "keyward-DeactivateFunctionRole"
    names = {iam_role_name(f) for f in Template.load().functions}
    assert not names & {"keyward-read", "keyward-deactivate"}
