"""make demo, after `scripts/local-stack up` (scripts/demo does both).

Seeds a small demo account in the emulator (one user per rule and edge), starts a named execution of
the real state machine, follows it, prints the findings digest and the approval link, waits for the
decision (or, with DEMO_AUTO_APPROVE=1, decides on the confirm page like a person would, unticking one
key on purpose), and prints the outcome: what was deactivated and skipped, and every demo key's status
read back from IAM. Exit 0 only if the execution succeeded and, with DEMO_AUTO_APPROVE=1, exactly the
approved keys are Inactive.

Each run uses a fresh prefix for its users and a fresh execution name, so the demo can run again on
the same stack; it first removes the users of earlier demo runs (users named demo-*), so every run
sweeps the same small account. Keys of any other user are never approved by the automatic approver.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
import time
from typing import Any

from stackkit import (
    LocalStackError,
    Seeder,
    approval_link,
    decide,
    key_statuses,
    load_env,
    open_page,
    read_report,
    remove_user,
    sns_messages,
    stack_settings,
    user_names,
)

POLL_SECONDS = 2
PROGRESS_SECONDS = 10
#: Bound on each stretch of automatic work: up to the approval request, and after the decision.
RUN_BOUND_SECONDS = 300
DEFAULT_APPROVAL_TIMEOUT = 86400
#: What the confirm page records as the approver's browser.
USER_AGENT = "keyward-demo (make demo, DEMO_AUTO_APPROVE=1)"


class DemoError(Exception):
    """A failure the demo reports and exits 1 on."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def line(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------------
# The demo account


def seed(iam, endpoint: str, prefix: str) -> list[tuple[str, str]]:
    now = dt.datetime.now(dt.timezone.utc)
    today = now.date()
    s = Seeder(iam, endpoint, prefix, now)

    u = s.user("alice", "console user without MFA, fresh active key -> no-mfa, key planned", console=True)
    s.key(u, age_days=10, used_days_ago=1)
    u = s.user("bob", "key 200 days old, used yesterday -> key-too-old")
    s.key(u, age_days=200, used_days_ago=1)
    u = s.user("carol", "key 120 days old, never used -> key-unused (and key-too-old)")
    s.key(u, age_days=120, used_days_ago=None)
    u = s.user("dave", "key 1 150 days old, key 2 fresh -> only key 1 planned")
    s.key(u, age_days=150, used_days_ago=2)
    s.key(u, age_days=5, used_days_ago=1)
    u = s.user("erin", "key 80 days old -> warning only, never acted on")
    s.key(u, age_days=80, used_days_ago=1)
    # A console user without MFA: checked live, so the inactive key is reported (a user whose only
    # finding would be an inactive key is screened out by the credential report under SCREENING=report).
    u = s.user(
        "frank", "console without MFA, only an inactive key 300 days old -> reported, never touched", console=True
    )
    s.key(u, age_days=300, used_days_ago=250, active=False)
    u = s.user("grace", "programmatic-only user without MFA -> not flagged (MFA_SCOPE=console)")
    s.key(u, age_days=20, used_days_ago=1)
    until = (today + dt.timedelta(days=30)).isoformat()
    u = s.user(
        "heidi",
        f"exempt by tag until {until}, key 200 days old -> held back",
        tags={"keyward:exempt": f"until={until};reason=demo"},
    )
    s.key(u, age_days=200, used_days_ago=3)
    expired = (today - dt.timedelta(days=10)).isoformat()
    u = s.user(
        "ivan",
        f"exemption tag expired {expired}, key 200 days old -> not exempt, planned",
        tags={"keyward:exempt": f"until={expired};reason=demo"},
    )
    s.key(u, age_days=200, used_days_ago=3)
    u = s.user(
        "judy",
        "path /breakglass/, console without MFA, key 200 days old -> exempt if EXEMPT_USERS has /breakglass/",
        path="/breakglass/",
        console=True,
    )
    s.key(u, age_days=200, used_days_ago=30)
    u = s.user("mallory", "console user with MFA, fresh used key -> compliant", console=True)
    s.mfa(u)
    s.key(u, age_days=30, used_days_ago=1)
    u = s.user("peggy", "console user without MFA and without keys -> no-mfa, nothing to deactivate", console=True)
    return s.users


# --------------------------------------------------------------------------------------------------
# Following the execution


