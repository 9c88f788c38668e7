"""What the end-to-end tests share besides their fixtures: the local stack as the tests drive it
(`LocalStack`, one `Sweep` per execution), the approve-mode modules' configuration, readers of a run
report, and the account most tests seed. conftest.py builds the fixtures from these; the tests
import them from here."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from keyward_local import client, oidc
from keyward_local.console import LocalStackError, http_json, wait_until
from keyward_local.emulator.faults import Fault
from keyward_local.paths import ACCOUNT_ID, STATE_DIR
from keyward_local.run_report import Decision, Outcome, RunReport
from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

#: The configuration of the approve-mode modules (test_approve*.py), so they share one stack: the
#: approval timeout is the shortest the configuration allows (60 s), so that the timeout path runs in a
#: minute; the cap is 5, so that six planned keys exceed it; UNUSED_KEY_DAYS is 30, so that a key can be
#: unused without being too old; IAM_MAX_RPS is raised because the emulator does not throttle here
#: (test_report_mode.py::test_a_throttled_sweep_evaluates_every_user_and_finds_the_same is the
#: throttled sweep). Approvers sign in through the local OpenID provider (APPROVER_AUTH=oidc, the local
#: stack's default): `approver` matched by its verified address, `approver2` by its subject.
APPROVE_SETTINGS = {
    "KEYWARD_MODE": "approve",
    "APPROVAL_TIMEOUT_SECONDS": "60",
    "MAX_DEACTIVATIONS_PER_RUN": "5",
    "UNUSED_KEY_DAYS": "30",
    "EXEMPT_USERS": "/breakglass/",
    "IAM_MAX_RPS": "200",
    "APPROVERS": f"approver@example.com,sub:{oidc.APPROVER2}",
}
#: The approve-mode configuration with the bearer link (APPROVER_AUTH=link): for the modules that test
#: the link itself (what a scanner or a forger can do with it) or requests as they reach the function.
LINK_SETTINGS = {
    **{k: v for k, v in APPROVE_SETTINGS.items() if k != "APPROVERS"},
    "APPROVER_AUTH": "link",
}

#: The organisation modules' configuration (test_org_*.py), so they share one stack: three member
#: accounts; the management account excluded (its id is the only one known before `up`: the members'
#: are made by CreateAccount), so it is discovered and named in the coverage but never swept;
#: approval by the local OpenID provider's `approver`; UNUSED_KEY_DAYS and IAM_MAX_RPS as in
#: APPROVE_SETTINGS.
ORG_SETTINGS = {
    "KEYWARD_SCOPE": "organization",
    "ORG_MEMBER_ACCOUNTS": "3",
    "ORG_EXCLUDE": ACCOUNT_ID,
    "KEYWARD_MODE": "approve",
    "UNUSED_KEY_DAYS": "30",
    "IAM_MAX_RPS": "200",
    "APPROVERS": "approver@example.com",
}

#: Bound on one run up to the approval request, or from the decision to the end.
RUN_SECONDS = 180
#: How often a wait on a run looks again: a run's end or its approval request is seen within this
#: (a status read is one cheap request), where the default second cost half a second a wait on average.
RUN_POLL_SECONDS = 0.25
#: Bound on `scripts/local-stack up` (it may build the six functions first).
UP_SECONDS = 900


class LocalStack:
    """The local stack as the tests drive it: clients for the emulator, and the stack's resources."""

    def __init__(self) -> None:
        self.settings: dict[str, str] | None = None
        self.started = False
        self.env: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def configure(self, settings: dict[str, str]) -> None:
        """Brings the stack up with exactly `settings` (down first when another configuration runs)."""
        if settings == self.settings:
            return
        self.down()
        shown = " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        print(f"\n==> scripts/local-stack up with {shown}", flush=True)
        started = time.monotonic()
        try:
            done = client.local_stack("up", settings, timeout=UP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scripts/local-stack up did not finish within {UP_SECONDS} s")
        self.started = True  # `up` may have started a part before failing: `down` stops it
        if done.returncode != 0:
            pytest.fail(f"scripts/local-stack up failed (exit {done.returncode}):\n{done.stdout[-4000:]}")
        print(f"    up in {time.monotonic() - started:.1f} s", flush=True)
        self.settings = dict(settings)
        self.env = client.load_env()
        session = boto3.session.Session()
        self.iam = session.client("iam")
        self.sfn = session.client("stepfunctions")
        self.s3 = session.client("s3")
        self.dynamodb = session.client("dynamodb")

    def down(self) -> None:
        """Stops the stack: the one this session started, or one it found running (the suite takes the
        local stack over)."""
        done = client.local_stack("down")
        started, self.started, self.settings = self.started, False, None
        if started and done.returncode != 0:
            raise RuntimeError(f"scripts/local-stack down failed: {done.stdout}")

    # -- the account -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The emulator's endpoint (AWS_ENDPOINT_URL)."""
        return self.env["AWS_ENDPOINT_URL"]

    def empty_account(self) -> None:
        """Removes every IAM user and the credential report: the emulator, like IAM, would otherwise
        hand the next sweep the last test's report for four hours."""
        for name in client.user_names(self.iam):
            client.remove_user(self.iam, name)
        http_json("DELETE", f"{self.endpoint}/_keyward/credential-report")

    def iam_strict(self, **knobs: float) -> dict[str, float]:
        """The emulator's strictness knobs (read_lag_seconds, report_delay_seconds, page_items), changed
        first when given."""
        if knobs:
            http_json("PUT", f"{self.endpoint}/_keyward/iam-strict", dict(knobs))
        settings = http_json("GET", f"{self.endpoint}/_keyward/iam-strict")
        assert isinstance(settings, dict), f"GET /_keyward/iam-strict answered {settings!r}"
        return {str(k): float(v) for k, v in settings.items()}

    def seeder(self, prefix: str) -> client.Seeder:
        """A seeder whose users are named <prefix>-<who>."""
        return client.Seeder(self.iam, self.endpoint, prefix)

    def key_status(self, user: str, key_id: str) -> str | None:
        """ "Active", "Inactive", or None when the key (or the user) no longer exists."""
        try:
            keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except self.iam.exceptions.NoSuchEntityException:
            return None
        return next((k["Status"] for k in keys if k["AccessKeyId"] == key_id), None)

    def iam_calls(self) -> dict[str, int]:
        """IAM requests the emulator answered, by operation, since `up` (or the last reset)."""
        return self._counts("iam-calls")

    def iam_throttled(self) -> dict[str, int]:
        """IAM requests the emulator throttled, by operation, since `up`."""
        return self._counts("iam-throttled")

    def throttle_iam(self, rps: float | None) -> None:
        """Sets the emulator's IAM throttle (None: none)."""
        http_json("PUT", f"{self.endpoint}/_keyward/iam-throttle", {"rps": rps})

    def _counts(self, hook: str) -> dict[str, int]:
        counts = http_json("GET", f"{self.endpoint}/_keyward/{hook}")
        assert isinstance(counts, dict), f"GET /_keyward/{hook} answered {counts!r}"
        return {str(k): int(v) for k, v in counts.items()}

    def messages(self) -> list[client.SnsMessage]:
        """Every message published to the stack's topic, oldest first."""
        return client.sns_messages(self.endpoint, self.env["KEYWARD_TOPIC_ARN"])

    def approval_record(self, execution_name: str) -> dict[str, AttributeValueTypeDef]:
        """The approvals table's item of this execution (the tests never see the id, only its hash)."""
        items = self.dynamodb.scan(TableName=self.env["KEYWARD_APPROVALS_TABLE"])["Items"]
        found = [i for i in items if i.get("execution_name", {}).get("S") == execution_name]
        assert len(found) == 1, f"expected one approval record of {execution_name}, found {len(found)}"
        return found[0]

    def inject(self, target: str, **fault: str | int | None) -> None:
        """A failure the emulator injects (keyward_local.emulator, /_keyward/faults): target
        "lambda:<function>" or "sns:Publish"; count, after, match, error."""
        http_json("PUT", f"{self.endpoint}/_keyward/faults", {"target": target, **fault})

    def faults(self) -> list[Fault]:
        """The injected faults, with how many requests each has failed."""
        faults = http_json("GET", f"{self.endpoint}/_keyward/faults")
        assert isinstance(faults, list), f"GET /_keyward/faults answered {faults!r}"
        decoded: list[Fault] = faults  # the emulator's faults.Fault, as JSON
        return decoded

    def clear_faults(self) -> None:
        """Removes every injected fault (the emulator's, and the OpenID provider's when it runs)."""
        http_json("DELETE", f"{self.endpoint}/_keyward/faults")
        if "OIDC_PORT" in self.env:
            oidc.clear_faults(self.issuer)

    @property
    def issuer(self) -> str:
        """The local OpenID provider's issuer (OIDC_ISSUER), under APPROVER_AUTH=oidc."""
        return self.env["OIDC_ISSUER"]

    def id_token_fault(self, mode: str) -> None:
        """Makes the next ID token the local OpenID provider issues wrong in the way `mode` names
        (oidc.FAULT_MODES)."""
        oidc.inject_fault(self.issuer, mode)

    def sweep(self, label: str) -> Sweep:
        """Starts one execution, named after `label`."""
        return Sweep(self, label)

    def lambda_log_tail(self, lines: int = 40) -> str:
        """The last error and warning lines of cargo lambda watch's log."""
        try:
            text = (STATE_DIR / "lambda.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no lambda.log)"
        wanted = [line for line in text if "ERROR" in line or "WARN" in line or "error" in line]
        return "\n".join(wanted[-lines:])


class Sweep:
    """One named execution of the state machine, started with input {} as the schedule starts it."""

    def __init__(self, stack: LocalStack, label: str):
        self.stack = stack
        self.name = f"e2e-{label}-{uuid.uuid4().hex[:8]}"
        self.first_message = len(stack.messages())
        self.arn = stack.sfn.start_execution(
            stateMachineArn=stack.env["KEYWARD_STATE_MACHINE_ARN"], name=self.name, input="{}"
        )["executionArn"]

    def status(self) -> str:
        """The execution's status (RUNNING, SUCCEEDED, FAILED, ...)."""
        return self.stack.sfn.describe_execution(executionArn=self.arn)["status"]

    def states(self) -> list[str]:
        """The names of the states the execution entered, in order."""
        return client.states_entered(self.stack.sfn, self.arn)

    def messages(self) -> list[client.SnsMessage]:
        """The SNS messages published since this sweep started (runs are serial)."""
        return self.stack.messages()[self.first_message :]

    def subjects(self) -> list[str]:
        """The subjects of this sweep's SNS messages."""
        return [m.get("subject") or "" for m in self.messages()]

    def report(self) -> RunReport:
        """This run's report (it must exist)."""
        report = client.read_report(self.stack.s3, self.stack.env["KEYWARD_REPORT_BUCKET"], self.name)
        assert report is not None, f"runs/{self.name}/report.json does not exist"
        return report

    def diagnosis(self) -> str:
        """What a failure message shows: the states entered and the functions' errors."""
        try:
            states = " -> ".join(self.states())
        except Exception as error:  # for the failure message only
            states = f"(history unavailable: {error})"
        return f"execution {self.name}: states {states}\nlambda.log errors:\n{self.stack.lambda_log_tail()}"

    def approval_link(self, seconds: float = RUN_SECONDS) -> str:
        """Waits for this run's approval request on the SNS topic and returns its link."""

        def check() -> str | None:
            found = client.approval_link(self.messages(), self.name)
            if found:
                return found[1]
            status = self.status()
            if status != "RUNNING":
                pytest.fail(f"the run ended {status} without asking for approval\n{self.diagnosis()}")
            return None

        try:
            return wait_until(f"the approval request of {self.name}", check, seconds, poll=RUN_POLL_SECONDS)
        except LocalStackError as error:
            pytest.fail(f"{error}\n{self.diagnosis()}")

    def finish(self, seconds: float = RUN_SECONDS) -> str:
        """Waits for the end of the run and returns its status (SUCCEEDED, FAILED, ...)."""
        try:
            return wait_until(
                f"the end of {self.name}",
                lambda: (s := self.status()) != "RUNNING" and s or None,
                seconds,
                poll=RUN_POLL_SECONDS,
            )
        except LocalStackError as error:
            pytest.fail(f"{error}\n{self.diagnosis()}")

    def succeeds(self, seconds: float = RUN_SECONDS) -> None:
        """Waits for the end of the run and asserts it SUCCEEDED."""
        status = self.finish(seconds)
        assert status == "SUCCEEDED", f"the run ended {status}\n{self.diagnosis()}"


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, for a receiver a module's stack settings name."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ResponseUrl:
    """Slack's response_url, played on 127.0.0.1 (SLACK_RESPONSE_URL_PREFIX, which only the local stack
    sets): every post is kept, and answered after `delay` seconds."""

    port: int
    team: str
    delay: float = 0.0
    posts: list[dict[str, object]] = field(default_factory=list)

    def url(self, path: str) -> str:
        """A response_url of this server, as Slack would send one (`/actions/<team>/<id>/<secret>`)."""
        return f"http://127.0.0.1:{self.port}/actions/{self.team}/{path}"

    def received(self, path: str) -> list[dict[str, object]]:
        """The payloads posted to `path` so far, oldest first."""
        return [p for p in list(self.posts) if p["path"] == f"/actions/{self.team}/{path}"]

    def wait_for(self, path: str, seconds: float) -> dict[str, object]:
        """The first payload posted to `path`, waiting at most `seconds` for it."""
        try:
            return wait_until(
                f"a post to the response_url {path}", lambda: next(iter(self.received(path)), None), seconds
            )
        except LocalStackError as error:
            pytest.fail(str(error))


@contextmanager
def serve_response_url(port: int, team: str, delay: float = 0.0) -> Iterator[ResponseUrl]:
    """A response_url server on 127.0.0.1:`port`, stopped on leaving."""
    state = ResponseUrl(port, team, delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null")
            time.sleep(state.delay)
            state.posts.append({"path": self.path, "payload": payload, "at": time.monotonic()})
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows what the assertions say."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="response-url", daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def assert_still_waiting(stack: LocalStack, sweep: Sweep, key_owner: str, key_id: str) -> None:
    """Nothing was decided: the run waits, the record is pending, the key is Active."""
    assert sweep.status() == "RUNNING"
    assert sweep.states()[-1] == "Request Approval", sweep.states()
    assert stack.approval_record(sweep.name)["state"]["S"] == "pending"
    assert sweep.report().get("decision") is None
    assert stack.key_status(key_owner, key_id) == "Active"


# --------------------------------------------------------------------------------------------------
# Reading a run report


def plan_keys(report: RunReport) -> set[str]:
    """The key ids of the run's plan."""
    return {k["access_key_id"] for k in report["evaluation"]["plan"]["keys"]}


def plan_status(report: RunReport) -> str:
    """The plan's status (awaiting-approval, automatic, cap-exceeded, …)."""
    return report["evaluation"]["plan"]["status"]["kind"]


def actions(report: RunReport) -> dict[str, Outcome]:
    """key id -> outcome ({"kind": "deactivated"} or {"kind": "skipped", "reason": {...}} ...)."""
    return {a["access_key_id"]: a["outcome"] for a in report.get("actions") or []}


def findings(report: RunReport) -> set[tuple[str, str, str | None]]:
    """(rule, user, key id or None) of every finding."""
    return {(f["rule"], f["user_name"], f["access_key_id"]) for f in report["evaluation"]["findings"]}


# --------------------------------------------------------------------------------------------------
# Accounts


def decision(report: RunReport) -> Decision:
    """The run's recorded decision (it must have one)."""
    recorded = report["decision"]
    assert recorded is not None, f"runs/{report['execution_name']}/report.json records no decision"
    return recorded


def seed_three_violations(s: client.Seeder) -> dict[str, str]:
    """Three planned keys, and keys that must never be planned: key id by what it shows."""
    keys: dict[str, str] = {}
    keys["no-mfa"] = s.key(s.user("console", console=True), age_days=10, used_days_ago=1)
    keys["too-old"] = s.key(s.user("old"), age_days=200, used_days_ago=1)
    keys["unused"] = s.key(s.user("idle"), age_days=60, used_days_ago=45)
    warned = s.user("warned")
    keys["warned"] = s.key(warned, age_days=80, used_days_ago=1)
    # A console user without MFA whose only key is inactive: checked live (no-mfa), and its inactive
    # key is reported, never touched. (Under SCREENING=report a user whose only finding would be an
    # inactive key is not checked live, so its key is not listed: see the README.)
    keys["inactive"] = s.key(s.user("inactive", console=True), age_days=300, used_days_ago=250, active=False)
    keys["exempt-path"] = s.key(s.user("glass", path="/breakglass/"), age_days=200, used_days_ago=9)
    tagged = s.user("tagged", tags=client.exemption_tags((s.now + dt.timedelta(days=30)).date(), "e2e"))
    keys["exempt-tag"] = s.key(tagged, age_days=200, used_days_ago=9)
    return keys
