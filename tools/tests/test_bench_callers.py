"""How the bench reads the emulator's record of callers (keyward_local.bench_callers), without a stack:
calls grouped by the account in the caller's ARN, and when accounts count as swept side by side."""

from __future__ import annotations

import pytest
from keyward_local.bench import BenchError
from keyward_local.bench_callers import ActivityWatch, caller_account, caller_role, calls_by_account, max_concurrent

MEMBER = "210987654321"
OTHER = "333333333333"
MANAGEMENT_ID = "123456789012"


def test_a_caller_arn_names_its_account_and_role() -> None:
    read = f"arn:aws:sts::{MEMBER}:assumed-role/keyward-read/check-user-bench-org-1"
    assert caller_account(read) == MEMBER
    assert caller_role(read) == "keyward-read"
    assert caller_account(f"arn:aws:iam::{MANAGEMENT_ID}:root") == MANAGEMENT_ID
    assert caller_role(f"arn:aws:iam::{MANAGEMENT_ID}:root") == "root"
    assert caller_account("anonymous") is None


def row(principal: str, action: str, count: int, allowed: bool = True) -> dict[str, object]:
    return {"principal": principal, "action": action, "allowed": allowed, "source_identity": None, "count": count}


def test_calls_are_grouped_by_the_account_in_the_callers_arn_with_sts_and_organizations_apart() -> None:
    read_list = f"arn:aws:sts::{MEMBER}:assumed-role/keyward-read/list-users-x"
    read_check = f"arn:aws:sts::{MEMBER}:assumed-role/keyward-read/check-user-x"
    lister = f"arn:aws:sts::{MANAGEMENT_ID}:assumed-role/keyward-list-users/list-users"
    snapshot = [
        row(read_list, "iam:GenerateCredentialReport", 4),
        row(read_list, "iam:ListUsers", 1),
        row(read_check, "iam:GetUser", 10),
        row(read_check, "iam:GetUser", 1, allowed=False),
        row(lister, "organizations:ListAccounts", 1),
        row(lister, "sts:AssumeRole", 2),
        row(lister, "s3:PutObject", 7),
        row(f"arn:aws:sts::{MANAGEMENT_ID}:assumed-role/keyward-read/list-users-x", "iam:ListUsers", 1),
    ]
    grouped = calls_by_account(snapshot)
    assert grouped[MEMBER] == {
        "operations": {"iam": {"GenerateCredentialReport": 4, "ListUsers": 1, "GetUser": 11}},
        "iam_by_role": {"keyward-read": 16},
        "refused": 1,
    }
    # The function roles' own calls are the management account's: STS and Organizations, no S3 counted.
    assert grouped[MANAGEMENT_ID]["operations"] == {
        "organizations": {"ListAccounts": 1},
        "sts": {"AssumeRole": 2},
        "iam": {"ListUsers": 1},
    }
    with pytest.raises(BenchError, match="not a list of callers"):
        calls_by_account({"error": "no"})


def test_an_accounts_window_runs_from_the_poll_that_sees_its_first_call_to_the_one_that_sees_its_last() -> None:
    watch = ActivityWatch()
    watch.observe(1.0, {})
    watch.observe(2.0, {MEMBER: 3})
    watch.observe(3.0, {MEMBER: 9, OTHER: 1})
    watch.observe(4.0, {MEMBER: 9, OTHER: 5})
    watch.observe(5.0, {MEMBER: 9, OTHER: 5})
    assert watch.windows() == {MEMBER: (2.0, 3.0), OTHER: (3.0, 4.0)}


def test_accounts_count_as_side_by_side_only_while_both_are_being_swept() -> None:
    assert max_concurrent({}) == 0
    assert max_concurrent({"a": (0.0, 10.0)}) == 1
    # One that ends as another begins ran after it, not beside it.
    assert max_concurrent({"a": (0.0, 10.0), "b": (10.0, 20.0), "c": (20.0, 30.0)}) == 1
    assert max_concurrent({"a": (0.0, 10.0), "b": (2.0, 12.0), "c": (4.0, 6.0), "d": (11.0, 13.0)}) == 3
    # Seen by a single poll: beside nothing, itself included.
    assert max_concurrent({"a": (5.0, 5.0), "b": (0.0, 9.0)}) == 1
    assert max_concurrent({"a": (5.0, 5.0)}) == 0