class Follower:
    def __init__(self, sfn, execution_arn: str):
        self.sfn = sfn
        self.arn = execution_arn
        self.seen = 0
        self.started = time.monotonic()
        self.last_print = time.monotonic()
        self.current = "(starting)"
        self.status = "RUNNING"

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:6.1f} s"

    def poll(self) -> str:
        """Prints new state transitions; returns the execution's status."""
        try:
            events = self.sfn.get_execution_history(executionArn=self.arn, maxResults=1000)["events"]
        except Exception as error:  # the history is for show: never fail the demo on it
            events = []
            if time.monotonic() - self.last_print >= PROGRESS_SECONDS:
                line(f"    (execution history unavailable: {type(error).__name__})")
        for event in events[self.seen :]:
            kind = event.get("type", "")
            entered = event.get("stateEnteredEventDetails")
            if entered:
                self.current = entered.get("name", "?")
                line(f"    {self.elapsed()}  -> {self.current}")
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
                details = next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
                extra = " ".join(f"{k}={details[k]}" for k in ("error", "cause") if details.get(k))
                line(f"    {self.elapsed()}     {kind} {extra[:300]}".rstrip())
                self.last_print = time.monotonic()
        self.seen = max(self.seen, len(events))
        self.status = self.sfn.describe_execution(executionArn=self.arn)["status"]
        return self.status

    def progress(self, waiting_for: str) -> None:
        if time.monotonic() - self.last_print >= PROGRESS_SECONDS:
            line(f"    {self.elapsed()}     still {self.status}, in {self.current}; waiting for {waiting_for}")
            self.last_print = time.monotonic()


# --------------------------------------------------------------------------------------------------


def describe_outcome(outcome: dict[str, Any]) -> str:
    kind = outcome.get("kind")
    if kind == "skipped":
        reason = outcome.get("reason") or {}
        detail = reason.get("detail") or ", ".join(f"{k}={v}" for k, v in reason.items() if k != "kind")
        return f"skipped: {reason.get('kind')}{' (' + detail + ')' if detail else ''}"
    if kind == "failed":
        return f"FAILED: {outcome.get('error')}"
    return str(kind)


