"""The function roles `up` builds from template.yaml under each scope, against the emulator (its strict
STS and Organizations): under KEYWARD_SCOPE=organization list-users may discover the accounts and,
with check-user, assume every account's read role, deactivate its write role with the approver as
source identity, and the management account has both member roles too (the README's plain stack for
it), so every account Organizations lists is swept through its member roles; under account scope no
function role may call STS or Organizations (template.yaml's IsOrganization)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_process import MANAGEMENT, EmulatorProcess
from keyward_local.org import create_organization
from keyward_local.paths import CONFIG_VARS, ORG_VARS
from keyward_local.roles import iam_role_name, role_policies
from keyward_local.settings import wanted_config
from keyward_local.template import Template

FUNCTIONS = ("list-users", "check-user", "validate-keys", "notify", "deactivate", "approval")
#: `up` assumes the function roles as the account's root (keyward_local.roles).
ROOT_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CONFIG_VARS, *ORG_VARS, "MOTO_PORT", "LAMBDA_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    running = EmulatorProcess()
    yield running
    running.stop()


@pytest.fixture
def em(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.reset()
    return emulator


def org_and_sts_actions(role: str) -> list[str]:
    """The STS and Organizations actions `role`'s resolved policies name."""
    found = []
    for document in role_policies(Template.load(), {})[role]:
        for statement in document["Statement"]:  # type: ignore[attr-defined]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found += [a for a in actions if a.startswith(("sts:", "organizations:"))]
    return found


def test_under_account_scope_no_function_role_may_call_sts_or_organizations() -> None:
    for binary in FUNCTIONS:
        assert org_and_sts_actions(iam_role_name(binary)) == [], binary


def test_under_organization_scope_exactly_the_three_sweeping_functions_may(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    found = {binary: sorted(org_and_sts_actions(iam_role_name(binary))) for binary in FUNCTIONS}
    assert found == {
        "list-users": [
            "organizations:ListAccounts",
            "organizations:ListChildren",
            "organizations:ListParents",
            "organizations:ListRoots",
            "sts:AssumeRole",
        ],
        "check-user": ["sts:AssumeRole"],
        "validate-keys": [],
        "notify": [],
        "deactivate": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "approval": [],
    }


def sessions(em: EmulatorProcess) -> dict[str, dict[str, str]]:
    """Each function's role as `up` creates it from the template, assumed: its credentials by binary."""
    iam, sts = em.client("iam"), em.client("sts")
    credentials = {}
    for binary in FUNCTIONS:
        role, documents = iam_role_name(binary), role_policies(Template.load(), {})[iam_role_name(binary)]
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
        for index, document in enumerate(documents):
            iam.put_role_policy(RoleName=role, PolicyName=f"template-{index}", PolicyDocument=json.dumps(document))
        credentials[binary] = sts.assume_role(RoleArn=arn, RoleSessionName=role)["Credentials"]
    return credentials


def assume(em: EmulatorProcess, credentials: dict[str, str], role_arn: str, **extra: str) -> dict[str, Any]:
    answer: dict[str, Any] = em.client("sts", credentials).assume_role(
        RoleArn=role_arn, RoleSessionName="keyward-test", **extra
    )
    return answer


def test_under_organization_scope_every_account_the_organisation_lists_is_reachable_through_its_member_roles(
    em: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the function roles and the organisation `up` creates under KEYWARD_SCOPE=organization
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", "1")
    monkeypatch.setenv("MOTO_PORT", em.endpoint.rsplit(":", 1)[1])
    credentials = sessions(em)
    arns = {iam_role_name(b): em.client("iam").get_role(RoleName=iam_role_name(b))["Role"]["Arn"] for b in FUNCTIONS}
    _, members = create_organization(wanted_config(), arns)
    # WHEN list-users discovers the accounts
    listed = em.client("organizations", credentials["list-users"]).list_accounts()["Accounts"]
    # THEN the management account is one of them, and each is reached through its member roles
    assert sorted(a["Id"] for a in listed) == sorted([MANAGEMENT, *members])
    for account in [MANAGEMENT, *members]:
        read, write = f"arn:aws:iam::{account}:role/keyward-read", f"arn:aws:iam::{account}:role/keyward-deactivate"
        for reader in ("list-users", "check-user"):
            assert assume(em, credentials[reader], read)["AssumedRoleUser"]["Arn"].startswith(
                f"arn:aws:sts::{account}:assumed-role/keyward-read/"
            )
        approved = assume(em, credentials["deactivate"], write, SourceIdentity="alice@example.com")
        assert approved["SourceIdentity"] == "alice@example.com"
        # and no other function reaches them
        with pytest.raises(ClientError):
            assume(em, credentials["validate-keys"], read)
