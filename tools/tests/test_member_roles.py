"""The member roles `up` deploys into each member account (keyward_local.member_roles, keyward_local.org):
member/keyward-member.yaml's roles resolved for that account with the stack's parameters (keyward's
function roles as principals, the organisation, MEMBER_READ_ROLE/MEMBER_WRITE_ROLE), a change to the
template reaching them, and what the local stack cannot deploy stopping `up` by name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from keyward_local.console import LocalStackError
from keyward_local.member_roles import load_member_template, member_roles
from keyward_local.org import stack_set_parameters
from keyward_local.roles import iam_role_name
from keyward_local.settings import Organization

MEMBER = "210987654321"
ORG_ID = "o-abcdefghij"
ROLE_ARNS = {
    iam_role_name(name): f"arn:aws:iam::123456789012:role/{iam_role_name(name)}"
    for name in ("list-users", "check-user", "validate-keys", "notify", "deactivate", "approval")
}
ORGANIZATION: Organization = {"members": 3, "read_role": "sec-read", "write_role": "sec-write"}


def parameters() -> dict[str, str]:
    return stack_set_parameters(ORGANIZATION, ORG_ID, ROLE_ARNS)


def resolved(document: dict[str, object] | None = None) -> dict[str, Any]:
    roles = member_roles(document if document is not None else load_member_template(), MEMBER, parameters())
    return {role.logical_id: role for role in roles}


def test_the_parameters_name_the_readers_the_writer_the_organisation_and_the_role_names() -> None:
    assert parameters() == {
        "OrganizationId": ORG_ID,
        "ReadPrincipalArns": ROLE_ARNS[iam_role_name("list-users")] + "," + ROLE_ARNS[iam_role_name("check-user")],
        "WritePrincipalArn": ROLE_ARNS[iam_role_name("deactivate")],
        "ReadRoleName": "sec-read",
        "WriteRoleName": "sec-write",
    }


def test_the_read_role_trusts_list_users_and_check_user_from_inside_the_organisation() -> None:
    read = resolved()["ReadRole"]
    assert read.name == "sec-read"
    (statement,) = read.trust["Statement"]
    assert statement["Principal"] == {
        "AWS": [ROLE_ARNS[iam_role_name("list-users")], ROLE_ARNS[iam_role_name("check-user")]]
    }
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_the_write_role_trusts_deactivate_only_with_a_source_identity() -> None:
    write = resolved()["WriteRole"]
    assert write.name == "sec-write"
    (statement,) = write.trust["Statement"]
    assert statement["Principal"] == {"AWS": ROLE_ARNS[iam_role_name("deactivate")]}
    assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert statement["Condition"]["Null"] == {"sts:SourceIdentity": "false"}


def test_every_intrinsic_function_is_resolved_for_the_member_account() -> None:
    roles = resolved()
    text = json.dumps([[r.trust, r.policies] for r in roles.values()])
    assert "Ref" not in text and "Fn::" not in text and "${" not in text
    assert f"arn:aws:iam::{MEMBER}:user/*" in text
    assert "123456789012:user" not in text


def test_the_policies_are_the_template_s_statements_in_its_order() -> None:
    template = load_member_template()
    for logical_id, role in resolved().items():
        declared = template["Resources"][logical_id]["Properties"]["Policies"]  # type: ignore[index]
        assert list(role.policies) == [p["PolicyName"] for p in declared]
        for policy in declared:
            statements = role.policies[policy["PolicyName"]]["Statement"]
            assert [s.get("Sid") for s in statements] == [s.get("Sid") for s in policy["PolicyDocument"]["Statement"]]
            assert [s["Action"] for s in statements] == [s["Action"] for s in policy["PolicyDocument"]["Statement"]]
    assert resolved()["WriteRole"].max_session_duration == 3600


def test_a_statement_added_to_the_member_template_reaches_the_role() -> None:
    template = copy.deepcopy(load_member_template())
    policy = template["Resources"]["ReadRole"]["Properties"]["Policies"][0]["PolicyDocument"]  # type: ignore[index]
    policy["Statement"].append(
        {
            "Sid": "ReadGroups",
            "Effect": "Allow",
            "Action": "iam:ListGroups",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:group/*"},
        }
    )
    statements = resolved(template)["ReadRole"].policies["keyward-read"]["Statement"]
    assert statements[-1] == {
        "Sid": "ReadGroups",
        "Effect": "Allow",
        "Action": "iam:ListGroups",
        "Resource": f"arn:aws:iam::{MEMBER}:group/*",
    }


def test_a_role_property_the_local_stack_does_not_create_stops_up_by_name() -> None:
    template = copy.deepcopy(load_member_template())
    template["Resources"]["WriteRole"]["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]  # type: ignore[index]
    with pytest.raises(LocalStackError, match=r"WriteRole sets \['ManagedPolicyArns'\]"):
        resolved(template)


def test_another_resource_type_stops_up_by_name() -> None:
    template = copy.deepcopy(load_member_template())
    template["Resources"]["Topic"] = {"Type": "AWS::SNS::Topic", "Properties": {}}  # type: ignore[index]
    with pytest.raises(LocalStackError, match="Topic is a AWS::SNS::Topic"):
        resolved(template)


def test_a_condition_in_a_role_policy_stops_up_as_moto_would_not_evaluate_it() -> None:
    template = copy.deepcopy(load_member_template())
    statements = template["Resources"]["ReadRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]  # type: ignore[index]
    statements[0]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    with pytest.raises(
        LocalStackError, match=r"ReadRole's statement ReadUsersAndCredentialReport uses \['Condition'\]"
    ):
        resolved(template)


def test_a_value_the_template_s_allowed_pattern_refuses_stops_up_as_cloudformation_would() -> None:
    with pytest.raises(LocalStackError, match="OrganizationId='org-1' does not match its AllowedPattern"):
        member_roles(load_member_template(), MEMBER, {**parameters(), "OrganizationId": "org-1"})


def test_a_parameter_the_template_no_longer_declares_stops_up() -> None:
    with pytest.raises(LocalStackError, match="declares no parameter ReaderArns"):
        member_roles(load_member_template(), MEMBER, {**parameters(), "ReaderArns": "x"})
