"""STS AssumeRole as strict as AWS (keyward_local.emulator.sts_strict), on the emulator as the local
stack runs it: a role that does not exist, a trust policy that does not name the caller, a condition
not met or not evaluated, a missing identity policy, a source identity not allowed or changed are all
refused as AWS refuses them; the allowed case works; and credentials for a member account act on that
account's IAM under the member role's own policies, with the approver recorded on each request."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from botocore.exceptions import ClientError
from emulator_process import MANAGEMENT, EmulatorProcess
from keyward_local.emulator.sts_strict import AssumeRoleDenied, StsValidationError

MEMBER_TEMPLATE = Path(__file__).resolve().parents[2] / "member" / "keyward-member.yaml"
ALLOW_ALL_ASSUME = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": "*"}],
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    running = EmulatorProcess()
    yield running
    running.stop()


@pytest.fixture
def em(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.reset()
    return emulator


def trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    principal: object, condition: dict[str, Any] | None = None, actions: object = "sts:AssumeRole"
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": actions}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def role(em: EmulatorProcess, name: str, trust_policy: str, iam: Any = None, policy: object = None) -> str:
    """A role named `name` (in the account `iam` acts on: the management account by default)."""
    iam = iam or em.client("iam")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def user(em: EmulatorProcess, name: str, policy: object = None) -> dict[str, str]:
    """A user of the management account with an access key (and an inline policy): its credentials."""
    iam = em.client("iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def assume(
    em: EmulatorProcess, role_arn: str, credentials: dict[str, str] | None = None, **extra: str
) -> dict[str, Any]:
    # Unvalidated: what boto3 would refuse before sending reaches the emulator, which must refuse it.
    sts = em.client("sts", credentials, validate=False)
    answer: dict[str, Any] = sts.assume_role(RoleArn=role_arn, RoleSessionName="run", **extra)
    return answer


def refusal(
    em: EmulatorProcess, role_arn: str, credentials: dict[str, str] | None = None, **extra: str
) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the AssumeRole that must be refused."""
    with pytest.raises(ClientError) as raised:
        assume(em, role_arn, credentials, **extra)
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def denied_message(caller: str, role_arn: str) -> tuple[str, int, str]:
    return "AccessDenied", 403, f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


ROOT = f"arn:aws:iam::{MANAGEMENT}:root"


# --------------------------------------------------------------------------------------------------
# The role and its trust policy


def test_a_role_that_does_not_exist_is_access_denied_as_aws_answers(em: EmulatorProcess) -> None:
    missing = f"arn:aws:iam::{MANAGEMENT}:role/nobody"
    assert refusal(em, missing) == denied_message(ROOT, missing)
    other_account = "arn:aws:iam::210987654321:role/nobody"
    assert refusal(em, other_account) == denied_message(ROOT, other_account)
    assert "no such role" in em.log_text()


def test_a_refusal_is_in_sts_own_error_shape_that_every_sdk_reads() -> None:
    # ErrorResponse > Error > (Type, Code, Message), then RequestId (AWS STS API Reference, "Common
    # Errors"). moto's `ErrorResponse > Errors > Error` is read by boto3 but not by the AWS SDK for Rust,
    # whose error then has no code: keyward could not tell a missing role from another failure.
    for error, code in [
        (AssumeRoleDenied("arn:aws:iam::1:root", "arn:aws:iam::2:role/r"), "AccessDenied"),
        (StsValidationError("bad"), "ValidationError"),
    ]:
        root = ElementTree.fromstring(error.get_body())
        ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
        assert root.tag == f"{ns}ErrorResponse"
        assert [child.tag for child in root] == [f"{ns}Error", f"{ns}RequestId"]
        fields = {child.tag.removeprefix(ns): child.text for child in root.find(f"{ns}Error") or []}
        assert fields["Type"] == "Sender" and fields["Code"] == code and fields["Message"], fields


