"""make bench's organisation sweeps (keyward_local.bench_run runs them after the single-account ones):
one sweep of an emulated organisation per entry of BENCH_ORG (default "10x1000,3x5000": member
accounts x users in each), measured from outside; docs/benchmarks.md, "Organisations", says how and
why.

Each on a stack up fresh with KEYWARD_SCOPE=organization and ORG_MEMBER_ACCOUNTS, in report mode with
the IAM page bound off (bench.BASE_SETTINGS); member i seeded with the single-account generator and the
seed BENCH_SEED * 1000 + i, the management account without users. Measured: per account, its IAM calls
by operation and role (keyward_local.bench_callers), its window of IAM calls and the most accounts
swept at once; the STS and Organizations calls beside them; the largest payload and Map item. The
budgets: SUCCEEDED with complete coverage, every account within its own budget and read through
MEMBER_READ_ROLE, nothing above 64 KiB, more than one account at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TypedDict

import boto3

from keyward_local.bench import (
    BASE_SETTINGS,
    PAYLOAD_LIMIT,
    SEED_CLIENT_CONFIG,
    SWEEP_BOUND_SECONDS,
    BenchError,
    RssSampler,
    counts,
    history,
    lambda_seconds,
    payload_sizes,
    plan_account,
    seed_account,
    stack_up,
)
from keyward_local.bench_callers import (
    AccountCalls,
    ActivityWatch,
    calls_by_account,
    iam_totals,
    max_concurrent,
    service_calls,
    sts_by_role,
)
from keyward_local.console import http_json, say
from keyward_local.org import member_accounts, member_name, member_session
from keyward_local.paths import (
    ACCOUNT_ID,
    MEMBER_READ_ROLE_VAR,
    MEMBER_ROLE_DEFAULTS,
    ORG_MEMBERS_VAR,
    SCOPE_VAR,
    STATE_DIR,
)
from keyward_local.settings import MAX_MEMBER_ACCOUNTS

#: BENCH_ORG when unset: ten members of 1,000 users, then three of 5,000.
DEFAULT_ORGS = "10x1000,3x5000"
#: keyward's MAX_ACCOUNT_CONCURRENCY default (keyward_core::config), which the bench's stack keeps.
ACCOUNT_CONCURRENCY = 5
#: The management account's name in the bench's tables and digests (members are member-<i>).
MANAGEMENT = "management"
#: How often the sweep's callers are read while it runs: the resolution of each account's window.
POLL_SECONDS = 1.0
#: The IAM operations of screening (list-users under SCREENING=report): all an account without
#: candidates may cost.
SCREENING_OPERATIONS = ("GenerateCredentialReport", "GetCredentialReport", "ListUsers")
_ORG_ENTRY = re.compile(r"(\d+)x(\d+)")


class OrgSize(NamedTuple):
    """One entry of BENCH_ORG: how many member accounts, and how many users in each."""

    accounts: int
    users: int


class OrgAccountResult(TypedDict):
    """One account of an organisation sweep."""

    account_id: str
    #: MANAGEMENT or member-<i>.
    name: str
    users_seeded: int
    swept: bool
    users_listed: int | None
    candidates: int | None
    users_not_evaluated: int | None
    iam_calls_total: int
    iam_calls: dict[str, int]
    iam_calls_by_role: dict[str, int]
    iam_call_budget: int | None
    findings: int
    #: Seconds from the sweep's start to its first and its last IAM call (None: it made none).
    first_call_seconds: float | None
    last_call_seconds: float | None


class OrgSweepResult(TypedDict):
    """One organisation sweep's measurements (a row of target/bench/results.json)."""

    scope: str
    #: Member accounts (the management account comes on top).
    members: int
    users_per_member: int
    seed: int
    status: str
    coverage_discovered: int | None
    coverage_swept: int | None
    #: "<account id>: <error>: <reason>" of each account whose sweep failed.
    coverage_failed: list[str]
    coverage_complete: bool
    accounts: list[OrgAccountResult]
    iam_calls_total: int
    #: The IAM calls the emulator's IAM gate counted (all accounts): the per-account sum cross-checked.
    iam_calls_counted: int
    sts_calls: dict[str, int]
    sts_calls_by_role: dict[str, int]
    organizations_calls: dict[str, int]
    refused_calls: int
    wall_seconds: float
    max_concurrent_accounts: int
    max_account_concurrency: int
    #: The largest state input or output in the execution's own history.
    max_payload_bytes: int
    #: The largest item of its Distributed Maps (`largest_map_item`): the children's inputs.
    max_map_item_bytes: int
    lambda_seconds: float
    lambda_seconds_by_function: dict[str, float]
    peak_rss_mb: float
    findings: int
    findings_digest: str | None
    execution: str


