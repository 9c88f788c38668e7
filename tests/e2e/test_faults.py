"""Faults on the local stack (issue #6): the emulator injects them (keyward_local.emulator, /_keyward/faults) into
the real state machine's Lambda invocations and SNS publishes. Batches of two users, so that one
batch can fail while the others succeed. And an approval request nobody can receive: the topic's
only subscription unconfirmed, no Slack."""

from __future__ import annotations

import boto3
import pytest
from helpers import LocalStack, actions, plan_keys
from keyward_local import browser, client
from keyward_local.client import Seeder
from keyward_local.provision import APPROVER_EMAIL, subscribe_confirmed

SETTINGS = {"KEYWARD_MODE": "approve", "BATCH_SIZE": "2", "IAM_MAX_RPS": "200"}


def old_keys(s: client.Seeder, names: list[str]) -> dict[str, str]:
    """One key 200 days old (key-too-old) per user: user name -> key id."""
    return {(u := s.user(name)): s.key(u, age_days=200, used_days_ago=1) for name in names}


def test_a_batch_that_fails_twice_is_retried_and_every_user_evaluated(stack: LocalStack, account: Seeder) -> None:
    keys = old_keys(account, ["a", "b", "c"])
    stack.inject("lambda:check-user", count=2, error="AwsCallFailed")

    sweep = stack.sweep("retried")
    link = sweep.approval_link()
    assert [f["injected"] for f in stack.faults()] == [2]
    report = sweep.report()
    assert report["users_not_evaluated"] == []
    assert report["users_checked"] == 3
    assert plan_keys(report) == set(keys.values())

    page = browser.open_page(link)
    assert browser.decide(link, page.token, page.keys, "reject").status == 200
    sweep.succeeds()


def test_a_batch_that_keeps_failing_is_reported_and_nothing_acts_on_its_users(
    stack: LocalStack, account: Seeder
) -> None:
    keys = old_keys(account, ["a", "b", "c", "d"])
    failing = f"{account.prefix}-c"
    stack.inject("lambda:check-user", count=None, match=failing, error="AwsCallFailed")

    sweep = stack.sweep("failing")
    link = sweep.approval_link()
    report = sweep.report()
    not_evaluated = set(report["users_not_evaluated"])
    assert failing in not_evaluated and len(not_evaluated) == 2, not_evaluated
    evaluated = set(keys) - not_evaluated
    assert plan_keys(report) == {keys[u] for u in evaluated}
    assert stack.faults()[0]["injected"] == 3, "the first attempt and two retries"
    digest = sweep.messages()[0]["message"]
    assert "not evaluated" in digest and failing in digest

    page = browser.open_page(link)
    assert set(page.keys) == {keys[u] for u in evaluated}
    assert browser.decide(link, page.token, page.keys).status == 200
    sweep.succeeds()
    assert set(actions(sweep.report())) == {keys[u] for u in evaluated}
    for user, key in keys.items():
        assert stack.key_status(user, key) == ("Active" if user in not_evaluated else "Inactive")


def test_an_approval_request_that_cannot_be_sent_fails_the_run_loudly(stack: LocalStack, account: Seeder) -> None:
    keys = old_keys(account, ["a"])
    # The digest goes out; every publish after it (the approval request) is refused.
    stack.inject("sns:Publish", after=1, count=None, error="AuthorizationError")

    sweep = stack.sweep("unsent")
    status = sweep.finish()
    assert status == "FAILED", f"the run ended {status}\n{sweep.diagnosis()}"
    described = stack.sfn.describe_execution(executionArn=sweep.arn)
    assert described.get("error") == "NotifyFailed", described
    assert "AuthorizationError" in described.get("cause", ""), described
    assert "Request Approval" in sweep.states()
    assert len(sweep.messages()) == 1 and not client.APPROVAL_LINK.search(sweep.messages()[0]["message"])
    for user, key in keys.items():
        assert stack.key_status(user, key) == "Active"


def test_an_approval_request_nobody_can_receive_fails_the_run_loudly_and_nothing_waits(
    stack: LocalStack, account: Seeder
) -> None:
    # GIVEN a topic whose only subscription is pending (its confirmation mail not followed) and no Slack
    keys = old_keys(account, ["a"])
    topic_arn = stack.env["KEYWARD_TOPIC_ARN"]
    sns = boto3.session.Session().client("sns")
    confirmed = [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]]
    for arn in confirmed:
        sns.unsubscribe(SubscriptionArn=arn)
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint="unconfirmed@example.com")
    try:
        listed = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"], listed
        # As in AWS, only the token of the confirmation mail confirms it.
        with pytest.raises(sns.exceptions.InvalidParameterException):
            sns.confirm_subscription(TopicArn=topic_arn, Token="not-the-mails-token")

        # WHEN a run needs an approval
        sweep = stack.sweep("nobody")
        status = sweep.finish()

        # THEN the run fails at once with NotifyFailed naming the cause, and no approval waits
        assert status == "FAILED", f"the run ended {status}\n{sweep.diagnosis()}"
        described = stack.sfn.describe_execution(executionArn=sweep.arn)
        assert described.get("error") == "NotifyFailed", described
        cause = described.get("cause", "")
        assert "no confirmed subscription and no Slack: nobody can receive the approval request" in cause, cause
        assert topic_arn in cause, cause
        assert "Request Approval" in sweep.states()
        items = stack.dynamodb.scan(TableName=stack.env["KEYWARD_APPROVALS_TABLE"])["Items"]
        assert not [i for i in items if i.get("execution_name", {}).get("S") == sweep.name], "an approval was stored"
        assert not any(client.APPROVAL_LINK.search(m["message"]) for m in sweep.messages())
        for user, key in keys.items():
            assert stack.key_status(user, key) == "Active"
    finally:
        # The other tests need the confirmed subscriber `up` made.
        for subscription in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
            if subscription["SubscriptionArn"] != "PendingConfirmation":
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        subscribe_confirmed(stack.endpoint, topic_arn, APPROVER_EMAIL)
