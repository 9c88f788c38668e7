"""The emulated organisation (docs/local-stack.md, "The emulated organisation"): `scripts/local-stack up`
with KEYWARD_SCOPE=organization creates an organisation around the local account with three member
accounts, OrganizationAccountAccessRole in each as Organizations makes it, and the roles of
member/keyward-member.yaml in each, resolved from the template with keyward's function roles as
their principals; target/local-stack/env names them; a user seeded through
OrganizationAccountAccessRole lives in its member account only. One stack for this module and
test_org_run.py (helpers.ORG_SETTINGS)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import ORG_SETTINGS, LocalStack
from keyward_local import org
from keyward_local.member_roles import load_member_template, member_parameters, member_roles
from keyward_local.paths import ACCOUNT_ID
from keyward_local.roles import iam_role_name

SETTINGS = ORG_SETTINGS


def document(value: Any) -> Any:
    """A policy document as boto3 returns it (decoded), or as moto may leave it (a JSON string)."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def members(stack: LocalStack) -> list[str]:
    return org.member_accounts(stack.env)


def test_the_env_file_names_the_scope_the_members_and_the_member_roles(stack: LocalStack, members: list[str]) -> None:
    assert stack.env["KEYWARD_SCOPE"] == "organization"
    assert len(members) == 3 and len(set(members)) == 3
    assert all(len(m) == 12 and m.isdigit() and m != ACCOUNT_ID for m in members)
    assert stack.env["MEMBER_READ_ROLE"] == "keyward-read"
    assert stack.env["MEMBER_WRITE_ROLE"] == "keyward-deactivate"


def test_organizations_lists_the_management_account_and_three_active_members(
    stack: LocalStack, members: list[str]
) -> None:
    orgs = org.root_session(stack.endpoint).client("organizations")
    organization = orgs.describe_organization()["Organization"]
    assert organization["FeatureSet"] == "ALL"
    assert organization["MasterAccountId"] == ACCOUNT_ID
    accounts = [a for page in orgs.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    assert sorted(a["Id"] for a in accounts) == sorted([ACCOUNT_ID, *members])
    assert {a["Id"]: a["State"] for a in accounts} == {a: "ACTIVE" for a in [ACCOUNT_ID, *members]}
    names = {a["Id"]: a["Name"] for a in accounts}
    assert [names[m] for m in members] == ["member-1", "member-2", "member-3"]


def test_each_member_has_the_access_role_and_the_member_template_s_roles_as_resolved(
    stack: LocalStack, members: list[str]
) -> None:
    orgs = org.root_session(stack.endpoint).client("organizations")
    organization_id = orgs.describe_organization()["Organization"]["Id"]
    arn = {name: stack.iam.get_role(RoleName=iam_role_name(name))["Role"]["Arn"] for name in org.READ_FUNCTIONS}
    parameters = member_parameters(
        organization_id=organization_id,
        read_principals=[arn["list-users"], arn["check-user"]],
        write_principal=stack.iam.get_role(RoleName=iam_role_name("deactivate"))["Role"]["Arn"],
        read_role="keyward-read",
        write_role="keyward-deactivate",
    )
    for member in members:
        iam = org.member_session(member, stack.endpoint).client("iam")
        access = iam.get_role(RoleName="OrganizationAccountAccessRole")["Role"]
        trust = document(access["AssumeRolePolicyDocument"])
        assert [s["Principal"] for s in trust["Statement"]] == [{"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}]
        administrator = document(
            iam.get_role_policy(RoleName="OrganizationAccountAccessRole", PolicyName="AdministratorAccess")[
                "PolicyDocument"
            ]
        )
        assert administrator["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        expected = member_roles(load_member_template(), member, parameters)
        assert [r.name for r in expected] == ["keyward-read", "keyward-deactivate"]
        for role in expected:
            found = iam.get_role(RoleName=role.name)["Role"]
            assert found["Arn"] == f"arn:aws:iam::{member}:role/{role.name}"
            assert document(found["AssumeRolePolicyDocument"]) == role.trust
            assert found.get("MaxSessionDuration") == role.max_session_duration
            names = iam.list_role_policies(RoleName=role.name)["PolicyNames"]
            assert sorted(names) == sorted(role.policies)
            for name, policy in role.policies.items():
                got = iam.get_role_policy(RoleName=role.name, PolicyName=name)["PolicyDocument"]
                assert document(got) == policy
        # The template's principals are the local function roles, its resources this member's users.
        read = next(r for r in expected if r.name == "keyward-read")
        assert read.trust["Statement"][0]["Principal"] == {"AWS": [arn["list-users"], arn["check-user"]]}  # type: ignore[index]
        assert f"arn:aws:iam::{member}:user/*" in json.dumps(read.policies)


@pytest.fixture
def seeded(members: list[str], stack: LocalStack) -> Iterator[str]:
    """A user created in member 1 through OrganizationAccountAccessRole, deleted after."""
    iam = org.member_session(members[0], stack.endpoint).client("iam")
    name = f"seeded-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    yield name
    iam.delete_user(UserName=name)


def test_a_user_seeded_in_member_1_is_in_member_1_only(stack: LocalStack, members: list[str], seeded: str) -> None:
    def users(account: str | None) -> set[str]:
        iam = stack.iam if account is None else org.member_session(account, stack.endpoint).client("iam")
        return {u["UserName"] for page in iam.get_paginator("list_users").paginate() for u in page["Users"]}

    assert seeded in users(members[0])
    assert seeded not in users(None)
    assert seeded not in users(members[1])
