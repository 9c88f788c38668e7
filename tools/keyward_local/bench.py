"""make bench's single-account sweeps of generated accounts on the local stack, measured from outside,
and what its organisation sweeps (keyward_local.bench_org) share with them: the generated account,
its seeding, a fresh stack, and how a sweep is measured. keyward_local.bench_run runs both.

For each account size (BENCH_SIZES, default "1000,5000") it brings the local stack up fresh, seeds the
account (BENCH_SEED, default 7: the same seed gives the same account), runs one sweep in report mode
with SCREENING=report, then again (fresh stack, same account) with SCREENING=live; for the smallest
size also a SCREENING=report sweep under an injected IAM throttle (BENCH_THROTTLE_RPS, default 5).

Measured per sweep: IAM calls per operation (counted by the emulator, not by keyward), Step Functions
child executions, wall time, peak RSS of the Lambda processes, largest state payload, and a digest of
the sorted findings (so sweeps of one account can be compared). The budgets (docs/architecture.md,
"The IAM call budget"):

  - report screening: IAM calls <= 3 + ceil(N/1000) + 4*V (V = candidates);
  - report screening makes at least 10x fewer IAM calls than live screening (smallest size);
  - no state input or output above 64 KiB;
  - every sweep succeeds, evaluates every user, and finds the same as the other sweeps of its account.

The emulator's IAM page bound is off (BASE_SETTINGS): ListUsers answers pages of MaxItems, as IAM does
in practice, so the budget's ceil(N/1000) counts what AWS would.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NotRequired, TypedDict

import boto3
from botocore.config import Config
from mypy_boto3_iam import IAMClient
from mypy_boto3_stepfunctions import SFNClient
from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

from keyward_local.client import PASSWORD, Seeder, exemption_tags, load_env, local_stack, read_report
from keyward_local.console import http_json, say
from keyward_local.paths import BINARY_DIR, PAGE_ITEMS_VAR, STATE_DIR
from keyward_local.run_report import RunReport
from keyward_local.template import Template

PAYLOAD_LIMIT = 64 * 1024
SWEEP_BOUND_SECONDS = 3600
#: The bench's stack: report mode, and the rate keyward would use in AWS unless said otherwise.
#: The emulator's IAM page bound is off (IAM_PAGE_ITEMS=0): the call budget counts ListUsers pages of
#: MaxItems (keyward asks 1000), the pages IAM answers in practice; the bound, which the end-to-end tests
#: keep on to prove keyward follows a page shorter than MaxItems, would count ten pages for each one.
BASE_SETTINGS = {"KEYWARD_MODE": "report", PAGE_ITEMS_VAR: "0"}
SEED_WORKERS = 8
#: The seeding's IAM clients: retried, with a connection for each of its workers and more.
SEED_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=32)


class BenchError(Exception):
    """A sweep that could not be measured."""


class PlannedUser(TypedDict):
    """One user of a generated account; keys as (age in days, days since last use or None)."""

    name: str
    console: bool
    mfa: bool
    keys: list[tuple[int, int | None]]
    tags: dict[str, str]


class SweepResult(TypedDict):
    """One sweep's measurements (a row of target/bench/results.json)."""

    #: "account" (an organisation sweep's row is keyward_local.bench_org.OrgSweepResult).
    scope: str
    users: int
    screening: str
    throttle_rps: float | None
    status: str
    candidates: int | None
    users_not_evaluated: int
    iam_calls_total: int
    iam_calls: dict[str, int]
    iam_throttled_total: int
    child_executions: int
    wall_seconds: float
    max_payload_bytes: int
    lambda_seconds: float
    lambda_seconds_by_function: dict[str, float]
    peak_rss_mb: float
    peak_rss_mb_by_function: dict[str, float]
    findings: int
    findings_digest: str | None
    execution: str
    iam_call_budget: NotRequired[int]


# --------------------------------------------------------------------------------------------------
# The account


