"""Each function runs with its own template role, enforced (issue 11 item 13; docs/local-stack.md,
"IAM policies are enforced"): the emulator authorises every request against the caller's identity
policies, the functions sign with the credentials of the role template.yaml gives them, and so a
sweep succeeds only if every role allows what its function does, and the explicit denies deny. Only
the approval function's role records a decision (a DynamoDB transaction, authorised item by item as
AWS does), and it can rewrite no object of a run."""

from __future__ import annotations

import configparser
import json
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from helpers import LocalStack
from keyward_local.client import Seeder
from keyward_local.console import http_json
from keyward_local.paths import CREDENTIALS_FILE, REGION
from keyward_local.roles import iam_role_name

SETTINGS = {"KEYWARD_MODE": "auto", "MFA_SCOPE": "all", "IAM_MAX_RPS": "200"}

FUNCTIONS = ("list-users", "check-user", "validate-keys", "notify", "deactivate")


def principals(stack: LocalStack) -> list[dict[str, object]]:
    calls = http_json("GET", f"{stack.endpoint}/_keyward/principals")
    assert isinstance(calls, list)
    return calls


def as_role(stack: LocalStack, function: str, service: str) -> Any:
    """A client of `service` with the credentials `up` gave `function` (its role's profile)."""
    profiles = configparser.ConfigParser(interpolation=None)
    profiles.read(CREDENTIALS_FILE)
    profile = profiles[f"keyward-{function}"]
    session = boto3.session.Session(
        aws_access_key_id=profile["aws_access_key_id"],
        aws_secret_access_key=profile["aws_secret_access_key"],
        aws_session_token=profile["aws_session_token"],
        region_name=REGION,
    )
    return session.client(service, endpoint_url=stack.endpoint)  # type: ignore[call-overload]


def denied(call: Callable[[], object]) -> bool:
    """Whether calling `call()` is refused with AccessDenied."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    return False


@pytest.fixture
def forgotten_permission(stack: LocalStack) -> Iterator[None]:
    """list-users' role without its S3 write (as if the template had forgotten it), restored after."""
    role = iam_role_name("list-users")
    names = stack.iam.list_role_policies(RoleName=role)["PolicyNames"]
    saved: dict[str, Any] = {
        name: stack.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in names
    }
    for name, document in saved.items():
        document = json.loads(document) if isinstance(document, str) else document
        trimmed = {**document, "Statement": [s for s in document["Statement"] if s.get("Sid") != "WriteRunState"]}
        stack.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(trimmed))
    yield
    for name, document in saved.items():
        text = document if isinstance(document, str) else json.dumps(document)
        stack.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=text)


def test_every_function_calls_aws_as_its_own_role_and_nothing_is_refused(stack: LocalStack, account: Seeder) -> None:
    s = account
    user = s.user("no-mfa")
    key = s.key(user, age_days=10, used_days_ago=1)
    http_json("DELETE", f"{stack.endpoint}/_keyward/principals")

    sweep = stack.sweep("roles")
    sweep.succeeds()
    assert stack.key_status(user, key) == "Inactive"

    calls = principals(stack)
    refused = [c for c in calls if not c["allowed"]]
    assert refused == [], f"requests the template roles do not allow: {refused}"
    by_role: dict[str, set[str]] = {}
    for call in calls:
        principal = str(call["principal"])
        if principal.endswith(":root"):
            continue  # the test itself, seeding and reading
        assert ":assumed-role/keyward-" in principal, principal
        by_role.setdefault(principal.split("/")[1], set()).add(str(call["action"]))
    assert {"iam:ListUsers", "iam:GetCredentialReport", "s3:PutObject"} <= by_role[iam_role_name("list-users")]
    assert {"iam:ListAccessKeys", "iam:ListMFADevices"} <= by_role[iam_role_name("check-user")]
    assert "s3:GetObject" in by_role[iam_role_name("validate-keys")]
    assert "sns:Publish" in by_role[iam_role_name("notify")]
    assert "iam:UpdateAccessKey" in by_role[iam_role_name("deactivate")]
    # moto's Step Functions engine reads the Map's items and invokes the functions as the state
    # machine's role.
    assert {"lambda:InvokeFunction", "s3:GetObject"} <= by_role["keyward-state-machine"]
    assert set(by_role) == {iam_role_name(f) for f in FUNCTIONS} | {"keyward-state-machine"}


