"""Driving the running local stack from outside, as a user and an approver would (the demo, the
end-to-end tests and the benchmark share it): run `scripts/local-stack`, read target/local-stack/env,
seed IAM users and backdate their keys through the test hook, follow executions of the real state
machine, and find the approval link in the SNS messages the emulator recorded (the confirm page is
keyward_local.browser's).

Every wait is bounded; every HTTP request goes to 127.0.0.1, never through a proxy the environment
may name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TypedDict

from mypy_boto3_iam import IAMClient
from mypy_boto3_s3 import S3Client
from mypy_boto3_stepfunctions import SFNClient
from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

from keyward_local.console import LocalStackError, http_json, wait_until
from keyward_local.paths import CONFIG_FILE, CONFIG_VARS, ENV_FILE, ORG_VARS, ROOT, STRICT_VARS, THROTTLE_VAR
from keyward_local.run_report import RunReport

#: How long the seeder waits for IAM to show a key it made inactive.
SETTLE_SECONDS = 30

#: A console password the emulator accepts (IAM's default password policy).
PASSWORD = "Local-stack-password-1!"

#: The tags that exempt a user (keyward_core::exemption): until a day, inclusive (UTC), and why.
EXEMPT_UNTIL_TAG = "keyward:exempt-until"
EXEMPT_REASON_TAG = "keyward:exempt-reason"


def exemption_tags(until: dt.date, reason: str) -> dict[str, str]:
    """The tags that exempt a user through `until`, for `reason` (in IAM's tag-value characters)."""
    return {EXEMPT_UNTIL_TAG: until.isoformat(), EXEMPT_REASON_TAG: reason}


APPROVAL_LINK = re.compile(r"https?://[^\s<>\"')\]]+/approvals/[0-9A-Za-z_-]+")


class SnsMessage(TypedDict):
    """One message the emulator recorded (GET /_keyward/sns-messages)."""

    topic_arn: str
    message_id: str
    subject: str | None
    message: str


def local_stack(
    command: str, settings: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `scripts/local-stack <command>` and returns the CompletedProcess (output in .stdout). For
    `up`, `settings` is the whole configuration: variables of the caller's environment that `up`
    reads (KEYWARD_MODE=..., IAM_THROTTLE_RPS, IAM_READ_LAG_SECONDS, KEYWARD_SCOPE, ...) are not passed on."""
    return subprocess.run(
        [str(ROOT / "scripts" / "local-stack"), command],
        cwd=ROOT,
        env=local_stack_env(settings or {}),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )


def local_stack_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment `local_stack` runs scripts/local-stack in: the caller's, without any variable
    `up` reads, plus `settings`."""
    ignored = {*CONFIG_VARS, THROTTLE_VAR, *STRICT_VARS, *ORG_VARS}
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env.update(settings)
    return env


def load_env(export: bool = True) -> dict[str, str]:
    """target/local-stack/env as a dict; with `export`, also into os.environ (boto3 reads the endpoint,
    credentials and region from there)."""
    if not ENV_FILE.exists():
        raise LocalStackError(f"{ENV_FILE.relative_to(ROOT)} does not exist: is the local stack up?")
    env = {}
    for raw in ENV_FILE.read_text().splitlines():
        if "=" in raw and not raw.lstrip().startswith("#"):
            key, value = raw.split("=", 1)
            env[key.strip()] = value.strip()
    if export:
        os.environ.update(env)
    return env


def stack_settings() -> dict[str, str]:
    """The configuration the running stack was brought up with (KEYWARD_MODE=..., as given to `up`)."""
    try:
        return dict(json.loads(CONFIG_FILE.read_text()).get("settings", {}))
    except (OSError, ValueError):
        return {}


def rfc3339(at: dt.datetime) -> str:
    """`at` in UTC, whole seconds, with a Z."""
    return at.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------------
# IAM: seeding and reading back


class Seeder:
    """Creates users and keys in the emulator, with key ages and last uses set through the test hook
    (`POST /_keyward/keys`), relative to `now`: in the stack's account, or in the member account
    `account_id` with `iam` a client in it (keyward_local.org.member_seeder)."""

    def __init__(
        self,
        iam: IAMClient,
        endpoint: str,
        prefix: str,
        now: dt.datetime | None = None,
        account_id: str | None = None,
    ):
        self.iam = iam
        self.endpoint = endpoint
        self.prefix = prefix
        self.account_id = account_id
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.users: list[tuple[str, str]] = []  # (user name, what it shows)

    @property
    def names(self) -> list[str]:
        """The users created so far."""
        return [name for name, _ in self.users]

    def user(
        self, short: str, shows: str = "", path: str = "/", console: bool = False, tags: dict[str, str] | None = None
    ) -> str:
        """Creates the user `<prefix>-<short>` (with a console password, tags); `shows` says what it
        is there for."""
        name = f"{self.prefix}-{short}"
        if tags:
            self.iam.create_user(UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        else:
            self.iam.create_user(UserName=name, Path=path)
        if console:
            self.iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
        self.users.append((name, shows))
        return name

    def key(self, user: str, age_days: int, used_days_ago: int | None, active: bool = True) -> str:
        """Creates an access key of `user` aged and last used as given; returns its id."""
        key_id = self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        self.backdate(user, key_id, age_days, used_days_ago)
        if not active:
            self.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
            # IAM's reads lag behind an update (the emulator's IAM_READ_LAG_SECONDS): wait until they
            # show the key inactive, so what a caller reads next is what a sweep will see.
            wait_until(
                f"IAM to show the key {key_id} inactive",
                lambda: key_statuses(self.iam, [user]).get(key_id, ("", ""))[1] == "Inactive" or None,
                SETTLE_SECONDS,
                poll=0.25,
            )
        return key_id

    def backdate(self, user: str, key_id: str, age_days: int, used_days_ago: int | None) -> None:
        """Sets the key's creation `age_days` (and an hour) ago and its last use `used_days_ago` days ago
        (None: never used), as ListAccessKeys, GetAccessKeyLastUsed and the credential report see them."""
        created = self.now - dt.timedelta(days=age_days, hours=1)
        last_used = None if used_days_ago is None else rfc3339(self.now - dt.timedelta(days=used_days_ago))
        document = {"user": user, "access_key_id": key_id, "created": rfc3339(created), "last_used": last_used}
        if last_used:  # a key never used has no last service or region
            document.update({"last_used_service": "s3", "last_used_region": "us-east-1"})
        if self.account_id is not None:
            document["account_id"] = self.account_id
        http_json("POST", f"{self.endpoint}/_keyward/keys", document)

    def mfa(self, user: str) -> None:
        """Gives `user` an enabled virtual MFA device."""
        serial = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]["SerialNumber"]
        self.iam.enable_mfa_device(
            UserName=user, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )


def remove_user(iam: IAMClient, name: str) -> None:
    """Deletes a user and what IAM requires gone first: keys, MFA devices, login profile."""
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for device in iam.list_mfa_devices(UserName=name)["MFADevices"]:
        iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
        iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
    try:
        iam.delete_login_profile(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        pass
    iam.delete_user(UserName=name)


def user_names(iam: IAMClient, prefix: str = "") -> list[str]:
    """Every user whose name starts with `prefix`."""
    names: list[str] = []
    for page in iam.get_paginator("list_users").paginate():
        names += [u["UserName"] for u in page["Users"] if u["UserName"].startswith(prefix)]
    return names


def key_statuses(iam: IAMClient, users: list[str]) -> dict[str, tuple[str, str]]:
    """Every key of these users, read from IAM now: key id -> (user, "Active" | "Inactive")."""
    keys: dict[str, tuple[str, str]] = {}
    for user in users:
        for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            keys[key["AccessKeyId"]] = (user, key["Status"])
    return keys


# --------------------------------------------------------------------------------------------------
# Executions


def sns_messages(endpoint: str, topic_arn: str) -> list[SnsMessage]:
    """Every message published to the topic, oldest first (the emulator's record)."""
    query = urllib.parse.urlencode({"topic_arn": topic_arn})
    messages = http_json("GET", f"{endpoint}/_keyward/sns-messages?{query}")
    if not isinstance(messages, list):
        raise LocalStackError(f"GET /_keyward/sns-messages answered {messages!r}, not a list")
    decoded: list[SnsMessage] = messages  # the emulator's hooks.SnsMessage, as JSON
    return decoded


def approval_link(messages: list[SnsMessage], execution_name: str) -> tuple[SnsMessage, str] | None:
    """The approval request of this execution among the messages, and its link."""
    for message in messages:
        text = message.get("message") or ""
        found = APPROVAL_LINK.search(text)
        if found and execution_name in text:
            return message, found.group(0)
    return None


def states_entered(sfn: SFNClient, execution_arn: str) -> list[str]:
    """The names of the states the execution entered, in order (the Map's own children excluded)."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if e.get("stateEnteredEventDetails")]


def read_report(s3: S3Client, bucket: str, execution_name: str) -> RunReport | None:
    """runs/<execution>/report.json, or None while it does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"runs/{execution_name}/report.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    report: RunReport = json.loads(body)
    return report


# --------------------------------------------------------------------------------------------------
# Following an execution, for a person watching it


#: How often a Follower says it is still waiting.
PROGRESS_SECONDS = 10


class Follower:
    """Follows one execution: prints the states it enters and its failures as they happen."""

    def __init__(self, sfn: SFNClient, execution_arn: str):
        self.sfn = sfn
        self.arn = execution_arn
        self.seen = 0
        self.started = time.monotonic()
        self.last_print = time.monotonic()
        self.current = "(starting)"
        self.status = "RUNNING"

    def elapsed(self) -> str:
        """Time since the execution started, for the lines it prints."""
        return f"{time.monotonic() - self.started:6.1f} s"

    def poll(self) -> str:
        """Prints new state transitions; returns the execution's status."""
        events: list[HistoryEventTypeDef]
        try:
            events = self.sfn.get_execution_history(executionArn=self.arn, maxResults=1000)["events"]
        except Exception as error:  # the history is for show: never fail the demo on it
            events = []
            if time.monotonic() - self.last_print >= PROGRESS_SECONDS:
                print(f"    (execution history unavailable: {type(error).__name__})", flush=True)
        for event in events[self.seen :]:
            kind = event["type"]
            entered = event.get("stateEnteredEventDetails")
            if entered:
                self.current = entered.get("name", "?")
                print(f"    {self.elapsed()}  -> {self.current}", flush=True)
                self.last_print = time.monotonic()
            elif kind in (
                "MapRunStarted",
                "MapRunSucceeded",
                "MapRunFailed",
                "TaskFailed",
                "LambdaFunctionFailed",
                "ExecutionFailed",
                "ExecutionTimedOut",
                "ExecutionAborted",
                "TaskTimedOut",
            ):
                details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
                extra = " ".join(f"{k}={details[k]}" for k in ("error", "cause") if details.get(k))
                print(f"    {self.elapsed()}     {kind} {extra[:300]}".rstrip(), flush=True)
                self.last_print = time.monotonic()
        self.seen = max(self.seen, len(events))
        self.status = self.sfn.describe_execution(executionArn=self.arn)["status"]
        return self.status

    def progress(self, waiting_for: str) -> None:
        """A line every PROGRESS_SECONDS while nothing else was printed."""
        if time.monotonic() - self.last_print >= PROGRESS_SECONDS:
            print(
                f"    {self.elapsed()}     still {self.status}, in {self.current}; waiting for {waiting_for}",
                flush=True,
            )
            self.last_print = time.monotonic()
