"""How the emulator authorises a DynamoDB transaction (keyward_local.emulator.iam_auth): each item as
its underlying operation on its own table, as AWS does, never as one action on `*`."""

from __future__ import annotations

import json

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