def plan_account(users: int, seed: int) -> list[PlannedUser]:
    """The generated account: 5% violators of each rule (no-mfa, key-too-old, key-unused), 1% exempt
    by tag (with an old key), 2% with a key inside the warning window, ~20% with two keys, ~40%
    programmatic-only, the rest compliant. Deterministic in (users, seed)."""
    rng = random.Random(seed * 1_000_003 + users)
    account = []
    for i in range(users):
        draw = rng.random()
        user: PlannedUser = {
            "name": f"bench-{i:05d}",
            "console": rng.random() < 0.6,
            "mfa": True,
            "keys": [],
            "tags": {},
        }
        if draw < 0.05:  # no-mfa: a console user without MFA
            user["console"], user["mfa"] = True, False
            age = rng.randint(1, 60)
            user["keys"].append((age, rng.randint(0, min(1, age - 1))))
        elif draw < 0.10:  # key-too-old, used recently
            user["keys"].append((rng.randint(91, 800), rng.randint(0, 5)))
        elif draw < 0.15:  # key-unused (and old): not used for over 90 days
            age = rng.randint(120, 700)
            user["keys"].append((age, rng.choice([None, rng.randint(91, age - 1)])))
        elif draw < 0.16:  # exempt by tag (within MAX_EXEMPTION_DAYS=90), with an old key
            user["tags"] = exemption_tags(dt.date.today() + dt.timedelta(days=rng.randint(5, 90)), "bench")
            user["keys"].append((rng.randint(91, 500), 1))
        elif draw < 0.18:  # a warning: a key 77-89 days old
            user["keys"].append((rng.randint(77, 89), 1))
        else:  # compliant; some programmatic-only, some with no key
            if rng.random() < 0.85:
                age = rng.randint(1, 70)
                user["keys"].append((age, rng.randint(0, min(3, age - 1))))
        if user["keys"] and rng.random() < 0.2:  # a second, fresh key
            user["keys"].append((rng.randint(2, 30), rng.choice([None, 0, 1])))
        if not user["console"]:
            user["mfa"] = rng.random() < 0.1
        account.append(user)
    return account


def seed_account(
    iam: IAMClient, endpoint: str, account: list[PlannedUser], account_id: str | None = None, label: str = ""
) -> dict[str, str]:
    """Creates the account's users with `iam` (a client in the stack's account, or in the member
    account `account_id`); returns key id -> stable label (`<label>user#n`), so findings of two seedings
    of the same account compare equal."""
    now = dt.datetime.now(dt.timezone.utc)
    seeder = Seeder(iam, endpoint, "", now, account_id=account_id)
    labels: dict[str, str] = {}
    lock = threading.Lock()

    def create(user: PlannedUser) -> None:
        """Creates one user of the account, with its keys."""
        name = user["name"]
        if user["tags"]:
            iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in user["tags"].items()])
        else:
            iam.create_user(UserName=name)
        if user["console"]:
            iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
        if user["mfa"]:
            seeder.mfa(name)
        for n, (age, used) in enumerate(user["keys"]):
            key_id = seeder.key(name, age_days=age, used_days_ago=used)
            with lock:
                labels[key_id] = f"{label}{name}#{n}"

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(SEED_WORKERS) as pool:
        for done, _ in enumerate(pool.map(create, account), 1):
            if done % 1000 == 0 or done == len(account):
                print(f"    seeded {done}/{len(account)} users ({time.monotonic() - started:.0f} s)", flush=True)
    return labels


# --------------------------------------------------------------------------------------------------
# The stack


def stack_up(settings: dict[str, str]) -> dict[str, str]:
    """A fresh local stack with these settings; returns its environment."""
    down = local_stack("down")
    if down.returncode != 0:
        raise BenchError(f"scripts/local-stack down failed:\n{down.stdout[-3000:]}")
    shown = " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    say(f"local stack up: {shown}")
    done = local_stack("up", settings)
    if done.returncode != 0:
        raise BenchError(f"scripts/local-stack up failed:\n{done.stdout[-3000:]}")
    return load_env()


class RssSampler:
    """Peak resident memory (VmHWM) of the function processes cargo lambda watch runs."""

    def __init__(self) -> None:
        self.binaries = {str(BINARY_DIR / f) for f in Template.load().functions}
        self.peak_kib: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> None:
        """Reads VmHWM of every function process now."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                exe = os.readlink(entry / "exe")
                if exe not in self.binaries:
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    name = Path(exe).name
                    self.peak_kib[name] = max(self.peak_kib.get(name, 0), int(line.split()[1]))

    def run(self) -> None:
        """Samples every half second until stopped."""
        while not self.stop.wait(0.5):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()


def history(sfn: SFNClient, arn: str) -> list[HistoryEventTypeDef]:
    """The execution's whole history."""
    events: list[HistoryEventTypeDef] = []
    token: str | None = None
    while True:
        if token:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000, nextToken=token)
        else:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def payload_sizes(events: list[HistoryEventTypeDef]) -> int:
    """The largest input or output of a state, task or Lambda in the history, in bytes."""
    largest = 0
    for event in events:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict):
                continue
            for field in ("input", "output", "parameters"):
                value = details.get(field)
                if isinstance(value, str):
                    largest = max(largest, len(value.encode()))
    return largest


INVOKE_LINE = re.compile(r"invoke (\S+): (?:ok|function error \S+) \(([0-9.]+) s\)")