def test_the_trust_must_name_the_caller_and_a_statement_naming_someone_else_does_not_deny(em: EmulatorProcess) -> None:
    alice = user(em, "alice", ALLOW_ALL_ASSUME)
    alice_arn = f"arn:aws:iam::{MANAGEMENT}:user/alice"
    someone_else = role(em, "someone-else", trust(allow({"AWS": f"arn:aws:iam::{MANAGEMENT}:user/bob"})))
    assert refusal(em, someone_else, alice) == denied_message(alice_arn, someone_else)
    # moto denies the whole document when any statement's principal does not match.
    both = role(
        em,
        "both",
        trust(allow({"AWS": f"arn:aws:iam::{MANAGEMENT}:user/bob"}), allow({"AWS": alice_arn})),
    )
    assert assume(em, both, alice)["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{MANAGEMENT}:assumed-role/both/run"


def test_a_role_arn_in_a_trust_matches_that_roles_sessions_only(em: EmulatorProcess) -> None:
    first = role(em, "first", trust(allow({"AWS": ROOT})), policy=ALLOW_ALL_ASSUME)
    session = assume(em, first)["Credentials"]
    trusts_first = role(em, "trusts-first", trust(allow({"AWS": first})))
    trusts_other = role(em, "trusts-other", trust(allow({"AWS": f"arn:aws:iam::{MANAGEMENT}:role/other"})))
    assert assume(em, trusts_first, session)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/trusts-first/run")
    caller = f"arn:aws:sts::{MANAGEMENT}:assumed-role/first/run"
    assert refusal(em, trusts_other, session) == denied_message(caller, trusts_other)


def test_a_service_principal_never_matches_and_an_explicit_deny_wins(em: EmulatorProcess) -> None:
    service_only = role(em, "service-only", trust(allow({"Service": "lambda.amazonaws.com"})))
    assert refusal(em, service_only) == denied_message(ROOT, service_only)
    denied = role(
        em,
        "denied",
        trust(allow({"AWS": ROOT}), {"Effect": "Deny", "Principal": {"AWS": MANAGEMENT}, "Action": "sts:*"}),
    )
    assert refusal(em, denied) == denied_message(ROOT, denied)
    root_trusted = role(em, "root-trusted", trust(allow({"AWS": MANAGEMENT})))
    assert assume(em, root_trusted)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/root-trusted/run")


# --------------------------------------------------------------------------------------------------
# The caller's identity policies


def test_a_trust_naming_the_account_needs_the_callers_identity_policy_and_one_naming_the_caller_does_not(
    em: EmulatorProcess,
) -> None:
    carol = user(em, "carol")
    carol_arn = f"arn:aws:iam::{MANAGEMENT}:user/carol"
    by_account = role(em, "by-account", trust(allow({"AWS": ROOT})))
    assert refusal(em, by_account, carol) == denied_message(carol_arn, by_account)
    by_name = role(em, "by-name", trust(allow({"AWS": carol_arn})))
    assert assume(em, by_name, carol)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/by-name/run")
    dave = user(
        em,
        "dave",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": by_account}],
        },
    )
    assert assume(em, by_account, dave)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/by-account/run")
    erin = user(
        em,
        "erin",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
                {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": by_name},
            ],
        },
    )
    iam = em.client("iam")
    iam.update_assume_role_policy(
        RoleName="by-name", PolicyDocument=trust(allow({"AWS": f"arn:aws:iam::{MANAGEMENT}:user/erin"}))
    )
    assert refusal(em, by_name, erin) == denied_message(f"arn:aws:iam::{MANAGEMENT}:user/erin", by_name)


# --------------------------------------------------------------------------------------------------
# Conditions


def test_principal_org_id_is_the_callers_organisation_and_absent_outside_one(em: EmulatorProcess) -> None:
    in_org = role(em, "in-org", trust(allow({"AWS": ROOT}, {"StringEquals": {"aws:PrincipalOrgID": "o-aaaaaaaaaa"}})))
    assert refusal(em, in_org) == denied_message(ROOT, in_org)  # no organisation yet: the key is absent
    org = em.client("organizations").create_organization(FeatureSet="ALL")["Organization"]["Id"]
    assert refusal(em, in_org) == denied_message(ROOT, in_org)  # another organisation
    ours = role(em, "ours", trust(allow({"AWS": ROOT}, {"StringEquals": {"aws:PrincipalOrgID": org}})))
    assert assume(em, ours)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/ours/run")


