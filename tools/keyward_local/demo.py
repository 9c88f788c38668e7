"""make demo, after `scripts/local-stack up` (scripts/demo does both): `python -m keyward_local.demo`.

Seeds a small demo account in the emulator (one user per rule and edge), starts a named execution of
the real state machine, follows it, prints the findings digest and the approval link, waits for the
decision (or, with DEMO_AUTO_APPROVE=1, signs in as `approver` at the local OpenID provider when
APPROVER_AUTH=oidc, the local stack's default, and decides on the confirm page like a person would,
unticking one key on purpose), and prints the outcome: what was deactivated and skipped, and every demo key's status
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
from dataclasses import dataclass, field

import boto3
from mypy_boto3_iam import IAMClient
from mypy_boto3_s3 import S3Client
from mypy_boto3_stepfunctions import SFNClient

from keyward_local import oidc
from keyward_local.browser import decide, open_page
from keyward_local.client import (
    Follower,
    Seeder,
    SnsMessage,
    approval_link,
    exemption_tags,
    key_statuses,
    load_env,
    read_report,
    remove_user,
    sns_messages,
    stack_settings,
    user_names,
)
from keyward_local.console import LocalStackError, say
from keyward_local.oidc import APPROVER_AUTH_VAR
from keyward_local.run_report import Action, Outcome, RunReport

POLL_SECONDS = 2
#: Bound on each stretch of automatic work: up to the approval request, and after the decision.
RUN_BOUND_SECONDS = 300
DEFAULT_APPROVAL_TIMEOUT = 86400
#: What the confirm page records as the approver's browser.
USER_AGENT = "keyward-demo (make demo, DEMO_AUTO_APPROVE=1)"


class DemoError(Exception):
    """A failure the demo reports and exits 1 on."""


def line(message: str = "") -> None:
    """One line of detail under a step."""
    print(message, flush=True)


# --------------------------------------------------------------------------------------------------
# The demo account


def seed(iam: IAMClient, endpoint: str, prefix: str) -> list[tuple[str, str]]:
    """The demo account: one user per rule and edge, named <prefix>-<who>; (name, what it shows)."""
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
    until = today + dt.timedelta(days=30)
    u = s.user(
        "heidi",
        f"exempt by tag until {until}, key 200 days old -> held back",
        tags=exemption_tags(until, "demo: data migration"),
    )
    s.key(u, age_days=200, used_days_ago=3)
    expired = today - dt.timedelta(days=10)
    u = s.user(
        "ivan",
        f"exemption tag expired {expired}, key 200 days old -> not exempt, reported, planned",
        tags=exemption_tags(expired, "demo"),
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
    s.user("peggy", "console user without MFA and without keys -> no-mfa, nothing to deactivate", console=True)
    return s.users


# --------------------------------------------------------------------------------------------------
# The steps


#: key id -> (user, "Active" | "Inactive"), as read from IAM.
KeyStatuses = dict[str, tuple[str, str]]


@dataclass
class Demo:
    """One demo run: the stack it runs on, its clients, and the names of this run."""

    auto_approve: bool
    endpoint: str
    bucket: str
    topic_arn: str
    machine: str
    mode: str
    approval_timeout: int
    #: How the approver signs in (APPROVER_AUTH): "oidc" through the local OpenID provider, or "link".
    approver_auth: str
    iam: IAMClient
    sfn: SFNClient
    s3: S3Client
    prefix: str
    execution_name: str
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def on_the_running_stack(cls) -> Demo:
        """The demo on the stack target/local-stack/env describes, with fresh names."""
        env = load_env()
        settings = stack_settings()
        session = boto3.session.Session()
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%H%M") + secrets.token_hex(2)
        return cls(
            auto_approve=os.environ.get("DEMO_AUTO_APPROVE", "") == "1",
            endpoint=env["AWS_ENDPOINT_URL"],
            bucket=env["KEYWARD_REPORT_BUCKET"],
            topic_arn=env["KEYWARD_TOPIC_ARN"],
            machine=env["KEYWARD_STATE_MACHINE_ARN"],
            mode=settings.get("KEYWARD_MODE", "approve"),
            approval_timeout=int(settings.get("APPROVAL_TIMEOUT_SECONDS") or DEFAULT_APPROVAL_TIMEOUT),
            approver_auth=settings.get(APPROVER_AUTH_VAR, "link"),
            iam=session.client("iam"),
            sfn=session.client("stepfunctions"),
            s3=session.client("s3"),
            prefix=f"demo-{run_id}",
            execution_name=f"demo-{run_id}",
        )

    def messages(self) -> list[SnsMessage]:
        """Every message on the stack's topic, oldest first."""
        return sns_messages(self.endpoint, self.topic_arn)