# --------------------------------------------------------------------------------------------------
# What to sweep


def parse_orgs(text: str) -> list[OrgSize]:
    """BENCH_ORG: comma-separated `<members>x<users>` entries ("10x1000,3x5000"); empty: none."""
    sizes = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        match = _ORG_ENTRY.fullmatch(entry)
        if match is None:
            raise BenchError(f"BENCH_ORG entry {entry!r} is not <member accounts>x<users>, e.g. 10x1000")
        accounts, users = int(match[1]), int(match[2])
        if not 1 <= accounts <= MAX_MEMBER_ACCOUNTS:
            raise BenchError(
                f"BENCH_ORG entry {entry!r}: {accounts} member accounts, the local stack makes 1 to "
                f"{MAX_MEMBER_ACCOUNTS}"
            )
        if users < 1:
            raise BenchError(f"BENCH_ORG entry {entry!r}: a member needs at least one user")
        sizes.append(OrgSize(accounts, users))
    return sizes


def member_seed(seed: int, index: int) -> int:
    """The generator's seed for member `index` (from 1): its own, the same in every run of the bench."""
    return seed * 1000 + index


# --------------------------------------------------------------------------------------------------
# A sweep


def account_budget(users_listed: int, candidates: int) -> int | None:
    """The IAM call budget of one account's part of the sweep (docs/architecture.md, "The IAM call
    budget"): 3 + ceil(N/1000) + 4*V; None for an account without candidates, held to screening alone
    (`budget_problem`)."""
    return 3 + math.ceil(users_listed / 1000) + 4 * candidates if candidates else None


def budget_problem(account: OrgAccountResult) -> str | None:
    """How an account's IAM calls break its budget, or None. With candidates: more than
    3 + ceil(N/1000) + 4*V calls. Without (here the management account, which has no user): any call
    but screening's, GetCredentialReport more than once, ListUsers more than max(1, ceil(N/1000)) pages.
    The formula cannot hold there: its 3 + ceil(N/1000) counts a report already generated and no page
    for no user, while ListUsers answers a page even when empty and the report's generation costs a poll
    a few seconds (4 GenerateCredentialReport for the emulator's 5 s); with candidates these fit in the
    call each one leaves (3 of its 4)."""
    calls = account["iam_calls"]
    budget = account["iam_call_budget"]
    if budget is not None:
        if account["iam_calls_total"] > budget:
            return f"{account['iam_calls_total']} IAM calls, over the budget 3 + ceil(N/1000) + 4V = {budget}"
        return None
    others = sorted(set(calls) - set(SCREENING_OPERATIONS))
    if others:
        return f"no candidate, but IAM calls beyond screening: {', '.join(others)}"
    pages = max(1, math.ceil((account["users_listed"] or 0) / 1000))
    if calls.get("ListUsers", 0) > pages or calls.get("GetCredentialReport", 0) > 1:
        return (
            f"no candidate, but ListUsers {calls.get('ListUsers', 0)} times (pages: {pages}) and "
            f"GetCredentialReport {calls.get('GetCredentialReport', 0)} times (once)"
        )
    return None


