"""The emulated organisation (KEYWARD_SCOPE=organization; docs/local-stack.md, "The emulated
organisation"): what `up` creates, and how tools reach it afterwards.

`up` creates the organisation (all features) with the local account as its management account, its
member accounts through CreateAccount (asynchronous in AWS: its status is polled, bounded), in each
member `OrganizationAccountAccessRole` as Organizations makes it (AdministratorAccess's statement,
trusting the management account), and then, through that role as a StackSet instance is deployed,
the roles of member/keyward-member.yaml (keyward_local.member_roles). The management account gets the
same roles directly, as the README's plain stack for it (a service-managed StackSet never deploys
there): Organizations lists it too, and every account is swept through its member roles.

The tests, the demo and the bench reach a member account as an administrator does, through
OrganizationAccountAccessRole (`member_session`, and `member_seeder` to seed users and aged keys
there), and read the member accounts from target/local-stack/env (`member_accounts`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from mypy_boto3_iam import IAMClient

from keyward_local.client import Seeder, load_env
from keyward_local.console import LocalStackError, wait_until
from keyward_local.member_roles import MemberRole, load_member_template, member_parameters, member_roles
from keyward_local.paths import ACCOUNT_ID, ORG_ACCOUNTS_VAR, REGION
from keyward_local.roles import iam_role_name
from keyward_local.settings import CREDENTIALS, Organization, StackConfig

#: The role Organizations creates in every account it creates (CreateAccount's RoleName default).
ACCESS_ROLE = "OrganizationAccountAccessRole"
#: What Organizations attaches to it: the managed policy AdministratorAccess, whose document this is.
#: moto loads no AWS managed policy unless told to (MOTO_IAM_LOAD_MANAGED_POLICIES, a second of start-up
#: per account), so the role gets the same statement inline, under the same name.
#: The functions whose roles the member roles trust: the sweep's readers, and the deactivation.
READ_FUNCTIONS = ("list-users", "check-user")
WRITE_FUNCTION = "deactivate"
#: Bound on one CreateAccount reaching SUCCEEDED (minutes in AWS; moto answers at once).
CREATE_ACCOUNT_SECONDS = 60

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, proxies={})


def member_name(index: int) -> str:
    """The name of the `index`th member account (from 1), as CreateAccount is given it."""
    return f"member-{index}"


def root_session(endpoint: str) -> boto3.session.Session:
    """The management account's root user (the stack's test key, keyward_local.emulator.iam_auth),
    its clients bound to the emulator at `endpoint`."""
    return _bound_session(endpoint, CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


def member_session(account_id: str, endpoint: str | None = None) -> boto3.session.Session:
    """A session in the member account `account_id` as OrganizationAccountAccessRole, assumed by the
    management account's root user as an administrator of the organisation does; its clients go to
    the emulator at `endpoint` (AWS_ENDPOINT_URL of target/local-stack/env when not given)."""
    endpoint = endpoint or load_env(export=False)["AWS_ENDPOINT_URL"]
    sts = root_session(endpoint).client("sts", config=_CLIENT_CONFIG)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="keyward-local-stack"
    )["Credentials"]
    return _bound_session(
        endpoint, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )


def member_seeder(account_id: str, prefix: str, endpoint: str | None = None) -> Seeder:
    """A Seeder of users `<prefix>-<who>` in the member account `account_id`, through
    OrganizationAccountAccessRole (`member_session`); its keys are aged in that account."""
    endpoint = endpoint or load_env(export=False)["AWS_ENDPOINT_URL"]
    iam = member_session(account_id, endpoint).client("iam", config=_CLIENT_CONFIG)
    return Seeder(iam, endpoint, prefix, account_id=account_id)


def member_accounts(env: Mapping[str, str] | None = None) -> list[str]:
    """The member accounts' ids (KEYWARD_ORG_ACCOUNTS of target/local-stack/env, read when `env` is not
    given), in the order `up` created them; refused when the stack is not up with KEYWARD_SCOPE=organization."""
    env = env if env is not None else load_env(export=False)
    accounts = env.get(ORG_ACCOUNTS_VAR, "")
    if not accounts:
        raise LocalStackError(
            f"target/local-stack/env has no {ORG_ACCOUNTS_VAR}: is the stack up with KEYWARD_SCOPE=organization?"
        )
    return accounts.split(",")


def _bound_session(endpoint: str, key_id: str, secret: str, token: str | None = None) -> boto3.session.Session:
    botocore_session = botocore.session.Session()
    # Every client of this session goes to the emulator, whatever the caller's environment says.
    botocore_session.get_component("config_store").set_config_variable("endpoint_url", endpoint)
    return boto3.session.Session(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
        botocore_session=botocore_session,
    )


def stack_set_parameters(
    organization: Organization, organization_id: str, role_arns: Mapping[str, str]
) -> dict[str, str]:
    """The member template's parameters for this stack: the organisation, the roles (`role_arns`, by
    IAM role name) of list-users and check-user as the readers and of deactivate as the writer, and the
    member roles' names MEMBER_READ_ROLE and MEMBER_WRITE_ROLE."""
    return member_parameters(
        organization_id=organization_id,
        read_principals=[role_arns[iam_role_name(function)] for function in READ_FUNCTIONS],
        write_principal=role_arns[iam_role_name(WRITE_FUNCTION)],
        read_role=organization["read_role"],
        write_role=organization["write_role"],
    )


