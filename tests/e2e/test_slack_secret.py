"""Slack through keyward's secret on the local stack: `up` writes SLACK_WEBHOOK_URL and
SLACK_SIGNING_SECRET into the emulated Secrets Manager and gives the functions only its ARN
(KEYWARD_SECRET_ARN), as template.yaml does in AWS. notify posts to the webhook it read from the
secret (here a receiver on 127.0.0.1), so an approval request reaches somebody even with no
confirmed subscription; approval checks Slack's signature with the signing secret it read."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from helpers import APPROVE_SETTINGS, LocalStack, free_port
from keyward_local import oidc
from keyward_local.client import Seeder
from keyward_local.console import HTTP
from keyward_local.paths import CONFIG_FILE, ENV_FILE, STATE_DIR
from keyward_local.processes import read_record
from keyward_local.provision import APPROVER_EMAIL, subscribe_confirmed

WEBHOOK_PORT = free_port()
WEBHOOK = f"http://127.0.0.1:{WEBHOOK_PORT}/services/T0/B0/e2e-webhook-secret"
SIGNING_SECRET = "e2e-signing-secret-8f742231b10e"
SETTINGS = {**APPROVE_SETTINGS, "SLACK_WEBHOOK_URL": WEBHOOK, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


class Receiver(BaseHTTPRequestHandler):
    """Slack's incoming webhook: keeps each posted body."""

    posted: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Receiver.posted.append({"path": self.path, "body": json.loads(body or b"null")})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `posted`."""


@pytest.fixture(scope="module")
def webhook() -> Iterator[list[dict[str, object]]]:
    """The webhook receiver on WEBHOOK_PORT, for the module."""
    server = ThreadingHTTPServer(("127.0.0.1", WEBHOOK_PORT), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Receiver.posted
    server.shutdown()


def test_the_functions_get_the_secrets_arn_and_neither_slack_s_nor_the_openid_client_s_secret(
    stack: LocalStack,
) -> None:
    record = read_record("lambda")
    assert record is not None, "cargo lambda watch has no record"
    # The functions inherit cargo lambda watch's environment.
    raw = Path(f"/proc/{record['pid']}/environ").read_bytes()
    environ = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    arn = environ.get("KEYWARD_SECRET_ARN", "")
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:keyward"), arn
    for name in ("SLACK_WEBHOOK_URL", "SLACK_SIGNING_SECRET", "OIDC_CLIENT_SECRET"):
        assert name not in environ, f"{name} is in the functions' environment"
    # The OpenID client secret `up` generated: in a file only its owner reads, and in keyward's secret.
    assert oidc.SECRET_FILE.stat().st_mode & 0o777 == 0o600
    client_secret = oidc.SECRET_FILE.read_text().strip()
    logs = [(STATE_DIR / f"{name}.log").read_text(errors="replace") for name in ("moto", "lambda", "oidc")]
    for written in (raw.decode(), ENV_FILE.read_text(), CONFIG_FILE.read_text(), *logs):
        assert "e2e-webhook-secret" not in written and SIGNING_SECRET not in written
        assert client_secret not in written
    stored = boto3.session.Session().client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert json.loads(stored) == {
        "slack_webhook_url": WEBHOOK,
        "slack_signing_secret": SIGNING_SECRET,
        "oidc_client_secret": client_secret,
    }


def test_with_slack_an_approval_request_reaches_the_webhook_without_a_confirmed_subscription(
    stack: LocalStack, account: Seeder, webhook: list[dict[str, object]]
) -> None:
    user = account.user("a")
    account.key(user, age_days=200, used_days_ago=1)
    topic_arn = stack.env["KEYWARD_TOPIC_ARN"]
    sns = boto3.session.Session().client("sns")
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    try:
        sweep = stack.sweep("slack")
        sweep.approval_link()
        deadline = time.monotonic() + 30
        while not any("/approvals/" in json.dumps(p["body"]) for p in webhook) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert any("/approvals/" in json.dumps(p["body"]) for p in webhook), webhook
        assert {p["path"] for p in webhook} == {"/services/T0/B0/e2e-webhook-secret"}
        assert sweep.status() == "RUNNING"
        stack.sfn.stop_execution(executionArn=sweep.arn)
    finally:
        subscribe_confirmed(stack.endpoint, topic_arn, APPROVER_EMAIL)


def _post_slack_action(stack: LocalStack, body: bytes, secret: str) -> tuple[int, str]:
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    url = stack.env["KEYWARD_APPROVAL_BASE_URL"] + "/slack/actions"
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        },
    )
    try:
        with HTTP.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_approval_checks_slacks_signature_with_the_signing_secret_from_the_secret(stack: LocalStack) -> None:
    body = b"payload=%7B%7D"
    status, text = _post_slack_action(stack, body, "not-the-signing-secret")
    assert status == 401, (status, text)
    # Signed with the secret's value: past the signature, refused only for what the payload lacks.
    status, text = _post_slack_action(stack, body, SIGNING_SECRET)
    assert status == 400, (status, text)
    assert "not configured" not in text
