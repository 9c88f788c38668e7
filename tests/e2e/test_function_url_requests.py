"""The approval function behind its Function URL as AWS delivers requests (docs/local-stack.md,
"Function URL requests"): the emulator's front on LAMBDA_PORT builds the payload format 2.0 event,
and GET /_keyward/function-url-requests shows the event the function received. `{ApprovalUrl}` ends
with `/`, so links and Slack's Request URL may carry a doubled slash: such requests reach the function
with the path as typed and still work. The confirm page's form post and Slack's interaction arrive
base64-encoded, as AWS sends `application/x-www-form-urlencoded` bodies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
import urllib.parse

from helpers import LINK_SETTINGS, LocalStack
from keyward_local import browser
from keyward_local.client import Seeder
from keyward_local.console import http_json
from keyward_local.paths import ROOT, VENV_BIN

#: A signing secret for this stack only, so that a signed Slack request can be made here.
SLACK_SECRET = "e2e-function-url-signing-secret"
#: The bearer link (APPROVER_AUTH=link): these requests, not a sign-in's, are the ones the tests read back.
SETTINGS = {**LINK_SETTINGS, "SLACK_SIGNING_SECRET": SLACK_SECRET}


def events(stack: LocalStack) -> list[dict[str, object]]:
    """The events the function received through its URL since the last `forget_events`, oldest first."""
    kept = http_json("GET", f"{stack.endpoint}/_keyward/function-url-requests")
    assert isinstance(kept, list), f"GET /_keyward/function-url-requests answered {kept!r}"
    return [entry["event"] for entry in kept if entry["function"] == "approval"]


def forget_events(stack: LocalStack) -> None:
    http_json("DELETE", f"{stack.endpoint}/_keyward/function-url-requests")


def doubled(link: str) -> str:
    """`link` as `{ApprovalUrl}/approvals/{id}` makes it from an ApprovalUrl that ends with `/`."""
    base = link.split("/approvals/", 1)[0]
    return link.replace(f"{base}/approvals/", f"{base}//approvals/", 1)


def test_a_doubled_slash_link_reaches_the_function_as_typed_and_its_form_post_arrives_base64(
    stack: LocalStack, account: Seeder
) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep("doubled")
    link = doubled(sweep.approval_link())
    approval_path = "//approvals/" + link.rsplit("/", 1)[1]
    forget_events(stack)

    page = browser.open_page(link)
    head = browser.fetch(link, "HEAD")
    answer = browser.decide(link, page.token, [key])

    assert page.keys == [key]
    assert head.status == 200 and head.body == ""
    assert answer.status == 200, answer.text[:500]
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"
    seen = events(stack)
    assert [(e["requestContext"]["http"]["method"], e["rawPath"]) for e in seen] == [  # type: ignore[index]
        ("GET", approval_path),
        ("HEAD", approval_path),
        ("POST", approval_path),
    ]
    post = seen[2]
    headers = post["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert all(name == name.lower() for name in headers)
    assert post["isBase64Encoded"] is True
    form = urllib.parse.parse_qs(base64.b64decode(str(post["body"])).decode())
    assert form["key"] == [browser.selection(key)] and form["decision"] == ["approve"] and form["token"] == [page.token]
    assert "body" not in seen[0] and seen[0]["isBase64Encoded"] is False


def slack_request(base_url: str, body: bytes, secret: str) -> browser.Answer:
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={signature}",
    }
    fields = urllib.parse.parse_qsl(body.decode())
    return browser.fetch(f"{base_url}//slack/actions", "POST", "Slackbot 1.0", fields, headers)


def test_a_signed_slack_interaction_at_the_doubled_slash_request_url_is_verified_on_its_exact_bytes(
    stack: LocalStack,
) -> None:
    # The Review button decides nothing: the answer shows that the signature held on the body the
    # function decoded from base64, byte for byte.
    payload = {
        "type": "block_actions",
        "user": {"id": "U0E2E", "team_id": "T0E2E"},
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{"action_id": "keyward_review", "value": "0" * 64, "type": "button"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    base_url = stack.env["KEYWARD_APPROVAL_BASE_URL"]
    forget_events(stack)

    signed = slack_request(base_url, body, SLACK_SECRET)
    forged = slack_request(base_url, body, "another secret")

    assert signed.status == 200, signed.body[:300]
    assert forged.status == 401, forged.body[:300]
    seen = events(stack)
    assert [e["rawPath"] for e in seen] == ["//slack/actions", "//slack/actions"]
    assert seen[0]["isBase64Encoded"] is True
    assert base64.b64decode(str(seen[0]["body"])) == body


def test_the_event_has_lower_cased_headers_cookies_and_the_query_as_aws_builds_them(stack: LocalStack) -> None:
    base_url = stack.env["KEYWARD_APPROVAL_BASE_URL"]
    forget_events(stack)

    answer = browser.fetch(f"{base_url}/approvals/unknown?key=A&key=B", headers={"Cookie": "a=1; b=2", "X-Probe": "p"})

    assert answer.status == 404  # the function's own answer to an unknown link
    (event,) = events(stack)
    assert event["rawPath"] == "/approvals/unknown"
    assert event["rawQueryString"] == "key=A&key=B"
    assert event["queryStringParameters"] == {"key": "A,B"}
    assert event["cookies"] == ["a=1", "b=2"]
    headers = event["headers"]
    assert isinstance(headers, dict)
    assert headers["x-probe"] == "p" and "cookie" not in headers
    context = event["requestContext"]
    assert isinstance(context, dict)
    assert (context["accountId"], context["routeKey"], context["stage"]) == ("anonymous", "$default", "$default")
    assert "body" not in event


def test_a_request_over_six_megabytes_is_refused_with_413_before_the_function(stack: LocalStack) -> None:
    base_url = stack.env["KEYWARD_APPROVAL_BASE_URL"]
    forget_events(stack)

    answer = browser.fetch(f"{base_url}/slack/actions", "POST", form=[("payload", "x" * (6 << 20))])

    assert answer.status == 413
    assert events(stack) == []


def test_a_path_without_a_function_url_is_refused_and_the_invoke_api_still_answers(stack: LocalStack) -> None:
    port = stack.env["LAMBDA_PORT"]
    assert browser.fetch(f"http://127.0.0.1:{port}/lambda-url/check-user/").status == 403
    # `cargo lambda invoke -P $LAMBDA_PORT` (docs/local-stack.md) goes through the front unchanged; the
    # sample's approval id was never issued here.
    sample = ROOT / "events" / "approval" / "get-confirm.json"
    done = subprocess.run(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", "-A", "127.0.0.1", "-P", port, "approval"]
        + ["--data-file", str(sample)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["statusCode"] == 404