def create_organization(config: StackConfig, role_arns: Mapping[str, str]) -> tuple[str, list[str]]:
    """Creates the organisation `config` asks for, its members and their roles, trusting the function
    roles `role_arns` (by role name); returns the organisation's id and the members' ids."""
    organization = config["organization"]
    if organization is None:
        raise LocalStackError("KEYWARD_SCOPE=account: there is no organisation to create")
    endpoint = f"http://127.0.0.1:{config['moto_port']}"
    orgs = root_session(endpoint).client("organizations", config=_CLIENT_CONFIG)
    created = orgs.create_organization(FeatureSet="ALL")["Organization"]
    if created["MasterAccountId"] != ACCOUNT_ID:
        raise LocalStackError(
            f"the organisation's management account is {created['MasterAccountId']}, not {ACCOUNT_ID}"
        )
    parameters = stack_set_parameters(organization, created["Id"], role_arns)
    template = load_member_template()
    management = root_session(endpoint).client("iam", config=_CLIENT_CONFIG)
    for role in member_roles(template, ACCOUNT_ID, parameters):
        _create_role(management, role)
    members = []
    # One after another: the emulator is one Python process, and members set up side by side took
    # no less time (measured: 10 members in 4-6 s either way). `up` runs this step beside its others.
    for index in range(1, organization["members"] + 1):
        account = _create_member(orgs, index)
        _set_up_member(endpoint, account, member_roles(template, account, parameters))
        members.append(account)
    return created["Id"], members


def _create_member(orgs: Any, index: int) -> str:
    """CreateAccount, then its status polled until it SUCCEEDED (bounded); returns the account's id.
    (`orgs` is untyped: the checkout's type stubs do not cover Organizations.)"""
    name = member_name(index)
    request = orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["Id"]

    def done() -> str | None:
        status = orgs.describe_create_account_status(CreateAccountRequestId=request)["CreateAccountStatus"]
        if status["State"] == "FAILED":
            raise LocalStackError(f"CreateAccount {name} failed: {status.get('FailureReason', 'no reason given')}")
        return status.get("AccountId") if status["State"] == "SUCCEEDED" else None

    return wait_until(f"CreateAccount {name}", done, CREATE_ACCOUNT_SECONDS, poll=0.2)


def _set_up_member(endpoint: str, account_id: str, roles: list[MemberRole]) -> None:
    """The member roles, through the OrganizationAccountAccessRole Organizations left (the emulator
    gives it AdministratorAccess inline as CreateAccount creates it: emulator/org_strict.py)."""
    iam = member_session(account_id, endpoint).client("iam", config=_CLIENT_CONFIG)
    for role in roles:
        _create_role(iam, role)


def _create_role(iam: IAMClient, role: MemberRole) -> None:
    """One member role, with exactly the template's trust and inline policies."""
    extra: dict[str, object] = {}
    if role.description is not None:
        extra["Description"] = role.description
    if role.max_session_duration is not None:
        extra["MaxSessionDuration"] = role.max_session_duration
    iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust), **extra)  # type: ignore[arg-type]
    for name, document in role.policies.items():
        iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document))
