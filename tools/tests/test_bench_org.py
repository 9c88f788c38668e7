"""The organisation bench's own logic (keyward_local.bench_org), without a stack: what BENCH_ORG asks
for, the members' generated accounts, each account's budget, and which results break a budget."""

from __future__ import annotations

import copy

import pytest
from keyward_local.bench import BenchError, plan_account
from keyward_local.bench_org import (
    MANAGEMENT,
    OrgAccountResult,
    OrgSize,
    OrgSweepResult,
    account_budget,
    account_result,
    budget_problem,
    findings_digest,
    member_seed,
    org_budget_failures,
    org_table,
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


def test_the_per_account_budget_is_the_single_accounts() -> None:
    assert account_budget(1000, 172) == 3 + 1 + 4 * 172
    assert account_budget(1001, 1) == 3 + 2 + 4
    assert account_budget(5000, 0) is None


SCREENING = {"GenerateCredentialReport": 4, "GetCredentialReport": 1, "ListUsers": 1}


def account(
    name: str, account_id: str, calls: int | dict[str, int], listed: int = 1000, candidates: int = 150
) -> OrgAccountResult:
    iam = calls if isinstance(calls, dict) else {"GetUser": calls}
    total = sum(iam.values())
    calls_of = {"operations": {"iam": iam}, "iam_by_role": {"keyward-read": total}, "refused": 0}
    swept = {"users_listed": listed, "users_checked": candidates, "users_not_evaluated": 0}
    seeded = 0 if name == MANAGEMENT else listed
    return account_result(account_id, name, seeded, 0, calls_of, swept, (1.0, 20.0))  # type: ignore[arg-type]


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
        "max_map_item_bytes": 3000,
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
        [account(MANAGEMENT, MANAGEMENT_ID, SCREENING, listed=0, candidates=0), account("member-1", MEMBER, 500)]
        + [account(f"member-{i}", f"{i:012d}", 600) for i in range(2, 4)]
    )


def test_a_sweep_within_every_budget_breaks_none() -> None:
    assert org_budget_failures([good()]) == []


def test_an_account_over_its_own_budget_fails_even_when_the_organisation_as_a_whole_is_under() -> None:
    r = good()
    budget = 3 + 1 + 4 * 150
    assert account_budget(1000, 150) == budget
    r["accounts"][1] = account("member-1", MEMBER, budget + 1)
    r["accounts"][2] = account("member-2", "000000000002", 3)
    assert sum(a["iam_calls_total"] for a in r["accounts"]) < sum(a["iam_call_budget"] or 0 for a in r["accounts"])
    assert org_budget_failures([r]) == [
        f"organisation 3x1000, member-1 ({MEMBER}): {budget + 1} IAM calls, over the budget 3 + ceil(N/1000) + 4V"
        f" = {budget}"
    ]


def test_an_account_without_candidates_may_cost_screening_alone() -> None:
    # 3 + ceil(0/1000) + 0 = 3 cannot hold for an empty account: ListUsers answers one page even then,
    # and the report's generation costs its polls (4 here); what must hold is that nothing else is called.
    assert budget_problem(account(MANAGEMENT, MANAGEMENT_ID, SCREENING, listed=0, candidates=0)) is None
    assert budget_problem(account("member-1", MEMBER, {**SCREENING, "ListUsers": 2}, listed=1500, candidates=0)) is None
    assert (
        budget_problem(account(MANAGEMENT, MANAGEMENT_ID, {**SCREENING, "GetUser": 1}, listed=0, candidates=0))
        == "no candidate, but IAM calls beyond screening: GetUser"
    )
    assert (
        budget_problem(account(MANAGEMENT, MANAGEMENT_ID, {**SCREENING, "ListUsers": 2}, listed=0, candidates=0))
        == "no candidate, but ListUsers 2 times (pages: 1) and GetCredentialReport 1 times (once)"
    )


def test_accounts_one_after_another_fail_the_parallel_budget() -> None:
    assert org_budget_failures([sweep(good()["accounts"], max_concurrent_accounts=1)]) == [
        "organisation 3x1000: at most 1 account swept at a time: the accounts did not run in parallel"
    ]
    alone = sweep([account(MANAGEMENT, MANAGEMENT_ID, SCREENING, listed=0, candidates=0)], max_concurrent_accounts=1)
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
        max_map_item_bytes=64 * 1024 + 2,
    )
    assert org_budget_failures([r]) == [
        "organisation 3x1000: the sweep ended FAILED",
        f"organisation 3x1000: coverage not complete: {OTHER}: MemberRoleRefused: role keyward-read missing",
        "organisation 3x1000: a state payload of 65537 bytes (limit 65536)",
        "organisation 3x1000: a Map item of 65538 bytes (limit 65536)",
    ]


def test_the_findings_digest_names_accounts_as_the_bench_does_so_two_stacks_compare() -> None:
    def report(member_id: str, key: str) -> dict[str, object]:
        finding = {"rule": "key-too-old", "account_id": member_id, "user_name": "bench-00001", "access_key_id": key}
        return {"evaluation": {"findings": [finding]}}

    one = findings_digest(report(MEMBER, "AKIAONE"), {MEMBER: "member-1"}, {"AKIAONE": "member-1/bench-00001#0"})
    two = findings_digest(report(OTHER, "AKIATWO"), {OTHER: "member-1"}, {"AKIATWO": "member-1/bench-00001#0"})
    other = findings_digest(report(OTHER, "AKIATWO"), {OTHER: "member-2"}, {"AKIATWO": "member-2/bench-00001#0"})
    assert one == two != other


def test_the_table_has_a_row_per_account_and_the_calls_outside_the_iam_budget() -> None:
    r = good()
    r["accounts"][3]["swept"] = False
    r["accounts"][3]["first_call_seconds"] = None
    shown = org_table([r])
    assert "organisation 3 x 1000 users: SUCCEEDED in 100 s, 4 of 4 accounts swept, at most 5 accounts" in shown
    assert f"{MANAGEMENT_ID}  management" in shown and "screening" in shown
    assert "STS (outside the IAM budget): AssumeRole 30 (by keyward-check-user 20, keyward-list-users 10)" in shown
    assert "Organizations (outside the IAM budget): ListAccounts 1" in shown
    assert "    member-1: GetUser 500" in shown