def test_principal_arn_and_account_conditions(em: EmulatorProcess) -> None:
    deployer = user(em, "deployer", ALLOW_ALL_ASSUME)
    other = user(em, "other", ALLOW_ALL_ASSUME)
    condition = {
        "StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{MANAGEMENT}:user/dep*"},
        "StringEquals": {"aws:PrincipalAccount": MANAGEMENT},
    }
    deployers = role(em, "deployers", trust(allow({"AWS": ROOT}, condition)))
    assert assume(em, deployers, deployer)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/deployers/run")
    assert refusal(em, deployers, other) == denied_message(f"arn:aws:iam::{MANAGEMENT}:user/other", deployers)
    elsewhere = role(
        em, "elsewhere", trust(allow({"AWS": ROOT}, {"StringEquals": {"aws:PrincipalAccount": "210987654321"}}))
    )
    assert refusal(em, elsewhere, deployer)[0] == "AccessDenied"


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "condition operator IpAddress"),
        ({"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-aaaaaaaaaa"}}, "condition operator StringEqualsIfExists"),
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, "condition key aws:SourceVpc"),
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a/*"}}, "condition operator ForAnyValue:StringLike"),
    ],
)
def test_a_condition_the_emulator_does_not_evaluate_refuses_and_is_named_in_the_log(
    em: EmulatorProcess, condition: dict[str, Any], named: str
) -> None:
    unknown = role(em, "unknown", trust(allow({"AWS": ROOT}, condition)))
    assert refusal(em, unknown) == denied_message(ROOT, unknown)
    assert named in em.log_text()


# --------------------------------------------------------------------------------------------------
# Source identity


def write_role_trust() -> str:
    """The member template's write-role trust: a source identity is allowed, and required."""
    return trust(
        allow(
            {"AWS": ROOT},
            {"Null": {"sts:SourceIdentity": "false"}},
            ["sts:AssumeRole", "sts:SetSourceIdentity"],
        )
    )


def test_a_source_identity_needs_set_source_identity_and_the_null_condition_requires_one(em: EmulatorProcess) -> None:
    writer = role(em, "writer", write_role_trust())
    assert refusal(em, writer) == denied_message(ROOT, writer)
    answer = assume(em, writer, SourceIdentity="alice@example.com")
    assert answer["SourceIdentity"] == "alice@example.com"
    plain = role(em, "plain", trust(allow({"AWS": ROOT})))
    assert refusal(em, plain, SourceIdentity="alice@example.com") == denied_message(ROOT, plain)
    assert "SourceIdentity" not in assume(em, plain)


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        ("a", "Member must have length greater than or equal to 2"),
        ("x" * 65, "Member must have length less than or equal to 64"),
        ("has space", "Member must satisfy regular expression pattern"),
        ("aws:reserved", "Member must satisfy regular expression pattern"),
    ],
)
def test_a_source_identity_outside_the_apis_constraint_is_a_validation_error(
    em: EmulatorProcess, value: str, constraint: str
) -> None:
    writer = role(em, "writer", write_role_trust())
    code, status, message = refusal(em, writer, SourceIdentity=value)
    assert (code, status) == ("ValidationError", 400)
    assert constraint in message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"RoleSessionName": "run:1"}, "at 'roleSessionName' failed to satisfy constraint"),
        ({"RoleSessionName": "r"}, "Member must have length greater than or equal to 2"),
        ({"DurationSeconds": "899"}, "Member must have value greater than or equal to 900"),
        ({"DurationSeconds": "7200"}, "exceeds the MaxSessionDuration set for this role"),
    ],
)
def test_a_session_name_or_duration_aws_refuses_is_a_validation_error(
    em: EmulatorProcess, extra: dict[str, Any], message: str
) -> None:
    plain = role(em, "plain", trust(allow({"AWS": ROOT})))
    alice = user(em, "alice", ALLOW_ALL_ASSUME)
    request: dict[str, Any] = {"RoleArn": plain, "RoleSessionName": "run", **extra}
    with pytest.raises(ClientError) as raised:
        em.client("sts", alice, validate=False).assume_role(**request)
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert message in error["Error"]["Message"]
    assert assume(em, plain, alice, DurationSeconds="3600")["AssumedRoleUser"]["Arn"].endswith("/plain/run")
    # The tooling's root user is held to the API's 12 hours only (it cannot assume a role on AWS at all).
    assert assume(em, plain, DurationSeconds="43200")["AssumedRoleUser"]["Arn"].endswith("/plain/run")


def test_a_chained_session_lasts_at_most_an_hour(em: EmulatorProcess) -> None:
    long_lived = {"RoleName": "first", "MaxSessionDuration": 43200}
    iam = em.client("iam")
    iam.create_role(**long_lived, AssumeRolePolicyDocument=trust(allow({"AWS": ROOT})))
    iam.put_role_policy(RoleName="first", PolicyName="p", PolicyDocument=json.dumps(ALLOW_ALL_ASSUME))
    first = f"arn:aws:iam::{MANAGEMENT}:role/first"
    session = assume(em, first, DurationSeconds="7200")["Credentials"]
    iam.create_role(RoleName="second", MaxSessionDuration=43200, AssumeRolePolicyDocument=trust(allow({"AWS": first})))
    second = f"arn:aws:iam::{MANAGEMENT}:role/second"
    code, status, message = refusal(em, second, session, DurationSeconds="7200")
    assert (code, status) == ("ValidationError", 400)
    assert "1 hour session limit for roles assumed by role chaining" in message
    assert assume(em, second, session, DurationSeconds="3600")["AssumedRoleUser"]["Arn"].endswith("/second/run")


def test_a_source_identity_persists_through_role_chaining_and_cannot_change(em: EmulatorProcess) -> None:
    first = role(em, "first", write_role_trust(), policy=ALLOW_ALL_ASSUME)
    session = assume(em, first, SourceIdentity="alice")["Credentials"]
    session_arn = f"arn:aws:sts::{MANAGEMENT}:assumed-role/first/run"
    second = role(em, "second", trust(allow({"AWS": first}, actions=["sts:AssumeRole", "sts:SetSourceIdentity"])))
    assert assume(em, second, session)["SourceIdentity"] == "alice"
    assert assume(em, second, session, SourceIdentity="alice")["SourceIdentity"] == "alice"
    assert refusal(em, second, session, SourceIdentity="bob") == denied_message(session_arn, second)
    # Chaining carries the source identity, so the next trust must allow setting it.
    no_set = role(em, "no-set", trust(allow({"AWS": first})))
    assert refusal(em, no_set, session) == denied_message(session_arn, no_set)
    assert "cannot change to 'bob'" in em.log_text()


# --------------------------------------------------------------------------------------------------
# Member accounts


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags kept as their long form."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    """`!Ref X` as {"Ref": X}, `!Sub s` as {"Fn::Sub": s} (the member template uses scalars only)."""
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def _resolved(value: object, parameters: dict[str, object]) -> object:
    """The member template's `!Ref` and `!Sub` (all it uses) resolved against `parameters`."""
    if isinstance(value, list):
        return [_resolved(item, parameters) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return parameters[str(value["Ref"])]
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(parameters[m.group(1)]), str(value["Fn::Sub"]))
        return {key: _resolved(item, parameters) for key, item in value.items()}
    return value


def deploy_member_roles(
    em: EmulatorProcess, admin: dict[str, str], member: str, org: str, readers: list[str], writer: str
) -> None:
    """member/keyward-member.yaml's two roles, exactly as written, in account `member`."""
    template = yaml.load(MEMBER_TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    parameters: dict[str, object] = {
        "OrganizationId": org,
        "ReadPrincipalArns": readers,
        "WritePrincipalArn": writer,
        "ReadRoleName": "keyward-read",
        "WriteRoleName": "keyward-deactivate",
        "AWS::Partition": "aws",
        "AWS::AccountId": member,
    }
    iam = em.client("iam", admin)
    for resource in template["Resources"].values():
        properties = _resolved(resource["Properties"], parameters)
        assert isinstance(properties, dict)
        name = properties["RoleName"]
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]))
        for policy in properties["Policies"]:
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )


def test_a_member_accounts_roles_act_on_its_own_iam_under_their_own_policies_naming_the_approver(
    em: EmulatorProcess,
) -> None:
    organizations = em.client("organizations")
    org = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    status = organizations.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]
    member = status["AccountId"]
    em.client("iam").create_user(UserName="home-user")
    # The management account's root reaches the member through the role Organizations made there.
    admin = assume(em, f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole")["Credentials"]
    member_iam = em.client("iam", admin)
    member_iam.create_user(UserName="member-user")
    key = member_iam.create_access_key(UserName="member-user")["AccessKey"]["AccessKeyId"]

    home_trust = trust(allow({"AWS": ROOT}))
    read_arn = f"arn:aws:iam::{member}:role/keyward-read"
    write_arn = f"arn:aws:iam::{member}:role/keyward-deactivate"
    reader = role(
        em,
        "keyward-list-users",
        home_trust,
        policy={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": read_arn}],
        },
    )
    writer = role(
        em,
        "keyward-deactivate",
        home_trust,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": write_arn}
            ],
        },
    )
    stranger = role(em, "stranger", home_trust, policy=ALLOW_ALL_ASSUME)
    deploy_member_roles(em, admin, member, org, [reader], writer)

    reader_session = assume(em, reader)["Credentials"]
    reading = em.client("iam", assume(em, read_arn, reader_session)["Credentials"])
    assert [u["UserName"] for u in reading.list_users()["Users"]] == ["member-user"]
    with pytest.raises(ClientError) as raised:
        reading.update_access_key(UserName="member-user", AccessKeyId=key, Status="Inactive")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    # The stranger is allowed by its own policies but not named by the member's trust.
    stranger_session = assume(em, stranger)["Credentials"]
    caller = f"arn:aws:sts::{MANAGEMENT}:assumed-role/stranger/run"
    assert refusal(em, read_arn, stranger_session) == denied_message(caller, read_arn)

    writer_session = assume(em, writer)["Credentials"]
    writer_caller = f"arn:aws:sts::{MANAGEMENT}:assumed-role/keyward-deactivate/run"
    assert refusal(em, write_arn, writer_session) == denied_message(writer_caller, write_arn)
    em.hook("DELETE", "/_keyward/principals")
    writing = em.client(
        "iam", assume(em, write_arn, writer_session, SourceIdentity="approver@example.com")["Credentials"]
    )
    writing.update_access_key(UserName="member-user", AccessKeyId=key, Status="Inactive")
    assert member_iam.list_access_keys(UserName="member-user")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError):
        writing.delete_access_key(UserName="member-user", AccessKeyId=key)

    _, calls = em.hook("GET", "/_keyward/principals")
    session_arn = f"arn:aws:sts::{member}:assumed-role/keyward-deactivate/run"
    assert {
        "principal": session_arn,
        "action": "iam:UpdateAccessKey",
        "allowed": True,
        "source_identity": "approver@example.com",
        "count": 1,
    } in calls
    assert {
        "principal": session_arn,
        "action": "iam:DeleteAccessKey",
        "allowed": False,
        "source_identity": "approver@example.com",
        "count": 1,
    } in calls
    assert {
        "principal": writer_caller,
        "action": "sts:AssumeRole",
        "allowed": True,
        "source_identity": None,
        "count": 1,
    } in calls
