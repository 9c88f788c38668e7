"""How the emulator authorises a DynamoDB transaction (keyward_local.emulator.iam_auth): each item as
its underlying operation on its own table, as AWS does, never as one action on `*`; and a refusal
reads as DynamoDB answers it (a JSON AccessDeniedException)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from keyward_local.emulator.iam_auth import transaction_items

REGION = "us-east-1"
ACCOUNT = "123456789012"


def table(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def body(*items: dict[str, object]) -> bytes:
    return json.dumps({"TransactItems": list(items)}).encode()


def test_each_item_of_a_write_transaction_is_its_own_action_on_its_own_table() -> None:
    # The approval function's decision: the approval's update and the decision's put.
    request = body(
        {
            "Update": {
                "TableName": "keyward-approvals",
                "Key": {"id_hash": {"S": "ab"}},
                "UpdateExpression": "SET x = :y",
            }
        },
        {"Put": {"TableName": "keyward-decisions", "Item": {"execution_name": {"S": "run"}}}},
        {"Delete": {"TableName": "other", "Key": {}}},
        {"ConditionCheck": {"TableName": "checked", "Key": {}, "ConditionExpression": "attribute_exists(k)"}},
    )
    assert transaction_items("dynamodb:TransactWriteItems", request, REGION, ACCOUNT) == [
        ("dynamodb:UpdateItem", table("keyward-approvals")),
        ("dynamodb:PutItem", table("keyward-decisions")),
        ("dynamodb:DeleteItem", table("other")),
        ("dynamodb:ConditionCheckItem", table("checked")),
    ]


def test_a_get_transaction_is_get_item_on_each_table() -> None:
    request = body({"Get": {"TableName": "keyward-decisions", "Key": {}}})
    assert transaction_items("dynamodb:TransactGetItems", request, REGION, ACCOUNT) == [
        ("dynamodb:GetItem", table("keyward-decisions"))
    ]


def test_other_actions_are_not_transactions() -> None:
    request = body({"Put": {"TableName": "keyward-decisions", "Item": {}}})
    for action in ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "s3:PutObject"]:
        assert transaction_items(action, request, REGION, ACCOUNT) is None


def test_a_transaction_that_is_not_one_dynamodb_would_run_checks_nothing_allowable() -> None:
    malformed = [
        b"not json",
        b"[]",
        json.dumps({"TransactItems": []}).encode(),
        body({"Put": {"Item": {}}}),
        body({"Upsert": {"TableName": "keyward-decisions"}}),
        body({"Put": {"TableName": "a"}, "Update": {"TableName": "b"}}),
        None,
    ]
    for request in malformed:
        assert transaction_items("dynamodb:TransactWriteItems", request, REGION, ACCOUNT) == [], request


#: Run in a child process: enforce_policies() switches moto's access control on process-wide. A user
#: allowed UpdateItem on `approvals` and PutItem on `decisions` and nothing else.
_CHILD = r"""
import json, sys, threading
import boto3
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from keyward_local.emulator.iam_auth import enforce_policies

enforce_policies()
server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True,
                     request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{server.server_port}"
root = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
iam, db = root.client("iam", endpoint_url=endpoint), root.client("dynamodb", endpoint_url=endpoint)
for table in ("approvals", "decisions", "other"):
    db.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": arn + "approvals"},
    {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": arn + "decisions"}]}
iam.create_user(UserName="approval")
iam.put_user_policy(UserName="approval", PolicyName="p", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="approval")["AccessKey"]
user = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                             region_name="us-east-1").client("dynamodb", endpoint_url=endpoint)
update = {"Update": {"TableName": "approvals", "Key": {"k": {"S": "a"}}, "UpdateExpression": "SET s = :d",
                     "ExpressionAttributeValues": {":d": {"S": "decided"}}}}
def put(table):
    return {"Put": {"TableName": table, "Item": {"k": {"S": "run"}}}}
def outcome(items):
    try:
        user.transact_write_items(TransactItems=items)
    except ClientError as error:
        return [error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]]
    return "allowed"
result = {
    "the put on another table": outcome([update, put("other")]),
    "a put where only update is allowed": outcome([put("approvals")]),
    "nothing written by a refusal": "Item" in db.get_item(TableName="other", Key={"k": {"S": "run"}}),
    "each item allowed": outcome([update, put("decisions")]),
    "written": db.get_item(TableName="decisions", Key={"k": {"S": "run"}}).get("Item"),
}
print(json.dumps(result))
"""


def test_a_transaction_is_allowed_only_when_each_item_is_and_a_refusal_reads_as_aws_answers_it() -> None:
    tools = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tools)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "the put on another table": [400, "AccessDeniedException"],
        "a put where only update is allowed": [400, "AccessDeniedException"],
        "nothing written by a refusal": False,
        "each item allowed": "allowed",
        "written": {"k": {"S": "run"}},
    }
