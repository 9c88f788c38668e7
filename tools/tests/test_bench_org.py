"""The organisation bench's own logic (keyward_local.bench_org), without a stack: what BENCH_ORG asks
for, how the emulator's record of callers becomes calls per account, when accounts count as swept side
by side, and which results break a budget."""

from __future__ import annotations

import copy

import pytest
from keyward_local.bench import BenchError, plan_account
from keyward_local.bench_org import (
    MANAGEMENT,
    ActivityWatch,
    OrgAccountResult,
    OrgSize,
    OrgSweepResult,
    account_budget,
    account_result,
    caller_account,
    caller_role,
    calls_by_account,
    findings_digest,
    max_concurrent,
    member_seed,
    org_budget_failures,
    parse_orgs,
)

MEMBER = "210987654321"
OTHER = "333333333333"
MANAGEMENT_ID = "123456789012"


def test_bench_org_reads_members_by_users_and_empty_means_none() -> None:
    assert parse_orgs("10x1000,3x5000") == [OrgSize(10, 1000), OrgSize(3, 5000)]
    assert parse_orgs(" 2x50 , ") == [OrgSize(2, 50)]
    assert parse_orgs("") == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10", "is not <member accounts>x<users>"),
        ("10x", "is not <member accounts>x<users>"),
        ("x1000", "is not <member accounts>x<users>"),
        ("10*1000", "is not <member accounts>x<users>"),
        ("0x1000", "the local stack makes 1 to 20"),
        ("21x1000", "the local stack makes 1 to 20"),
        ("3x0", "at least one user"),
    ],
)
def test_a_bench_org_entry_that_is_not_members_by_users_is_refused_by_name(text: str, says: str) -> None:
    with pytest.raises(BenchError, match=says) as refused:
        parse_orgs(f"1x10,{text}")
    assert repr(text) in str(refused.value)


def test_each_member_has_its_own_account_the_same_in_every_run() -> None:
    first, second = plan_account(200, member_seed(7, 1)), plan_account(200, member_seed(7, 2))
    assert first != second
    assert plan_account(200, member_seed(7, 1)) == first


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


def test_the_per_account_budget_is_the_single_accounts() -> None:
    assert account_budget(1000, 172) == 3 + 1 + 4 * 172
    assert account_budget(5000, 0) == 3 + 5
    assert account_budget(1001, 1) == 3 + 2 + 4


def account(name: str, account_id: str, calls: int, listed: int = 1000, candidates: int = 150) -> OrgAccountResult:
    calls_of = {"operations": {"iam": {"GetUser": calls}}, "iam_by_role": {"keyward-read": calls}, "refused": 0}
    swept = {"users_listed": listed, "users_checked": candidates, "users_not_evaluated": 0}
    seeded = 0 if name == MANAGEMENT else listed
    return account_result(account_id, name, seeded, calls_of, swept, (1.0, 20.0))  # type: ignore[arg-type]


def sweep(accounts: list[OrgAccountResult], **fields: object) -> OrgSweepResult:
    result: OrgSweepResult = {
        "scope": "organization",
        "members": len(accounts) - 1,
        "users_per_member": 1000,
        "seed": 7,
        "status": "SUCCEEDED",
        "coverage_discovered": len(accounts),
        "coverage_swept": len(accounts),
        "coverage_failed": [],
        "coverage_complete": True,
        "accounts": accounts,
        "iam_calls_total": sum(a["iam_calls_total"] for a in accounts),
        "iam_calls_counted": sum(a["iam_calls_total"] for a in accounts),
        "sts_calls": {"AssumeRole": 30},
        "sts_calls_by_role": {"keyward-check-user": 20, "keyward-list-users": 10},
        "organizations_calls": {"ListAccounts": 1},
        "refused_calls": 0,
        "wall_seconds": 100.0,
        "max_concurrent_accounts": 5,
        "max_account_concurrency": 5,
        "max_payload_bytes": 900,
        "lambda_seconds": 50.0,
        "lambda_seconds_by_function": {},
        "peak_rss_mb": 30.0,
        "findings": 10,
        "findings_digest": "abc",
        "execution": "bench-org",
    }
    result.update(fields)  # type: ignore[typeddict-item]
    return result