def findings_digest(report: Mapping[str, Any], names: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """A digest of the sorted findings, accounts by their bench names and keys by their stable labels:
    equal for equal findings in organisations seeded alike (member ids differ from stack to stack)."""
    lines = sorted(
        f"{f['rule']} {names.get(f['account_id'], f['account_id'])} {f['user_name']} "
        f"{labels.get(f['access_key_id'] or '', f['access_key_id'] or '-')}"
        for f in report["evaluation"]["findings"]
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def seed_members(env: Mapping[str, str], size: OrgSize, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """Each member seeded with its own generated account, as an administrator of the organisation
    (OrganizationAccountAccessRole); returns (account id -> bench name, key id -> stable label)."""
    endpoint = env["AWS_ENDPOINT_URL"]
    members = member_accounts(env)
    if len(members) != size.accounts:
        raise BenchError(f"the stack has {len(members)} member accounts, not the {size.accounts} asked for")
    names = {ACCOUNT_ID: MANAGEMENT}
    labels: dict[str, str] = {}
    for index, account_id in enumerate(members, 1):
        name = member_name(index)
        names[account_id] = name
        say(f"seeding {size.users} users in {name} ({account_id}, seed {member_seed(seed, index)})")
        iam = member_session(account_id, endpoint).client("iam", config=SEED_CLIENT_CONFIG)
        labels |= seed_account(
            iam, endpoint, plan_account(size.users, member_seed(seed, index)), account_id, f"{name}/"
        )
    return names, labels


def read_run_report(s3: Any, bucket: str, execution: str) -> dict[str, Any] | None:
    """runs/<execution>/report.json as JSON (its coverage is not in run_report.RunReport), or None."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"runs/{execution}/report.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    report: dict[str, Any] = json.loads(body)
    return report


def largest_map_item(s3: Any, bucket: str, execution: str, accounts: list[str]) -> int:
    """The largest item of the run's Distributed Maps, in bytes: an account of accounts.json (the input of
    an account's child execution) or a batch of an account's batches.json (a check-user child's). moto
    keeps a Distributed Map child's history to itself, so these are what its states pass, read where the
    Map reads them."""
    keys = [f"runs/{execution}/accounts.json"] + [f"runs/{execution}/accounts/{a}/batches.json" for a in accounts]
    largest = 0
    for key in keys:
        try:
            items = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read() or b"[]")
        except s3.exceptions.NoSuchKey:
            continue  # an account without candidates has no batches
        for item in items:
            largest = max(largest, len(json.dumps(item, separators=(",", ":")).encode()))
    return largest


def sweep_org(
    env: Mapping[str, str], size: OrgSize, seed: int, names: Mapping[str, str], labels: Mapping[str, str]
) -> OrgSweepResult:
    """One sweep of the seeded organisation, measured."""
    session = boto3.session.Session()
    sfn, s3 = session.client("stepfunctions"), session.client("s3")
    endpoint = env["AWS_ENDPOINT_URL"]
    principals_url = f"{endpoint}/_keyward/principals"
    # What seeding called is not the sweep's.
    http_json("DELETE", principals_url)
    http_json("DELETE", f"{endpoint}/_keyward/iam-calls")
    name = f"bench-org-{size.accounts}x{size.users}-{int(time.time())}"
    say(f"sweep {name}: {size.accounts} members x {size.users} users and the management account")
    log = STATE_DIR / "moto.log"
    log_offset = log.stat().st_size if log.exists() else 0
    watch = ActivityWatch()
    with RssSampler() as rss:
        started = time.monotonic()
        arn = sfn.start_execution(stateMachineArn=env["KEYWARD_STATE_MACHINE_ARN"], name=name, input="{}")[
            "executionArn"
        ]
        last_print = started
        while True:
            status = sfn.describe_execution(executionArn=arn)["status"]
            now = time.monotonic() - started
            totals = iam_totals(http_json("GET", principals_url))
            watch.observe(now, totals)
            if status != "RUNNING":
                break
            if now > SWEEP_BOUND_SECONDS:
                raise BenchError(f"{name} still running after {SWEEP_BOUND_SECONDS} s")
            if time.monotonic() - last_print >= 15:
                print(
                    f"    {now:6.0f} s  running; {sum(totals.values())} IAM calls so far in {len(totals)} accounts",
                    flush=True,
                )
                last_print = time.monotonic()
            time.sleep(POLL_SECONDS)
        wall = time.monotonic() - started
    snapshot = http_json("GET", principals_url)
    if not isinstance(snapshot, list):
        raise BenchError(f"GET {principals_url} answered {snapshot!r}, not a list of callers")
    grouped = calls_by_account(snapshot)
    with log.open("rb") as handle:
        handle.seek(log_offset)
        invoked = lambda_seconds(handle.read().decode("utf-8", "replace"))
    report = read_run_report(s3, env["KEYWARD_REPORT_BUCKET"], name)
    coverage = (report or {}).get("coverage") or {}
    swept = {str(a["account_id"]): a for a in coverage.get("swept", [])}
    failed = [
        f"{f['failure']['account_id']}: {f['failure']['error']}: {f['failure']['reason']}"
        for f in coverage.get("failed", [])
    ]
    windows = watch.windows()
    found = Counter(str(f["account_id"]) for f in (report or {}).get("evaluation", {}).get("findings", []))
    accounts = [
        account_result(
            account_id,
            bench_name,
            0 if account_id == ACCOUNT_ID else size.users,
            found[account_id],
            grouped.get(account_id),
            swept.get(account_id),
            windows.get(account_id),
        )
        for account_id, bench_name in names.items()
    ]
    result: OrgSweepResult = {
        "scope": "organization",
        "members": size.accounts,
        "users_per_member": size.users,
        "seed": seed,
        "status": status,
        "coverage_discovered": coverage.get("discovered"),
        "coverage_swept": len(swept) if coverage else None,
        "coverage_failed": failed,
        "coverage_complete": bool(coverage) and not failed,
        "accounts": accounts,
        "iam_calls_total": sum(a["iam_calls_total"] for a in accounts),
        "iam_calls_counted": sum(counts(f"{endpoint}/_keyward/iam-calls").values()),
        "sts_calls": service_calls(grouped, "sts"),
        "sts_calls_by_role": sts_by_role(snapshot),
        "organizations_calls": service_calls(grouped, "organizations"),
        "refused_calls": sum(c["refused"] for c in grouped.values()),
        "wall_seconds": round(wall, 1),
        "max_concurrent_accounts": max_concurrent(windows),
        "max_account_concurrency": ACCOUNT_CONCURRENCY,
        "max_payload_bytes": payload_sizes(history(sfn, arn)),
        "max_map_item_bytes": largest_map_item(s3, env["KEYWARD_REPORT_BUCKET"], name, list(names)),
        "lambda_seconds": round(sum(invoked.values()), 1),
        "lambda_seconds_by_function": invoked,
        "peak_rss_mb": round(max(rss.peak_kib.values(), default=0) / 1024, 1),
        "findings": len(report["evaluation"]["findings"]) if report else 0,
        "findings_digest": findings_digest(report, names, labels) if report else None,
        "execution": name,
    }
    print(
        f"    {status} in {wall:.1f} s: {result['coverage_swept']} of {len(names)} accounts swept, "
        f"{result['iam_calls_total']} IAM calls, at most {result['max_concurrent_accounts']} accounts at once, "
        f"largest payload {result['max_payload_bytes']} bytes "
        f"(Map item {result['max_map_item_bytes']})",
        flush=True,
    )
    return result


def account_result(
    account_id: str,
    name: str,
    users_seeded: int,
    findings: int,
    calls: AccountCalls | None,
    swept: Mapping[str, Any] | None,
    window: tuple[float, float] | None,
) -> OrgAccountResult:
    """One account's row: its IAM calls, its part of the coverage and its budget, its window."""
    iam = dict(sorted(calls["operations"].get("iam", {}).items())) if calls else {}
    listed = int(swept["users_listed"]) if swept else None
    candidates = int(swept["users_checked"]) if swept else None
    return {
        "account_id": account_id,
        "name": name,
        "users_seeded": users_seeded,
        "swept": swept is not None,
        "users_listed": listed,
        "candidates": candidates,
        "users_not_evaluated": int(swept["users_not_evaluated"]) if swept else None,
        "iam_calls_total": sum(iam.values()),
        "iam_calls": iam,
        "iam_calls_by_role": dict(sorted(calls["iam_by_role"].items())) if calls else {},
        "iam_call_budget": account_budget(listed, candidates) if listed is not None and candidates else None,
        "findings": findings,
        "first_call_seconds": round(window[0], 1) if window else None,
        "last_call_seconds": round(window[1], 1) if window else None,
    }


def org_sweeps(sizes: list[OrgSize], seed: int) -> Iterator[OrgSweepResult]:
    """The organisation sweeps, one result at a time, each on a stack brought up fresh."""
    for size in sizes:
        env = stack_up(
            {
                **BASE_SETTINGS,
                "SCREENING": "report",
                "IAM_MAX_RPS": "1000",
                SCOPE_VAR: "organization",
                ORG_MEMBERS_VAR: str(size.accounts),
            }
        )
        names, labels = seed_members(env, size, seed)
        yield sweep_org(env, size, seed, names, labels)


# --------------------------------------------------------------------------------------------------
# Budgets and the table


def org_budget_failures(results: list[OrgSweepResult]) -> list[str]:
    """Every budget an organisation sweep broke (empty: all hold)."""
    read_role = MEMBER_ROLE_DEFAULTS[MEMBER_READ_ROLE_VAR]
    problems = []
    for r in results:
        what = f"organisation {r['members']}x{r['users_per_member']}"
        if r["status"] != "SUCCEEDED":
            problems.append(f"{what}: the sweep ended {r['status']}")
        if not r["coverage_complete"]:
            problems.append(f"{what}: coverage not complete: {'; '.join(r['coverage_failed']) or 'no coverage'}")
        for where, size in (("a state payload", r["max_payload_bytes"]), ("a Map item", r["max_map_item_bytes"])):
            if size > PAYLOAD_LIMIT:
                problems.append(f"{what}: {where} of {size} bytes (limit {PAYLOAD_LIMIT})")
        if len(r["accounts"]) > 1 and r["max_concurrent_accounts"] <= 1:
            problems.append(
                f"{what}: at most {r['max_concurrent_accounts']} account swept at a time: the accounts did not "
                "run in parallel"
            )
        for a in r["accounts"]:
            account = f"{what}, {a['name']} ({a['account_id']})"
            if not a["swept"]:
                problems.append(f"{account}: not swept")
                continue
            if a["name"] != MANAGEMENT and a["users_listed"] != a["users_seeded"]:
                problems.append(f"{account}: {a['users_listed']} users listed of {a['users_seeded']} seeded")
            if a["users_not_evaluated"]:
                problems.append(f"{account}: {a['users_not_evaluated']} users not evaluated")
            over = budget_problem(a)
            if over:
                problems.append(f"{account}: {over}")
            others = {role: n for role, n in a["iam_calls_by_role"].items() if role != read_role}
            if others:
                problems.append(f"{account}: IAM calls not made through {read_role}: {others}")
    return problems


def org_table(results: list[OrgSweepResult]) -> str:
    """Each organisation sweep: a summary line, a row per account, the calls outside the IAM budget."""
    lines = []
    for r in results:
        lines += [
            "",
            f"organisation {r['members']} x {r['users_per_member']} users: {r['status']} in {r['wall_seconds']:.0f} s,"
            f" {r['coverage_swept']} of {len(r['accounts'])} accounts swept, at most {r['max_concurrent_accounts']}"
            f" accounts at once (MAX_ACCOUNT_CONCURRENCY {r['max_account_concurrency']})",
            f"  largest payload {r['max_payload_bytes']} B (Map item {r['max_map_item_bytes']} B),"
            f" {r['iam_calls_total']} IAM calls ({r['iam_calls_counted']} counted by the emulator's gate),"
            f" Lambda {r['lambda_seconds']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB,"
            f" findings {r['findings']} ({r['findings_digest']})",
        ]
        head = [
            "account",
            "name",
            "users",
            "candidates",
            "findings",
            "IAM calls",
            "budget",
            "swept from s",
            "to s",
            "s",
        ]
        rows = [head]
        for a in r["accounts"]:
            first, last = a["first_call_seconds"], a["last_call_seconds"]
            rows.append(
                [
                    a["account_id"],
                    a["name"],
                    str(a["users_listed"]),
                    str(a["candidates"]),
                    str(a["findings"]),
                    str(a["iam_calls_total"]),
                    str(a["iam_call_budget"] or "screening"),
                    "-" if first is None else f"{first:.0f}",
                    "-" if last is None else f"{last:.0f}",
                    "-" if first is None or last is None else f"{last - first:.0f}",
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
        ops = ", ".join(f"{op} {n}" for op, n in r["sts_calls"].items()) or "none"
        roles = ", ".join(f"{role} {n}" for role, n in r["sts_calls_by_role"].items())
        lines.append(f"  STS (outside the IAM budget): {ops}" + (f" (by {roles})" if roles else ""))
        ops = ", ".join(f"{op} {n}" for op, n in r["organizations_calls"].items()) or "none"
        lines.append(f"  Organizations (outside the IAM budget): {ops}")
        if r["refused_calls"]:
            lines.append(f"  refused requests: {r['refused_calls']}")
        lines.append("  IAM calls per operation:")
        for a in r["accounts"]:
            ops = ", ".join(f"{op} {n}" for op, n in a["iam_calls"].items()) or "none"
            lines.append(f"    {a['name']}: {ops}")
    return "\n".join(lines)
