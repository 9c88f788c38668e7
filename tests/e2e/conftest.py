"""End-to-end tests on the local stack (DESIGN.md section 6 and 7.5): the real state machine
(statemachine/keyward.asl.json) executed by moto's Step Functions engine, the real handlers served by
`cargo lambda watch`, emulated IAM, S3, SNS and DynamoDB. Nothing here is a fake.

The suite owns the local stack while it runs: each test module names the configuration it needs
(`SETTINGS`, the variables `scripts/local-stack up` reads), and the `stack` fixture brings the stack
up with exactly that configuration, restarting it (`down`, `up`) when the module's configuration
differs from the running one, and on first use, so every module starts from an empty emulator. At the
end of the session the suite stops what it started (KEYWARD_E2E_KEEP_STACK=1 leaves it up to look
at). A stack that does not come up fails every test that needs it: nothing is skipped.

Runs are serial: a sweep reads the whole (emulated) account, so each test starts from an account with
no users (`account` fixture) and seeds its own.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "local_stack"))

import stackkit  # noqa: E402

#: The configuration of the approve-mode modules (test_approve*.py), so they share one stack: the
#: approval timeout is the shortest the configuration allows (60 s), so that the timeout path runs in a
#: minute; the cap is 5, so that six planned keys exceed it; UNUSED_KEY_DAYS is 30, so that a key can be
#: unused without being too old; IAM_MAX_RPS is raised because the emulator does not throttle here
#: (test_throttled.py is the throttled sweep).
APPROVE_SETTINGS = {
    "KEYWARD_MODE": "approve",
    "APPROVAL_TIMEOUT_SECONDS": "60",
    "MAX_DEACTIVATIONS_PER_RUN": "5",
    "UNUSED_KEY_DAYS": "30",
    "EXEMPT_USERS": "/breakglass/",
    "IAM_MAX_RPS": "200",
}

#: Bound on one run up to the approval request, or from the decision to the end.
RUN_SECONDS = 180
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
        if settings == self.settings:
            return
        self.down()
        shown = " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        print(f"\n==> scripts/local-stack up with {shown}", flush=True)
        started = time.monotonic()
        try:
            done = stackkit.local_stack("up", settings, timeout=UP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scripts/local-stack up did not finish within {UP_SECONDS} s")
        self.started = True  # `up` may have started a part before failing: `down` stops it
        if done.returncode != 0:
            pytest.fail(f"scripts/local-stack up failed (exit {done.returncode}):\n{done.stdout[-4000:]}")
        print(f"    up in {time.monotonic() - started:.1f} s", flush=True)
        self.settings = dict(settings)
        self.env = stackkit.load_env()
        session = boto3.session.Session()
        self.iam = session.client("iam")
        self.sfn = session.client("stepfunctions")
        self.s3 = session.client("s3")
        self.dynamodb = session.client("dynamodb")

    def down(self) -> None:
        """Stops the stack: the one this session started, or one it found running (the suite takes the
        local stack over)."""
        done = stackkit.local_stack("down")
        started, self.started, self.settings = self.started, False, None
        if started and done.returncode != 0:
            raise RuntimeError(f"scripts/local-stack down failed: {done.stdout}")

    # -- the account -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    def empty_account(self) -> None:
        for name in stackkit.user_names(self.iam):
            stackkit.remove_user(self.iam, name)

    def seeder(self, prefix: str) -> stackkit.Seeder:
        return stackkit.Seeder(self.iam, self.endpoint, prefix)

    def key_status(self, user: str, key_id: str) -> str | None:
        """ "Active", "Inactive", or None when the key (or the user) no longer exists."""
        try:
            keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except self.iam.exceptions.NoSuchEntityException:
            return None
        return next((k["Status"] for k in keys if k["AccessKeyId"] == key_id), None)

    def iam_calls(self) -> dict[str, int]:
        """IAM requests the emulator answered, by operation, since `up` (or the last reset)."""
        return stackkit.http_json("GET", f"{self.endpoint}/_keyward/iam-calls")

    def messages(self) -> list[dict[str, Any]]:
        return stackkit.sns_messages(self.endpoint, self.env["KEYWARD_TOPIC_ARN"])

    def approval_record(self, execution_name: str) -> dict[str, Any]:
        """The approvals table's item of this execution (the tests never see the id, only its hash)."""
        items = self.dynamodb.scan(TableName=self.env["KEYWARD_APPROVALS_TABLE"])["Items"]
        found = [i for i in items if i.get("execution_name", {}).get("S") == execution_name]
        assert len(found) == 1, f"expected one approval record of {execution_name}, found {len(found)}"
        return found[0]

    def inject(self, target: str, **fault: Any) -> None:
        """A failure the emulator injects (launcher.py, /_keyward/faults): target "lambda:<function>"
        or "sns:Publish"; count, after, match, error."""
        stackkit.http_json("PUT", f"{self.endpoint}/_keyward/faults", {"target": target, **fault})

    def faults(self) -> list[dict[str, Any]]:
        return stackkit.http_json("GET", f"{self.endpoint}/_keyward/faults")

    def clear_faults(self) -> None:
        stackkit.http_json("DELETE", f"{self.endpoint}/_keyward/faults")

    def sweep(self, label: str) -> Sweep:
        return Sweep(self, label)

    def lambda_log_tail(self, lines: int = 40) -> str:
        try:
            text = (stackkit.STATE_DIR / "lambda.log").read_text(errors="replace").splitlines()
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
        return self.stack.sfn.describe_execution(executionArn=self.arn)["status"]

    def states(self) -> list[str]:
        return stackkit.states_entered(self.stack.sfn, self.arn)

    def messages(self) -> list[dict[str, Any]]:
        """The SNS messages published since this sweep started (runs are serial)."""
        return self.stack.messages()[self.first_message :]

    def subjects(self) -> list[str]:
        return [m.get("subject") or "" for m in self.messages()]

    def report(self) -> dict[str, Any]:
        report = stackkit.read_report(self.stack.s3, self.stack.env["KEYWARD_REPORT_BUCKET"], self.name)
        assert report is not None, f"runs/{self.name}/report.json does not exist"
        return report

    def diagnosis(self) -> str:
        try:
            states = " -> ".join(self.states())
        except Exception as error:  # for the failure message only
            states = f"(history unavailable: {error})"
        return f"execution {self.name}: states {states}\nlambda.log errors:\n{self.stack.lambda_log_tail()}"

    def approval_link(self, seconds: float = RUN_SECONDS) -> str:
        """Waits for this run's approval request on the SNS topic and returns its link."""

        def check() -> str | None:
            found = stackkit.approval_link(self.messages(), self.name)
            if found:
                return found[1]
            status = self.status()
            if status != "RUNNING":
                pytest.fail(f"the run ended {status} without asking for approval\n{self.diagnosis()}")
            return None

        try:
            return stackkit.wait_until(f"the approval request of {self.name}", check, seconds)
        except stackkit.LocalStackError as error:
            pytest.fail(f"{error}\n{self.diagnosis()}")

    def finish(self, seconds: float = RUN_SECONDS) -> str:
        """Waits for the end of the run and returns its status (SUCCEEDED, FAILED, ...)."""
        try:
            return stackkit.wait_until(
                f"the end of {self.name}", lambda: (s := self.status()) != "RUNNING" and s, seconds
            )
        except stackkit.LocalStackError as error:
            pytest.fail(f"{error}\n{self.diagnosis()}")

    def succeeds(self, seconds: float = RUN_SECONDS) -> None:
        status = self.finish(seconds)
        assert status == "SUCCEEDED", f"the run ended {status}\n{self.diagnosis()}"


