"""The approval function's public surface on the local stack (docs/architecture.md, "Approval"): the
headers of a real Function URL response, a POST from another site or with an oversized body refused
before anything is read, and a signed Slack request accepted once: its replay is refused while the
first decides.

The test plays the browser (fetch metadata, Origin) and Slack (it signs each click with the stack's
SLACK_SIGNING_SECRET, and serves the response_url on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from helpers import (
    APPROVE_SETTINGS,
    LocalStack,
    ResponseUrl,
    assert_still_waiting,
    decision,
    free_port,
    serve_response_url,
)
from keyward_local import browser
from keyward_local.browser import Answer
from keyward_local.client import Seeder
from keyward_local.console import LocalStackError, wait_until

#: Not a real secret: the signing secret of this module's stack, which the test uses to play Slack.
SIGNING_SECRET = "e2e-surface-signing-secret"
APPROVER = "U0E2ESURFACE"
TEAM = "T0E2ESURFACE"
RESPONSE_PORT = free_port()
SETTINGS = {
    **APPROVE_SETTINGS,
    # The sign-in is not what this module tests: the link decides, as before it.
    "APPROVER_AUTH": "link",
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "SLACK_APPROVER_IDS": APPROVER,
    "SLACK_TEAM_ID": TEAM,
    "SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{RESPONSE_PORT}/",
}
#: What every response carries besides its own type (crates/approval/src/response.rs).
EVERY_RESPONSE = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
#: guard::MAX_BODY_BYTES.
MAX_BODY_BYTES = 512 * 1024
#: Bound on a click's follow-up: queued, decided, posted.
FOLLOW_UP_SECONDS = 60.0


def assert_hardened(answer: Answer) -> None:
    """The answer carries every isolation header, and grants no browser feature."""
    assert {k: answer.headers.get(k) for k in EVERY_RESPONSE} == EVERY_RESPONSE, (answer.status, answer.headers)
    permissions = answer.headers.get("permissions-policy", "")
    assert "camera=()" in permissions and all(p.endswith("=()") for p in permissions.split(", ")), permissions
    assert answer.headers.get("content-security-policy", "").startswith("default-src 'none'"), answer.headers


def own_origin(link: str) -> str:
    """The origin of the approval link: where the confirm page's form posts from."""
    parts = urllib.parse.urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_page_is_hardened_and_only_its_own_posts_decide(stack: LocalStack, account: Seeder) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep("surface-form")
    link = sweep.approval_link()

    page = browser.fetch(link)
    assert page.status == 200, page.text[:500]
    assert_hardened(page)
    base = link.rsplit("/approvals/", 1)[0]
    for answer in (browser.fetch(f"{base}/nowhere"), browser.fetch(f"{base}/slack/actions", "POST", form=[])):
        assert answer.status in (401, 403, 404), (answer.status, answer.text[:300])
        assert_hardened(answer)

    token = browser.open_page(link).token
    fields = [("token", token), ("key", browser.selection(key)), ("decision", "approve")]
    # A page of another site submitting the form in the approver's browser.
    for headers in (
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "origin": "https://evil.example"},
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "same-site", "origin": "http://localhost.evil.example"},
    ):
        refused = browser.fetch(link, "POST", form=fields, headers=headers)
        assert refused.status == 403, (headers, refused.status, refused.text[:300])
        assert "Nothing was decided" in refused.text
        assert_hardened(refused)
    # A body past the limit, refused before it is parsed.
    oversized = browser.fetch(link, "POST", form=[*fields, ("pad", "x" * MAX_BODY_BYTES)])
    assert oversized.status == 413, (oversized.status, oversized.text[:300])
    assert_hardened(oversized)
    assert_still_waiting(stack, sweep, owner, key)

    # The page's own form, as the browser sends it, decides.
    same_origin = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate", "origin": own_origin(link)}
    approved = browser.fetch(link, "POST", form=fields, headers=same_origin)
    assert approved.status == 200, approved.text[:500]
    assert_hardened(approved)
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"


@pytest.fixture(scope="module")
def response_url() -> Iterator[ResponseUrl]:
    """The response_url server, for the module's stack."""
    with serve_response_url(RESPONSE_PORT, TEAM) as server:
        yield server


def test_a_replayed_slack_request_is_refused_while_the_first_decides(
    stack: LocalStack, account: Seeder, response_url: ResponseUrl
) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep("surface-replay")
    link = sweep.approval_link()
    base, approval_id = link.rsplit("/approvals/", 1)

    # One press of Approve all, signed as Slack signs it.
    payload = {
        "type": "block_actions",
        "user": {"id": APPROVER, "team_id": TEAM},
        "team": {"id": TEAM},
        "response_url": response_url.url("replay"),
        "actions": [{"action_id": "keyward_approve_all", "value": approval_id, "type": "button"}],
    }
    form = [("payload", json.dumps(payload, separators=(",", ":")))]
    body = urllib.parse.urlencode(form)
    timestamp = str(int(time.time()))
    signature = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={signature}"}
    slack = "Slackbot 1.0 (+https://api.slack.com/robots)"

    first = browser.fetch(f"{base}/slack/actions", "POST", slack, form, headers)
    assert first.status == 200 and first.body == "", (first.status, first.body[:300])
    # The same bytes again, within Slack's five minutes: whoever captured the request replays it.
    replay = browser.fetch(f"{base}/slack/actions", "POST", slack, form, headers)
    assert replay.status == 403, (replay.status, replay.body[:300])
    assert replay.headers.get("content-type", "").startswith("text/plain")
    assert "already received" in replay.body, replay.body

    try:
        update = wait_until(
            "the follow-up's message update",
            lambda: next(iter(response_url.received("replay")), None),
            FOLLOW_UP_SECONDS,
        )
    except LocalStackError as error:
        pytest.fail(str(error))
    posted = update["payload"]
    assert isinstance(posted, dict) and f"Approved by <@{APPROVER}>" in posted["text"], posted
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"
    assert decision(sweep.report())["decided_by"] == {"kind": "slack", "user_id": APPROVER, "team_id": TEAM}
    # One decision, one message update: the replay queued no second follow-up.
    assert len(response_url.received("replay")) == 1, response_url.received("replay")