def main() -> int:
    import boto3

    auto_approve = os.environ.get("DEMO_AUTO_APPROVE", "") == "1"
    env = load_env()
    settings = stack_settings()
    endpoint = env["AWS_ENDPOINT_URL"]
    bucket = env["KEYWARD_REPORT_BUCKET"]
    topic_arn = env["KEYWARD_TOPIC_ARN"]
    machine = env["KEYWARD_STATE_MACHINE_ARN"]
    mode = settings.get("KEYWARD_MODE", "approve")
    approval_timeout = int(settings.get("APPROVAL_TIMEOUT_SECONDS") or DEFAULT_APPROVAL_TIMEOUT)

    session = boto3.session.Session()
    iam, sfn, s3 = session.client("iam"), session.client("stepfunctions"), session.client("s3")

    run_id = dt.datetime.now(dt.timezone.utc).strftime("%H%M") + secrets.token_hex(2)
    prefix = f"demo-{run_id}"
    execution_name = f"demo-{run_id}"
    demo_started = time.monotonic()

    # 1. the account: earlier demo runs' users go first, so every run sweeps the same small account
    # (their run reports stay in the bucket).
    earlier = user_names(iam, "demo-")
    if earlier:
        say(f"removing {len(earlier)} users of earlier demo runs (their run reports stay in the bucket)")
        for name in earlier:
            try:
                remove_user(iam, name)
            except Exception as error:  # a leftover user only makes the sweep bigger
                line(f"    could not remove {name}: {type(error).__name__}: {error}")
    say(f"seeding the demo account: users {prefix}-* in the emulator ({endpoint})")
    seeded = seed(iam, endpoint, prefix)
    for name, shows in seeded:
        line(f"    {name:20} {shows}")
    users = [name for name, _ in seeded]
    before = key_statuses(iam, users)
    line(f"    {len(users)} users, {len(before)} access keys, in {time.monotonic() - demo_started:.1f} s")

    # 2. the execution
    skip = len(sns_messages(endpoint, topic_arn))
    say(f"starting execution {execution_name} of {machine.rsplit(':', 1)[-1]} (mode {mode}, input {{}})")
    execution_arn = sfn.start_execution(stateMachineArn=machine, name=execution_name, input="{}")["executionArn"]
    line(f"    {execution_arn}")
    follower = Follower(sfn, execution_arn)

    digest_shown = False
    approval = None
    deadline = time.monotonic() + RUN_BOUND_SECONDS
    while True:
        status = follower.poll()
        messages = sns_messages(endpoint, topic_arn)[skip:]
        if messages and not digest_shown:
            digest_shown = True
            say(f"findings digest (SNS, subject: {messages[0].get('subject')})")
            for text_line in (messages[0].get("message") or "").splitlines():
                line(f"    | {text_line}")
        approval = approval_link(messages, execution_name)
        if approval or status != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise DemoError(
                f"execution {execution_name} is still {status} after {RUN_BOUND_SECONDS} s (in "
                f"{follower.current}); logs in target/local-stack/"
            )
        follower.progress("the digest and the approval request")
        time.sleep(POLL_SECONDS)

    approved: list[str] | None = None
    unticked: list[str] = []
    if approval:
        message, link = approval
        say(f"approval requested (SNS, subject: {message.get('subject')})")
        line(f"    approval link: {link}")
        if auto_approve:
            # 3a. decide like a person in the browser: open the page, untick one key, approve the rest.
            say("DEMO_AUTO_APPROVE=1: opening the confirm page and deciding like a person would")
            page = open_page(link, USER_AGENT)
            offered = page.keys
            line(f"    the page offers {len(offered)} keys, all ticked: {', '.join(offered)}")
            ours = {k for k, (u, _) in before.items()}
            others = [k for k in offered if k not in ours]
            mine = [k for k in offered if k in ours]
            if not mine:
                raise DemoError("the confirm page offers none of this run's keys")
            # untick one key on purpose: the one that is old but used yesterday (bob's), else the first.
            bob = [k for k in mine if before[k][0] == f"{prefix}-bob"]
            keep_active = bob[0] if bob else mine[0]
            unticked = [keep_active] + others
            approved = [k for k in mine if k != keep_active]
            line(f"    unticking {keep_active} ({before[keep_active][0]}) on purpose: it must stay Active")
            if others:
                line(f"    unticking {len(others)} keys of earlier demo runs: {', '.join(others)}")
            line(f"    approving {len(approved)} keys: {', '.join(approved)}")
            answer = decide(link, page.token, approved, "approve", USER_AGENT)
            if answer.status != 200:
                raise DemoError(f"the approval POST was refused: HTTP {answer.status}: {answer.text[:800]}")
            line(f"    the page answers: {answer.text[:300]}")
        else:
            # 3b. a person decides in the browser.
            say("open this link in a browser and decide; waiting…")
            line(f"    {link}")
            line(
                f"    (the link expires after APPROVAL_TIMEOUT_SECONDS={approval_timeout} s; Ctrl-C stops waiting, "
                "the execution keeps waiting)"
            )
        bound = approval_timeout + RUN_BOUND_SECONDS if not auto_approve else RUN_BOUND_SECONDS
        deadline = time.monotonic() + bound
        while True:
            status = follower.poll()
            if status != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise DemoError(
                    f"execution {execution_name} is still {status} after {bound} s (in "
                    f"{follower.current}); logs in target/local-stack/"
                )
            follower.progress("the decision" if "Approval" in follower.current else "the end of the run")
            time.sleep(POLL_SECONDS)
    elif status == "SUCCEEDED":
        line(f"    the run ended without asking for approval (mode {mode}, or an empty or capped plan)")

    say(f"execution {execution_name}: {status} after {time.monotonic() - follower.started:.1f} s")
    for message in sns_messages(endpoint, topic_arn)[skip + 1 :]:
        if approval and message is not None and message.get("message") == approval[0].get("message"):
            continue
        line(f"    SNS: {message.get('subject')}")

    # 4. the outcome, from the run report and from IAM
    report_key = f"runs/{execution_name}/report.json"
    report_url = f"s3://{bucket}/{report_key}"
    try:
        report = read_report(s3, bucket, execution_name)
        if report is None:
            line(f"    {report_url} does not exist")
    except Exception as error:
        report = None
        line(f"    could not read {report_url}: {type(error).__name__}: {error}")
    actions = (report or {}).get("actions") or []
    if report is not None:
        plan = [
            (k.get("user_name"), k.get("access_key_id"))
            for k in (report.get("evaluation", {}).get("plan", {}).get("keys") or [])
        ]
        decision = report.get("decision") or {}
        by = decision.get("decided_by") or {}
        say(
            f"the plan held {len(plan)} keys; decision: {len(decision.get('approved') or [])} approved"
            f" at {decision.get('decided_at', '-')} by {by.get('kind', '-')}"
            f" ({', '.join(f'{k}={v}' for k, v in by.items() if k != 'kind')})"
            if decision
            else f"the plan held {len(plan)} keys; no decision recorded"
        )
        inactive = report.get("evaluation", {}).get("inactive_keys") or []
        line(f"    inactive keys reported, never touched: {len(inactive)}")
        deactivated = [a for a in actions if (a.get("outcome") or {}).get("kind") == "deactivated"]
        others_done = [a for a in actions if (a.get("outcome") or {}).get("kind") != "deactivated"]
        say(f"deactivated ({len(deactivated)}):")
        for a in deactivated:
            line(f"    {a['access_key_id']}  {a['user_name']}")
        say(f"skipped or failed ({len(others_done)}):")
        for a in others_done:
            line(f"    {a['access_key_id']}  {a['user_name']}: {describe_outcome(a.get('outcome') or {})}")
        if not others_done:
            line("    none")
        not_approved = [(u, k) for u, k in plan if approved is not None and k not in approved]
        if not_approved:
            say(f"planned but not approved, so not acted on ({len(not_approved)}):")
            for u, k in not_approved:
                line(f"    {k}  {u}")

    after = key_statuses(iam, users)
    say("every demo key, read back from IAM now")
    for key_id, (user, status_now) in sorted(after.items(), key=lambda kv: (kv[1][0], kv[0])):
        was = before[key_id][1]
        note = ""
        if approved is not None and key_id in approved:
            note = "approved"
        elif key_id in unticked:
            note = "unticked on purpose"
        change = f"{was} -> {status_now}" if was != status_now else status_now
        line(f"    {user:20} {key_id}  {change:20} {note}")
    for key_id in unticked:
        if key_id not in after:
            continue
        line(f"    the unticked key {key_id} ({after[key_id][0]}) is {after[key_id][1]}")

    say("the run report (the audit record)")
    line(f"    {report_url}")
    line("    fetch it:  set -a; . target/local-stack/env; set +a")
    line(
        f'               .venv/bin/python -c \'import boto3; print(boto3.client("s3").get_object(Bucket="{bucket}", '
        f'Key="{report_key}")["Body"].read().decode())\''
    )

    # 5. the verdict
    problems = []
    if status != "SUCCEEDED":
        problems.append(f"the execution ended {status}, not SUCCEEDED")
    if auto_approve and approval is None:
        problems.append("no approval was requested, so nothing could be approved (is KEYWARD_MODE=approve?)")
    if auto_approve and approved is not None:
        became_inactive = {k for k, (_, s) in after.items() if s == "Inactive" and before[k][1] == "Active"}
        if became_inactive != set(approved):
            problems.append(
                f"the keys made Inactive {sorted(became_inactive)} are not exactly the approved keys {sorted(approved)}"
            )
        for key_id in unticked:
            if key_id in after and after[key_id][1] != "Active":
                problems.append(f"the unticked key {key_id} is {after[key_id][1]}, not Active")
        for key_id, (_, was) in before.items():
            if was == "Inactive" and after.get(key_id, ("", ""))[1] != "Inactive":
                problems.append(f"the key {key_id} was Inactive and is now {after.get(key_id)}")
    line()
    line(
        f"demo took {time.monotonic() - demo_started:.1f} s. The stack is still up: run it again with make demo, "
        "stop it with scripts/local-stack down."
    )
    if problems:
        for problem in problems:
            print(f"demo FAILED: {problem}", file=sys.stderr)
        return 1
    if auto_approve:
        say(f"demo OK: the execution SUCCEEDED and exactly the {len(approved or [])} approved keys are Inactive")
    else:
        say("demo OK: the execution SUCCEEDED")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (DemoError, LocalStackError) as error:
        print(f"demo FAILED: {error}", file=sys.stderr)
        print(
            "the stack is still up (logs in target/local-stack/); stop it with scripts/local-stack down",
            file=sys.stderr,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; the stack is still up (scripts/local-stack down stops it)", file=sys.stderr)
        sys.exit(130)