def good() -> OrgSweepResult:
    return sweep(
        [account(MANAGEMENT, MANAGEMENT_ID, 3, listed=0, candidates=0), account("member-1", MEMBER, 500)]
        + [account(f"member-{i}", f"{i:012d}", 600) for i in range(2, 4)]
    )


def test_a_sweep_within_every_budget_breaks_none() -> None:
    assert org_budget_failures([good()]) == []


def test_an_account_over_its_own_budget_fails_even_when_the_organisation_as_a_whole_is_under() -> None:
    r = good()
    budget = account_budget(1000, 150)
    r["accounts"][1] = account("member-1", MEMBER, budget + 1)
    r["accounts"][2] = account("member-2", "000000000002", 3)
    assert sum(a["iam_calls_total"] for a in r["accounts"]) < sum(a["iam_call_budget"] or 0 for a in r["accounts"])
    assert org_budget_failures([r]) == [
        f"organisation 3x1000, member-1 ({MEMBER}): {budget + 1} IAM calls, over the budget 3 + ceil(N/1000) + 4V"
        f" = {budget}"
    ]


def test_accounts_one_after_another_fail_the_parallel_budget() -> None:
    assert org_budget_failures([sweep(good()["accounts"], max_concurrent_accounts=1)]) == [
        "organisation 3x1000: at most 1 account swept at a time: the accounts did not run in parallel"
    ]
    alone = sweep([account(MANAGEMENT, MANAGEMENT_ID, 3, listed=0, candidates=0)], max_concurrent_accounts=1)
    assert org_budget_failures([alone]) == []


def test_a_member_not_swept_or_partly_listed_or_read_with_another_role_fails() -> None:
    r = good()
    r["accounts"][1]["swept"] = False
    r["accounts"][2]["users_listed"] = 999
    r["accounts"][3]["iam_calls_by_role"] = {"keyward-read": 500, "keyward-check-user": 100}
    failures = org_budget_failures([r])
    assert failures == [
        f"organisation 3x1000, member-1 ({MEMBER}): not swept",
        "organisation 3x1000, member-2 (000000000002): 999 users listed of 1000 seeded",
        "organisation 3x1000, member-3 (000000000003): IAM calls not made through keyward-read:"
        " {'keyward-check-user': 100}",
    ]


def test_a_run_not_green_incomplete_or_with_a_large_payload_fails() -> None:
    r = sweep(
        copy.deepcopy(good()["accounts"]),
        status="FAILED",
        coverage_complete=False,
        coverage_failed=[f"{OTHER}: MemberRoleRefused: role keyward-read missing"],
        max_payload_bytes=64 * 1024 + 1,
    )
    assert org_budget_failures([r]) == [
        "organisation 3x1000: the sweep ended FAILED",
        f"organisation 3x1000: coverage not complete: {OTHER}: MemberRoleRefused: role keyward-read missing",
        "organisation 3x1000: a state payload of 65537 bytes (limit 65536)",
    ]


def test_the_findings_digest_names_accounts_as_the_bench_does_so_two_stacks_compare() -> None:
    def report(member_id: str, key: str) -> dict[str, object]:
        finding = {"rule": "key-too-old", "account_id": member_id, "user_name": "bench-00001", "access_key_id": key}
        return {"evaluation": {"findings": [finding]}}

    one = findings_digest(report(MEMBER, "AKIAONE"), {MEMBER: "member-1"}, {"AKIAONE": "member-1/bench-00001#0"})
    two = findings_digest(report(OTHER, "AKIATWO"), {OTHER: "member-1"}, {"AKIATWO": "member-1/bench-00001#0"})
    other = findings_digest(report(OTHER, "AKIATWO"), {OTHER: "member-2"}, {"AKIATWO": "member-2/bench-00001#0"})
    assert one == two != other