def test_the_explicit_denies_deny_and_change_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    user = s.user("target")
    key = s.key(user, age_days=10, used_days_ago=1)

    approval_iam = as_role(stack, "approval", "iam")
    assert denied(lambda: approval_iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive"))
    deactivate_iam = as_role(stack, "deactivate", "iam")
    assert denied(lambda: deactivate_iam.delete_access_key(UserName=user, AccessKeyId=key))
    assert denied(lambda: deactivate_iam.create_access_key(UserName=user))
    assert denied(lambda: deactivate_iam.delete_user(UserName=user))
    # Not denied explicitly, but granted to no statement of their roles: deny by default.
    assert denied(lambda: as_role(stack, "check-user", "iam").list_users())
    assert denied(lambda: as_role(stack, "notify", "iam").get_user(UserName=user))
    assert denied(
        lambda: as_role(stack, "validate-keys", "sns").publish(TopicArn=stack.env["KEYWARD_TOPIC_ARN"], Message="x")
    )

    assert stack.key_status(user, key) == "Active"
    assert len(stack.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 1
    # The same calls the roles do allow succeed: the denials above are the policies, not the plumbing.
    assert as_role(stack, "deactivate", "iam").list_access_keys(UserName=user)["AccessKeyMetadata"]


def test_a_permission_the_template_forgot_fails_the_run(
    stack: LocalStack, account: Seeder, forgotten_permission: None
) -> None:
    s = account
    s.key(s.user("old"), age_days=200, used_days_ago=1)

    sweep = stack.sweep("forgotten")
    assert sweep.finish() == "FAILED"
    assert sweep.states()[-1] == "List Users", sweep.states()
    assert "AccessDenied" in sweep.diagnosis()


def _record_decision(dynamodb: Any, env: dict[str, str], id_hash: str, item: dict[str, Any]) -> None:
    """The approval function's decision, as one transaction: the approval pending → decided, and the
    run's decision put once."""
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": env["KEYWARD_APPROVALS_TABLE"],
                    "Key": {"id_hash": {"S": id_hash}},
                    "UpdateExpression": "SET #s = :decided",
                    "ConditionExpression": "#s = :pending",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {":decided": {"S": "decided"}, ":pending": {"S": "pending"}},
                }
            },
            {
                "Put": {
                    "TableName": env["KEYWARD_DECISIONS_TABLE"],
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(execution_name)",
                }
            },
        ]
    )


def _rewrite_decision(dynamodb: Any, env: dict[str, str], execution: str) -> None:
    dynamodb.update_item(
        TableName=env["KEYWARD_DECISIONS_TABLE"],
        Key={"execution_name": {"S": execution}},
        UpdateExpression="SET outcome = :o",
        ExpressionAttributeValues={":o": {"S": "rejected"}},
    )


def test_only_approval_records_a_decision_and_it_can_rewrite_no_run_object(stack: LocalStack) -> None:
    env = stack.env
    bucket, decisions = env["KEYWARD_REPORT_BUCKET"], env["KEYWARD_DECISIONS_TABLE"]
    execution = f"e2e-roles-{uuid.uuid4().hex[:12]}"
    report_key = f"runs/{execution}/report.json"
    as_notify_left_it = b'{"execution_name": "' + execution.encode() + b'", "plan": "as notify left it"}'
    stack.s3.put_object(Bucket=bucket, Key=report_key, Body=as_notify_left_it)

    # The internet-facing function reads the plan, and can write no object of the run.
    approval_s3 = as_role(stack, "approval", "s3")
    assert approval_s3.get_object(Bucket=bucket, Key=report_key)["Body"].read() == as_notify_left_it
    for key in [report_key, f"runs/{execution}/listing.json", f"runs/{execution}/deactivation/claim.json"]:
        assert denied(partial(approval_s3.put_object, Bucket=bucket, Key=key, Body=b"{}")), key
    assert stack.s3.get_object(Bucket=bucket, Key=report_key)["Body"].read() == as_notify_left_it

    id_hash = uuid.uuid4().hex * 2
    stack.dynamodb.put_item(
        TableName=env["KEYWARD_APPROVALS_TABLE"],
        Item={"id_hash": {"S": id_hash}, "state": {"S": "pending"}, "execution_name": {"S": execution}},
    )
    decision = {"execution_name": {"S": execution}, "bucket": {"S": bucket}, "outcome": {"S": "approved"}}
    decision_key = {"execution_name": {"S": execution}}

    # No other role can write the decisions table: not in a transaction, not by PutItem or UpdateItem.
    for function in FUNCTIONS:
        dynamodb = as_role(stack, function, "dynamodb")
        assert denied(partial(_record_decision, dynamodb, env, id_hash, decision)), function
        assert denied(partial(dynamodb.put_item, TableName=decisions, Item=decision)), function
        assert denied(partial(_rewrite_decision, dynamodb, env, execution)), function
    assert "Item" not in stack.dynamodb.get_item(TableName=decisions, Key=decision_key, ConsistentRead=True)
    approval_record = stack.dynamodb.get_item(TableName=env["KEYWARD_APPROVALS_TABLE"], Key={"id_hash": {"S": id_hash}})
    assert approval_record["Item"]["state"] == {"S": "pending"}, "a refused transaction changed nothing"

    # Approval's role records it, each item authorised as its own action on its own table ...
    approval_dynamodb = as_role(stack, "approval", "dynamodb")
    _record_decision(approval_dynamodb, env, id_hash, decision)
    assert stack.dynamodb.get_item(TableName=decisions, Key=decision_key, ConsistentRead=True)["Item"] == decision
    # ... and cannot change or remove it afterwards.
    assert denied(lambda: _rewrite_decision(approval_dynamodb, env, execution))
    assert denied(lambda: approval_dynamodb.delete_item(TableName=decisions, Key=decision_key))
    assert stack.dynamodb.get_item(TableName=decisions, Key=decision_key, ConsistentRead=True)["Item"] == decision
