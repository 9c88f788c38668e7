"""Faults on the local stack (issue #6): the emulator injects them (keyward_local.emulator, /_keyward/faults) into
the real state machine's Lambda invocations and SNS publishes. Batches of two users, so that one
batch can fail while the others succeed."""

from __future__ import annotations

from helpers import LocalStack, actions, plan_keys
from keyward_local import client
from keyward_local.client import Seeder

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

    page = client.open_page(link)
    assert client.decide(link, page.token, page.keys, "reject").status == 200
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

    page = client.open_page(link)
    assert set(page.keys) == {keys[u] for u in evaluated}
    assert client.decide(link, page.token, page.keys).status == 200
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
