"""Who called what during a bench sweep, and when, from the emulator's record of every request it
authorised or refused (`GET /_keyward/principals`, keyward_local.emulator.iam_auth): the calls by the
account in each caller's ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>), and each
account's window of IAM calls as polls of that record see it. keyward_local.bench_org measures
organisation sweeps with it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, TypedDict

from keyward_local.bench import BenchError

#: The services whose calls are counted per account: IAM's against the budget, the others beside it.
COUNTED_SERVICES = ("iam", "sts", "organizations")


class AccountCalls(TypedDict):
    """The requests made as callers of one account."""

    #: Calls by service (`iam`, `sts`, `organizations`), then by operation.
    operations: dict[str, dict[str, int]]
    #: IAM calls by the role (or `root`) that made them.
    iam_by_role: dict[str, int]
    refused: int


def caller_account(principal: str) -> str | None:
    """The account of a caller's ARN (arn:aws:sts::<account>:assumed-role/…, arn:aws:iam::<account>:…)."""
    parts = principal.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4].isdigit() else None


def caller_role(principal: str) -> str:
    """The role of an assumed-role caller's ARN; else what the ARN names (`root`, `user/<name>`)."""
    resource = principal.split(":", 5)[-1]
    if resource.startswith("assumed-role/"):
        return resource.split("/")[1]
    return resource


def calls_by_account(snapshot: object) -> dict[str, AccountCalls]:
    """The emulator's record of requests (`GET /_keyward/principals`) by the account of each caller:
    IAM, STS and Organizations operations (other services are the functions' run state, not counted),
    and how many of them were refused."""
    if not isinstance(snapshot, list):
        raise BenchError(f"GET /_keyward/principals answered {snapshot!r}, not a list of callers")
    grouped: dict[str, AccountCalls] = {}
    for row in snapshot:
        principal, action, count = str(row["principal"]), str(row["action"]), int(row["count"])
        service, _, operation = action.partition(":")
        account = caller_account(principal)
        if account is None or service not in COUNTED_SERVICES:
            continue
        calls = grouped.setdefault(account, {"operations": {}, "iam_by_role": {}, "refused": 0})
        by_operation = calls["operations"].setdefault(service, {})
        by_operation[operation] = by_operation.get(operation, 0) + count
        if service == "iam":
            role = caller_role(principal)
            calls["iam_by_role"][role] = calls["iam_by_role"].get(role, 0) + count
        if not row["allowed"]:
            calls["refused"] += count
    return grouped


def sts_by_role(snapshot: list[dict[str, Any]]) -> dict[str, int]:
    """STS calls by the role (or `root`) that made them."""
    roles: Counter[str] = Counter()
    for row in snapshot:
        if str(row["action"]).startswith("sts:"):
            roles[caller_role(str(row["principal"]))] += int(row["count"])
    return dict(sorted(roles.items()))


# --------------------------------------------------------------------------------------------------
# When each account was swept


class ActivityWatch:
    """When each account made its IAM calls, from polls of their counts: an account's window runs from
    the first poll that sees a call of it to the poll that sees its last."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.seen: dict[str, int] = {}

    def observe(self, at: float, iam_calls: Mapping[str, int]) -> None:
        """The IAM calls counted so far, by account, at `at` seconds."""
        for account, total in iam_calls.items():
            if total > self.seen.get(account, 0):
                self.first.setdefault(account, at)
                self.last[account] = at
                self.seen[account] = total

    def windows(self) -> dict[str, tuple[float, float]]:
        """(first, last) seconds of each account that made an IAM call."""
        return {account: (self.first[account], self.last[account]) for account in self.first}


def max_concurrent(windows: Mapping[str, tuple[float, float]]) -> int:
    """The most accounts swept at one moment: at a moment t, those whose window began at or before t and
    ends after it (one that ends as another begins was not beside it; one seen by a single poll counts
    beside nothing)."""
    return max(
        (sum(1 for begin, end in windows.values() if begin <= t < end) for t, _ in windows.values()),
        default=0,
    )


def iam_totals(snapshot: object) -> dict[str, int]:
    """IAM calls so far by the caller's account."""
    return {
        account: sum(calls["operations"].get("iam", {}).values())
        for account, calls in calls_by_account(snapshot).items()
    }


def service_calls(grouped: Mapping[str, AccountCalls], service: str) -> dict[str, int]:
    """The calls to `service` of every account together, by operation."""
    total: Counter[str] = Counter()
    for calls in grouped.values():
        total.update(calls["operations"].get(service, {}))
    return dict(sorted(total.items()))