@dataclass
class Run:
    """The execution, followed up to the approval request or its end."""

    follower: Follower
    #: SNS messages published before the run started.
    skip: int
    status: str
    approval: tuple[SnsMessage, str] | None


@dataclass
class Decided:
    """What the automatic approver did: None/empty when a person decides."""

    approved: list[str] | None = None
    unticked: list[str] = field(default_factory=list)


def reset_account(demo: Demo) -> tuple[list[str], KeyStatuses]:
    """1. The account: earlier demo runs' users go first, so every run sweeps the same small account
    (their run reports stay in the bucket). Returns the users and their keys' statuses."""
    earlier = user_names(demo.iam, "demo-")
    if earlier:
        say(f"removing {len(earlier)} users of earlier demo runs (their run reports stay in the bucket)")
        for name in earlier:
            try:
                remove_user(demo.iam, name)
            except Exception as error:  # a leftover user only makes the sweep bigger
                line(f"    could not remove {name}: {type(error).__name__}: {error}")
    say(f"seeding the demo account: users {demo.prefix}-* in the emulator ({demo.endpoint})")
    seeded = seed(demo.iam, demo.endpoint, demo.prefix)
    for name, shows in seeded:
        line(f"    {name:20} {shows}")
    users = [name for name, _ in seeded]
    before = key_statuses(demo.iam, users)
    line(f"    {len(users)} users, {len(before)} access keys, in {time.monotonic() - demo.started:.1f} s")
    return users, before


def start_and_follow(demo: Demo) -> Run:
    """2. The execution: starts it and follows it, showing the findings digest, up to the approval
    request (or the end of the run)."""
    skip = len(demo.messages())
    say(f"starting execution {demo.execution_name} of {demo.machine.rsplit(':', 1)[-1]} (mode {demo.mode}, input {{}})")
    execution_arn = demo.sfn.start_execution(stateMachineArn=demo.machine, name=demo.execution_name, input="{}")[
        "executionArn"
    ]
    line(f"    {execution_arn}")
    follower = Follower(demo.sfn, execution_arn)

    digest_shown = False
    deadline = time.monotonic() + RUN_BOUND_SECONDS
    while True:
        status = follower.poll()
        messages = demo.messages()[skip:]
        if messages and not digest_shown:
            digest_shown = True
            say(f"findings digest (SNS, subject: {messages[0].get('subject')})")
            for text_line in (messages[0].get("message") or "").splitlines():
                line(f"    | {text_line}")
        approval = approval_link(messages, demo.execution_name)
        if approval or status != "RUNNING":
            return Run(follower, skip, status, approval)
        if time.monotonic() > deadline:
            raise DemoError(
                f"execution {demo.execution_name} is still {status} after {RUN_BOUND_SECONDS} s (in "
                f"{follower.current}); logs in target/local-stack/"
            )
        follower.progress("the digest and the approval request")
        time.sleep(POLL_SECONDS)


def decide_like_a_person(demo: Demo, link: str, before: KeyStatuses) -> Decided:
    """3a. Decides like a person in the browser: opens the page, unticks one key, approves the rest."""
    say("DEMO_AUTO_APPROVE=1: opening the confirm page and deciding like a person would")
    if demo.approver_auth == "oidc":
        line(f"    signing in at the local OpenID provider as {oidc.APPROVER} ({oidc.ACCOUNTS[oidc.APPROVER][0]})")
    page = open_page(link, USER_AGENT)
    offered = page.keys
    line(f"    the page offers {len(offered)} keys, all ticked: {', '.join(offered)}")
    others = [k for k in offered if k not in before]
    mine = [k for k in offered if k in before]
    if not mine:
        raise DemoError("the confirm page offers none of this run's keys")
    # untick one key on purpose: the one that is old but used yesterday (bob's), else the first.
    bob = [k for k in mine if before[k][0] == f"{demo.prefix}-bob"]
    keep_active = bob[0] if bob else mine[0]
    decided = Decided(approved=[k for k in mine if k != keep_active], unticked=[keep_active] + others)
    approved = decided.approved or []
    line(f"    unticking {keep_active} ({before[keep_active][0]}) on purpose: it must stay Active")
    if others:
        line(f"    unticking {len(others)} keys of earlier demo runs: {', '.join(others)}")
    line(f"    approving {len(approved)} keys: {', '.join(approved)}")
    answer = decide(link, page.token, approved, "approve", USER_AGENT)
    if answer.status != 200:
        raise DemoError(f"the approval POST was refused: HTTP {answer.status}: {answer.text[:800]}")
    line(f"    the page answers: {answer.text[:300]}")
    return decided