def lambda_seconds(log_text: str) -> dict[str, float]:
    """Seconds each function ran (as the emulator timed its invocations), by function."""
    seconds: dict[str, float] = {}
    for function, elapsed in INVOKE_LINE.findall(log_text):
        seconds[function] = round(seconds.get(function, 0.0) + float(elapsed), 2)
    return dict(sorted(seconds.items()))


def findings_digest(report: RunReport, labels: dict[str, str]) -> str:
    """A digest of the sorted findings, keys by their stable labels: equal for equal findings."""
    lines = sorted(
        f"{f['rule']} {f['user_name']} {labels.get(f['access_key_id'] or '', f['access_key_id'] or '-')}"
        for f in report["evaluation"]["findings"]
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def sweep(
    env: dict[str, str], label: str, users: int, screening: str, throttle: float | None, labels: dict[str, str]
) -> SweepResult:
    """One sweep of the seeded account, measured."""
    session = boto3.session.Session()
    sfn, s3 = session.client("stepfunctions"), session.client("s3")
    endpoint = env["AWS_ENDPOINT_URL"]
    http_json("DELETE", f"{endpoint}/_keyward/iam-calls")
    name = f"bench-{label}-{int(time.time())}"
    say(
        f"sweep {name}: {users} users, SCREENING={screening}" + (f", IAM throttled to {throttle}/s" if throttle else "")
    )
    log = STATE_DIR / "moto.log"
    log_offset = log.stat().st_size if log.exists() else 0
    with RssSampler() as rss:
        started = time.monotonic()
        arn = sfn.start_execution(stateMachineArn=env["KEYWARD_STATE_MACHINE_ARN"], name=name, input="{}")[
            "executionArn"
        ]
        last_print = started
        while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            if time.monotonic() - started > SWEEP_BOUND_SECONDS:
                raise BenchError(f"{name} still running after {SWEEP_BOUND_SECONDS} s")
            if time.monotonic() - last_print >= 15:
                so_far = sum(counts(f"{endpoint}/_keyward/iam-calls").values())
                print(f"    {time.monotonic() - started:6.0f} s  running; {so_far} IAM calls so far", flush=True)
                last_print = time.monotonic()
            time.sleep(1)
        wall = time.monotonic() - started
    calls = counts(f"{endpoint}/_keyward/iam-calls")
    throttled = counts(f"{endpoint}/_keyward/iam-throttled")
    with log.open("rb") as handle:
        handle.seek(log_offset)
        invoked = lambda_seconds(handle.read().decode("utf-8", "replace"))
    events = history(sfn, arn)
    report = read_report(s3, env["KEYWARD_REPORT_BUCKET"], name)
    children = sum(1 for e in events if e["type"] in ("MapIterationStarted",))
    if not children and report:  # moto records Distributed Map children as executions of their own
        batches = s3.get_object(Bucket=env["KEYWARD_REPORT_BUCKET"], Key=f"runs/{name}/batches.json")["Body"].read()
        children = len(json.loads(batches or b"[]"))
    result: SweepResult = {
        "scope": "account",
        "users": users,
        "screening": screening,
        "throttle_rps": throttle,
        "status": status,
        "candidates": report["users_checked"] if report else None,
        "users_not_evaluated": len(report["users_not_evaluated"]) if report else 0,
        "iam_calls_total": sum(calls.values()),
        "iam_calls": calls,
        "iam_throttled_total": sum(throttled.values()),
        "child_executions": children,
        "wall_seconds": round(wall, 1),
        "max_payload_bytes": payload_sizes(events),
        "lambda_seconds": round(sum(invoked.values()), 1),
        "lambda_seconds_by_function": invoked,
        "peak_rss_mb": round(max(rss.peak_kib.values(), default=0) / 1024, 1),
        "peak_rss_mb_by_function": {k: round(v / 1024, 1) for k, v in sorted(rss.peak_kib.items())},
        "findings": len(report["evaluation"]["findings"]) if report else 0,
        "findings_digest": findings_digest(report, labels) if report else None,
        "execution": name,
    }
    print(
        f"    {status} in {wall:.1f} s: {result['candidates']} candidates, {result['iam_calls_total']} IAM calls, "
        f"{result['child_executions']} child executions, largest payload {result['max_payload_bytes']} bytes",
        flush=True,
    )
    return result


# --------------------------------------------------------------------------------------------------
# Budgets and the table


def counts(url: str) -> dict[str, int]:
    """An emulator count hook (calls or throttled calls per IAM operation)."""
    answer = http_json("GET", url)
    if not isinstance(answer, dict):
        raise BenchError(f"GET {url} answered {answer!r}, not counts")
    return {str(k): int(v) for k, v in answer.items()}


def budget_failures(results: list[SweepResult]) -> list[str]:
    """Every budget a sweep broke (empty: all hold); records each sweep's IAM call budget."""
    problems = []
    by_account: dict[int, list[SweepResult]] = {}
    for r in results:
        by_account.setdefault(r["users"], []).append(r)
        what = f"{r['users']} users, SCREENING={r['screening']}" + (
            f", throttle {r['throttle_rps']}/s" if r["throttle_rps"] else ""
        )
        if r["status"] != "SUCCEEDED":
            problems.append(f"{what}: the sweep ended {r['status']}")
        if r["users_not_evaluated"]:
            problems.append(f"{what}: {r['users_not_evaluated']} users not evaluated")
        if r["max_payload_bytes"] > PAYLOAD_LIMIT:
            problems.append(f"{what}: a state payload of {r['max_payload_bytes']} bytes (limit {PAYLOAD_LIMIT})")
        # The call budget is for a sweep IAM lets through; under a throttle, refused requests are
        # retried and counted too (iam_throttled_total): that sweep must only finish the same.
        if r["screening"] == "report" and r["candidates"] is not None and not r["throttle_rps"]:
            budget = 3 + math.ceil(r["users"] / 1000) + 4 * r["candidates"]
            r["iam_call_budget"] = budget
            if r["iam_calls_total"] > budget:
                problems.append(
                    f"{what}: {r['iam_calls_total']} IAM calls, over the budget 3 + ceil(N/1000) + 4V = {budget}"
                )
    for users, runs in by_account.items():
        digests = {r["findings_digest"] for r in runs}
        if len(digests) != 1:
            problems.append(f"{users} users: the sweeps found different things: {sorted(map(str, digests))}")
    smallest = min(by_account) if by_account else None
    if smallest is not None:
        report = next((r for r in by_account[smallest] if r["screening"] == "report" and not r["throttle_rps"]), None)
        live = next((r for r in by_account[smallest] if r["screening"] == "live" and not r["throttle_rps"]), None)
        if report and live and live["iam_calls_total"] < 10 * report["iam_calls_total"]:
            problems.append(
                f"{smallest} users: report screening made {report['iam_calls_total']} IAM calls, "
                f"live {live['iam_calls_total']}: not 10x fewer"
            )
    return problems


def table(results: list[SweepResult]) -> str:
    """The results as a table, and the IAM calls per operation."""
    head = [
        "users",
        "screening",
        "throttle",
        "candidates",
        "IAM calls",
        "throttled",
        "budget",
        "children",
        "wall s",
        "Lambda s",
        "peak RSS MB",
        "max payload B",
        "findings",
    ]
    rows = [head]
    for r in results:
        rows.append(
            [
                str(r["users"]),
                r["screening"],
                f"{r['throttle_rps']:g}/s" if r["throttle_rps"] else "-",
                str(r["candidates"]),
                str(r["iam_calls_total"]),
                str(r["iam_throttled_total"]),
                str(r.get("iam_call_budget", "-")),
                str(r["child_executions"]),
                f"{r['wall_seconds']:.0f}",
                f"{r['lambda_seconds']:.0f}",
                f"{r['peak_rss_mb']:.0f}",
                str(r["max_payload_bytes"]),
                f"{r['findings']} ({r['findings_digest']})",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    calls = ["", "IAM calls per operation:"]
    for r in results:
        ops = ", ".join(f"{op} {n}" for op, n in r["iam_calls"].items())
        calls.append(f"  {r['users']} {r['screening']}{' throttled' if r['throttle_rps'] else ''}: {ops}")
    return "\n".join(lines + calls)


def account_sweeps(sizes: list[int], seed: int, throttle: float) -> Iterator[SweepResult]:
    """The single-account sweeps, one result at a time (each on a stack brought up fresh): for each
    size a report and a live sweep, and for the smallest one more under the IAM throttle `throttle`
    (0: none)."""
    for users in sizes:
        account = plan_account(users, seed)
        runs: list[tuple[str, float | None]] = [("report", None), ("live", None)]
        if users == min(sizes) and throttle > 0:
            runs.append(("report", throttle))
        for screening, rps in runs:
            env = stack_up({**BASE_SETTINGS, "SCREENING": screening, "IAM_MAX_RPS": "1000" if not rps else "10"})
            say(f"seeding {users} users (seed {seed})")
            iam = boto3.session.Session().client("iam", config=SEED_CLIENT_CONFIG)
            labels = seed_account(iam, env["AWS_ENDPOINT_URL"], account)
            # The throttle starts after the seeding (IAM_THROTTLE_RPS at `up` would throttle that too).
            http_json("PUT", f"{env['AWS_ENDPOINT_URL']}/_keyward/iam-throttle", {"rps": rps})
            label = f"{users}-{screening}" + ("-throttled" if rps else "")
            yield sweep(env, label, users, screening, rps, labels)