# --------------------------------------------------------------------------------------------------
# Fixtures

_STACK = LocalStack()


@pytest.fixture(scope="session")
def local_stack():
    yield _STACK
    if os.environ.get("KEYWARD_E2E_KEEP_STACK") == "1":
        print("\n==> KEYWARD_E2E_KEEP_STACK=1: the local stack stays up (scripts/local-stack down stops it)")
    else:
        _STACK.down()


@pytest.fixture(scope="module")
def stack(local_stack, request) -> LocalStack:
    """The local stack, up with the test module's SETTINGS."""
    local_stack.configure(request.module.SETTINGS)
    return local_stack


@pytest.fixture
def account(stack, request):
    """An account with no users and no injected faults, and a seeder whose users are named after the
    test. Faults a test injects are cleared after it."""
    stack.clear_faults()
    stack.empty_account()
    yield stack.seeder(request.node.name.removeprefix("test_").replace("_", "-")[:24])
    stack.clear_faults()


# --------------------------------------------------------------------------------------------------
# Reading a run report


def plan_keys(report: dict[str, Any]) -> set[str]:
    return {k["access_key_id"] for k in report["evaluation"]["plan"]["keys"]}


def plan_status(report: dict[str, Any]) -> str:
    return report["evaluation"]["plan"]["status"]["kind"]


def actions(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """key id -> outcome ({"kind": "deactivated"} or {"kind": "skipped", "reason": {...}} ...)."""
    return {a["access_key_id"]: a["outcome"] for a in report.get("actions") or []}


def findings(report: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    """(rule, user, key id or None) of every finding."""
    return {(f["rule"], f["user_name"], f["access_key_id"]) for f in report["evaluation"]["findings"]}


# --------------------------------------------------------------------------------------------------
# Accounts


def seed_three_violations(s: stackkit.Seeder) -> dict[str, str]:
    """Three planned keys, and keys that must never be planned: key id by what it shows."""
    keys = {}
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
    until = (s.now + dt.timedelta(days=365)).date().isoformat()
    tagged = s.user("tagged", tags={"keyward:exempt": f"until={until};reason=e2e"})
    keys["exempt-tag"] = s.key(tagged, age_days=200, used_days_ago=9)
    return keys