def decide_in_browser(demo: Demo, link: str) -> None:
    """3b. A person decides in the browser: shows the link."""
    say("open this link in a browser and decide; waiting…")
    line(f"    {link}")
    if demo.approver_auth == "oidc":
        line(
            f"    (it sends you to sign in at the local OpenID provider first: account {oidc.APPROVER}, any password;"
            f" {oidc.STRANGER} shows a refusal)"
        )
    line(
        f"    (the link expires after APPROVAL_TIMEOUT_SECONDS={demo.approval_timeout} s; Ctrl-C stops waiting, "
        "the execution keeps waiting)"
    )


def follow_to_the_end(demo: Demo, run: Run) -> str:
    """After the decision: follows the run to its end and returns its status."""
    bound = demo.approval_timeout + RUN_BOUND_SECONDS if not demo.auto_approve else RUN_BOUND_SECONDS
    deadline = time.monotonic() + bound
    follower = run.follower
    while True:
        status = follower.poll()
        if status != "RUNNING":
            return status
        if time.monotonic() > deadline:
            raise DemoError(
                f"execution {demo.execution_name} is still {status} after {bound} s (in "
                f"{follower.current}); logs in target/local-stack/"
            )
        follower.progress("the decision" if "Approval" in follower.current else "the end of the run")
        time.sleep(POLL_SECONDS)


def describe_outcome(outcome: Outcome) -> str:
    """An action's outcome in a few words."""
    kind = outcome.get("kind")
    if kind == "skipped":
        reason = outcome.get("reason") or {}
        detail = reason.get("detail") or ", ".join(f"{k}={v}" for k, v in reason.items() if k != "kind")
        return f"skipped: {reason.get('kind')}{' (' + detail + ')' if detail else ''}"
    if kind == "failed":
        return f"FAILED: {outcome.get('error')}"
    return str(kind)


def show_report(report: RunReport, decided: Decided) -> None:
    """The plan, the decision and what was done with each key, from the run report."""
    plan = [(k.get("user_name"), k.get("access_key_id")) for k in (report["evaluation"]["plan"]["keys"] or [])]
    decision = report.get("decision")
    if decision:
        by = decision.get("decided_by") or {}
        say(
            f"the plan held {len(plan)} keys; decision: {len(decision.get('approved') or [])} approved"
            f" at {decision.get('decided_at', '-')} by {by.get('kind', '-')}"
            f" ({', '.join(f'{k}={v}' for k, v in by.items() if k != 'kind')})"
        )
    else:
        say(f"the plan held {len(plan)} keys; no decision recorded")
    inactive = report["evaluation"].get("inactive_keys") or []
    line(f"    inactive keys reported, never touched: {len(inactive)}")
    actions: list[Action] = report.get("actions") or []
    deactivated = [a for a in actions if a["outcome"]["kind"] == "deactivated"]
    others_done = [a for a in actions if a["outcome"]["kind"] != "deactivated"]
    say(f"deactivated ({len(deactivated)}):")
    for a in deactivated:
        line(f"    {a['access_key_id']}  {a['user_name']}")
    say(f"skipped or failed ({len(others_done)}):")
    for a in others_done:
        line(f"    {a['access_key_id']}  {a['user_name']}: {describe_outcome(a['outcome'])}")
    if not others_done:
        line("    none")
    approved = decided.approved
    not_approved = [(u, k) for u, k in plan if approved is not None and k not in approved]
    if not_approved:
        say(f"planned but not approved, so not acted on ({len(not_approved)}):")
        for u, k in not_approved:
            line(f"    {k}  {u}")


