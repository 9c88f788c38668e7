"""Slack's buttons on the local stack, against Slack's 3-second deadline (docs/functions.md,
"Slack's 3-second deadline"): a click is answered within 3 s, cold start included, even when the
response_url takes 5 s to answer; the decision and the message update happen after the answer, in the
follow-up the approval function invokes for itself (through the emulator's Lambda Invoke,
InvocationType=Event), and still happen.

The test plays Slack: it signs each click with the stack's SLACK_SIGNING_SECRET as Slack signs them, and
serves the response_url on 127.0.0.1 (SLACK_RESPONSE_URL_PREFIX, which only the local stack sets)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers import APPROVE_SETTINGS, LocalStack, ResponseUrl, decision, free_port, serve_response_url
from keyward_local import browser
from keyward_local.client import Seeder

#: Not a real secret: the signing secret of this module's stack, which the test uses to play Slack.
SIGNING_SECRET = "e2e-slack-signing-secret"
APPROVER = "U0E2EAPPROVER"
TEAM = "T0E2ETEAM"
#: The port of the slow response_url; chosen when the module loads, since the stack's settings name it.
RESPONSE_PORT = free_port()
SETTINGS = {
    **APPROVE_SETTINGS,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_APPROVER_IDS": APPROVER,
    "SLACK_TEAM_ID": TEAM,
    "SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{RESPONSE_PORT}/",
}
#: Slack gives up on a click not answered within this many seconds.
SLACK_DEADLINE_SECONDS = 3.0
#: How long the response_url takes to answer: longer than the deadline, so that a click answered only
#: after its message update cannot pass.
RESPONSE_URL_DELAY_SECONDS = 5.0
#: Bound on the follow-up: queued, decided, posted (the post itself takes RESPONSE_URL_DELAY_SECONDS).
FOLLOW_UP_SECONDS = 60.0


@pytest.fixture(scope="module")
def response_url() -> Iterator[ResponseUrl]:
    """The slow response_url server, for the module's stack."""
    with serve_response_url(RESPONSE_PORT, "T0E2E", RESPONSE_URL_DELAY_SECONDS) as server:
        yield server


@dataclass
class Click:
    """Slack's request for one button press, and how long the approval function took to answer it."""

    status: int
    body: str
    seconds: float


def click(link: str, user: str, action_id: str, response_url: str) -> Click:
    """Presses a keyward button as Slack sends the press: a signed `block_actions` payload posted to the
    stack's Request URL ({ApprovalUrl}/slack/actions), the approval id in the button's value."""
    base, approval_id = link.rsplit("/approvals/", 1)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "container": {"type": "message", "message_ts": "1795244700.000100"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "keyward-decision", "value": approval_id, "type": "button"}],
    }
    form = [("payload", json.dumps(payload, separators=(",", ":")))]
    # The bytes browser.fetch sends: the signature covers exactly them.
    body = urllib.parse.urlencode(form)
    timestamp = str(int(time.time()))
    signature = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={signature}"}
    started = time.monotonic()
    answer = browser.fetch(
        f"{base}/slack/actions", "POST", "Slackbot 1.0 (+https://api.slack.com/robots)", form, headers
    )
    return Click(answer.status, answer.body, time.monotonic() - started)


def test_a_click_is_answered_within_three_seconds_and_decided_after_it(
    stack: LocalStack, account: Seeder, response_url: ResponseUrl
) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep("slack-approve")
    link = sweep.approval_link()

    # The module's first click: the approval function has not run since `up`, so this is its cold start.
    pressed = click(link, APPROVER, "keyward_approve_all", response_url.url("approve"))
    print(f"\n    Slack click answered in {pressed.seconds:.3f} s (cold)", flush=True)

    assert pressed.status == 200, pressed.body[:500]
    assert pressed.body == "", "Slack's acknowledgement is an empty 200"
    assert pressed.seconds < SLACK_DEADLINE_SECONDS, f"answered in {pressed.seconds:.2f} s"
    # The message update comes after the answer, from the follow-up.
    update = response_url.wait_for("approve", FOLLOW_UP_SECONDS)
    payload = update["payload"]
    assert isinstance(payload, dict)
    assert payload["replace_original"] is True
    assert f"Approved by <@{APPROVER}>" in payload["text"], payload
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"
    recorded = decision(sweep.report())
    assert recorded["decided_by"] == {"kind": "slack", "user_id": APPROVER, "team_id": TEAM}, recorded
    assert stack.approval_record(sweep.name)["state"]["S"] == "decided"


def test_a_strangers_click_is_answered_in_time_told_privately_and_decides_nothing(
    stack: LocalStack, account: Seeder, response_url: ResponseUrl
) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep("slack-stranger")
    link = sweep.approval_link()

    pressed = click(link, "U0E2ESTRANGER", "keyward_approve_all", response_url.url("stranger"))
    print(f"\n    Slack click answered in {pressed.seconds:.3f} s (warm)", flush=True)

    assert pressed.status == 200, pressed.body[:500]
    assert pressed.seconds < SLACK_DEADLINE_SECONDS, f"answered in {pressed.seconds:.2f} s"
    reply = response_url.wait_for("stranger", FOLLOW_UP_SECONDS)["payload"]
    assert isinstance(reply, dict)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False, reply
    assert "approver list" in reply["text"], reply
    assert sweep.status() == "RUNNING"
    assert stack.approval_record(sweep.name)["state"]["S"] == "pending"
    assert stack.key_status(owner, key) == "Active"

    # The approver then rejects: in time as well, and the run ends with the key untouched.
    pressed = click(link, APPROVER, "keyward_reject_all", response_url.url("reject"))
    assert pressed.status == 200 and pressed.seconds < SLACK_DEADLINE_SECONDS, pressed
    rejected = response_url.wait_for("reject", FOLLOW_UP_SECONDS)["payload"]
    assert isinstance(rejected, dict)
    assert rejected["text"].startswith(f"Rejected by <@{APPROVER}>"), rejected
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Active"
    assert decision(sweep.report())["approved"] == []