def show_outcome(demo: Demo, run: Run, users: list[str], before: KeyStatuses, decided: Decided) -> KeyStatuses:
    """4. The outcome, from the run report and from IAM; returns every demo key's status now."""
    say(f"execution {demo.execution_name}: {run.status} after {time.monotonic() - run.follower.started:.1f} s")
    for message in demo.messages()[run.skip + 1 :]:
        if run.approval and message.get("message") == run.approval[0].get("message"):
            continue
        line(f"    SNS: {message.get('subject')}")

    report_key = f"runs/{demo.execution_name}/report.json"
    report_url = f"s3://{demo.bucket}/{report_key}"
    report: RunReport | None
    try:
        report = read_report(demo.s3, demo.bucket, demo.execution_name)
        if report is None:
            line(f"    {report_url} does not exist")
    except Exception as error:
        report = None
        line(f"    could not read {report_url}: {type(error).__name__}: {error}")
    if report is not None:
        show_report(report, decided)

    after = key_statuses(demo.iam, users)
    say("every demo key, read back from IAM now")
    for key_id, (user, status_now) in sorted(after.items(), key=lambda kv: (kv[1][0], kv[0])):
        was = before[key_id][1]
        note = ""
        if decided.approved is not None and key_id in decided.approved:
            note = "approved"
        elif key_id in decided.unticked:
            note = "unticked on purpose"
        change = f"{was} -> {status_now}" if was != status_now else status_now
        line(f"    {user:20} {key_id}  {change:20} {note}")
    for key_id in decided.unticked:
        if key_id not in after:
            continue
        line(f"    the unticked key {key_id} ({after[key_id][0]}) is {after[key_id][1]}")

    say("the run report (the audit record)")
    line(f"    {report_url}")
    line("    fetch it:  set -a; . target/local-stack/env; set +a")
    line(
        '               .venv/bin/python -c \'import boto3; print(boto3.client("s3")'
        f'.get_object(Bucket="{demo.bucket}", Key="{report_key}")["Body"].read().decode())\''
    )
    return after


def verdict(demo: Demo, run: Run, before: KeyStatuses, after: KeyStatuses, decided: Decided) -> list[str]:
    """5. The verdict: what is wrong with the run (nothing, for exit 0)."""
    problems = []
    if run.status != "SUCCEEDED":
        problems.append(f"the execution ended {run.status}, not SUCCEEDED")
    if demo.auto_approve and run.approval is None:
        problems.append("no approval was requested, so nothing could be approved (is KEYWARD_MODE=approve?)")
    approved = decided.approved
    if demo.auto_approve and approved is not None:
        became_inactive = {k for k, (_, s) in after.items() if s == "Inactive" and before[k][1] == "Active"}
        if became_inactive != set(approved):
            problems.append(
                f"the keys made Inactive {sorted(became_inactive)} are not exactly the approved keys {sorted(approved)}"
            )
        for key_id in decided.unticked:
            if key_id in after and after[key_id][1] != "Active":
                problems.append(f"the unticked key {key_id} is {after[key_id][1]}, not Active")
        for key_id, (_, was) in before.items():
            if was == "Inactive" and after.get(key_id, ("", ""))[1] != "Inactive":
                problems.append(f"the key {key_id} was Inactive and is now {after.get(key_id)}")
    return problems


def main() -> int:
    """The demo, step by step; 0 when the verdict finds nothing wrong."""
    demo = Demo.on_the_running_stack()
    users, before = reset_account(demo)
    run = start_and_follow(demo)
    decided = Decided()
    if run.approval:
        message, link = run.approval
        say(f"approval requested (SNS, subject: {message.get('subject')})")
        line(f"    approval link: {link}")
        if demo.auto_approve:
            decided = decide_like_a_person(demo, link, before)
        else:
            decide_in_browser(demo, link)
        run.status = follow_to_the_end(demo, run)
    elif run.status == "SUCCEEDED":
        line(f"    the run ended without asking for approval (mode {demo.mode}, or an empty or capped plan)")
    after = show_outcome(demo, run, users, before, decided)
    problems = verdict(demo, run, before, after, decided)
    line()
    line(
        f"demo took {time.monotonic() - demo.started:.1f} s. The stack is still up: run it again with make demo, "
        "stop it with scripts/local-stack down."
    )
    if problems:
        for problem in problems:
            print(f"demo FAILED: {problem}", file=sys.stderr)
        return 1
    if demo.auto_approve:
        say(
            f"demo OK: the execution SUCCEEDED and exactly the {len(decided.approved or [])} approved keys are Inactive"
        )
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
