"""The organisation run (README, "Organizations"; docs/architecture.md, "The flow"): with
KEYWARD_SCOPE=organization one execution discovers the organisation's accounts, sweeps each member
through its keyward-read role in a Map over accounts, sends one digest and one approval for all of
them, and deactivates exactly the approved keys, each in its own account, through keyward-deactivate
with the approver as the session's source identity. An account excluded by ORG_EXCLUDE (here the
management account, whose id is the only one known before `up`) is discovered, named in the
coverage and never touched; a member whose role is missing is named in the coverage with the reason
and the fix, the other accounts proceed, and the run ends failed (AccountsNotSwept) so an alarm fires.
One stack for the module: three members."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import ORG_SETTINGS, LocalStack
from keyward_local import browser, client, org
from keyward_local.client import Seeder
from keyward_local.console import http_json
from keyward_local.paths import ACCOUNT_ID
from mypy_boto3_iam import IAMClient

#: The approver the local OpenID provider signs in (keyward_local.oidc): the source identity of every
#: deactivation session, as the member account's CloudTrail records it.
APPROVER_EMAIL = "approver@example.com"

SETTINGS = ORG_SETTINGS
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) keyward-e2e"
READ_ROLE = "keyward-read"


@dataclass
class Org:
    """The stack's member accounts, an IAM client in each (as OrganizationAccountAccessRole) and a
    seeder of each, named after the test."""

    members: list[str]
    iam: dict[str, IAMClient]
    seeders: dict[str, Seeder]


@pytest.fixture(scope="module")
def members(stack: LocalStack) -> list[str]:
    return org.member_accounts(stack.env)


@pytest.fixture
def accounts(stack: LocalStack, members: list[str], account: Seeder) -> Iterator[Org]:
    """Every account of the organisation without users (the management account's are removed by
    `account`), and a seeder in each member."""
    iam = {m: org.member_session(m, stack.endpoint).client("iam") for m in members}
    for member_iam in iam.values():
        for name in client.user_names(member_iam):
            client.remove_user(member_iam, name)
    seeders = {m: org.member_seeder(m, f"{account.prefix}-{i + 1}", stack.endpoint) for i, m in enumerate(members)}
    yield Org(members, iam, seeders)


def principals(stack: LocalStack) -> list[dict[str, Any]]:
    """Every request the emulator authorised or refused, with its caller and source identity."""
    calls = http_json("GET", f"{stack.endpoint}/_keyward/principals")
    assert isinstance(calls, list)
    return calls


def coverage(report: Any) -> dict[str, Any]:
    found = report.get("coverage")
    assert isinstance(found, dict), f"the report has no coverage: {sorted(report)}"
    return found


def approve(link: str, token: str, keys: list[tuple[str, str]]) -> browser.Answer:
    """POSTs the confirm page's form approving `keys` ((account, key id) pairs) as the approver."""
    form = [("token", token)] + [("key", browser.selection(k, a)) for a, k in keys] + [("decision", "approve")]
    return browser.approver_browser(link).fetch(link, "POST", BROWSER, form)


def test_approving_keys_in_two_accounts_changes_exactly_those_keys_in_exactly_those_accounts(
    stack: LocalStack, accounts: Org, account: Seeder
) -> None:
    m1, m2, m3 = accounts.members
    s1, s2, s3 = (accounts.seeders[m] for m in (m1, m2, m3))
    keys = {
        (m1, "no-mfa"): s1.key(s1.user("console", console=True), age_days=10, used_days_ago=1),
        (m1, "too-old"): s1.key(s1.user("old"), age_days=200, used_days_ago=1),
        (m2, "unused"): s2.key(s2.user("idle"), age_days=60, used_days_ago=45),
        (m2, "too-old"): s2.key(s2.user("old"), age_days=300, used_days_ago=2),
    }
    compliant = s3.user("fine", console=True)
    s3.mfa(compliant)
    fresh = s3.key(compliant, age_days=5, used_days_ago=1)
    # The management account is excluded: its violation is never planned and its key never touched.
    excluded = account.key(account.user("old"), age_days=400, used_days_ago=1)
    http_json("DELETE", f"{stack.endpoint}/_keyward/principals")

    sweep = stack.sweep("org-approve")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)
    assert page.accounts == {m1, m2}, page.text[:2000]
    assert set(page.keys) == set(keys.values())

    # A key of member 1 named in member 2 is refused whole: nothing is decided, the run still waits.
    forged = approve(link, page.token, [(m2, keys[(m1, "no-mfa")]), (m2, keys[(m2, "unused")])])
    assert forged.status == 400, forged.text[:1000]
    assert sweep.status() == "RUNNING"

    approved = [(m1, keys[(m1, "no-mfa")]), (m2, keys[(m2, "unused")])]
    answer = approve(link, page.token, approved)
    assert answer.status == 200, answer.text[:1000]
    sweep.succeeds()

    statuses = {m: client.key_statuses(accounts.iam[m], accounts.seeders[m].names) for m in (m1, m2, m3)}
    for (member, _), key_id in keys.items():
        expected = "Inactive" if (member, key_id) in approved else "Active"
        assert statuses[member][key_id][1] == expected, f"{key_id} in {member}"
    assert statuses[m3][fresh][1] == "Active"
    assert stack.key_status(f"{account.prefix}-old", excluded) == "Active"

    report = sweep.report()
    cover = coverage(report)
    assert cover["discovered"] == 4
    assert [a["account_id"] for a in cover["swept"]] == sorted([m1, m2, m3])
    assert [(a["account"]["id"], a["why"]["reason"]) for a in cover["skipped"]] == [(ACCOUNT_ID, "excluded")]
    assert cover["failed"] == []
    assert {(k["account_id"], k["access_key_id"]) for k in report["evaluation"]["plan"]["keys"]} == {
        (m, k) for (m, _), k in keys.items()
    }
    decided = report["decision"]
    assert decided is not None
    assert {(k["account_id"], k["access_key_id"]) for k in decided["approved"]} == set(approved)

    # Each deactivation went through its own account's write role, naming the approver.
    writes = [c for c in principals(stack) if c["action"] == "iam:UpdateAccessKey" and c["allowed"]]
    assert {(c["principal"].split(":")[4], c["source_identity"]) for c in writes} == {
        (m1, APPROVER_EMAIL),
        (m2, APPROVER_EMAIL),
    }, writes
    assert all("assumed-role/keyward-deactivate/" in c["principal"] for c in writes), writes
    reads = {c["principal"].split(":")[4] for c in principals(stack) if c["action"] == "iam:ListUsers"}
    assert ACCOUNT_ID not in reads, "the excluded management account is never read"

    digest = next(m for m in sweep.messages() if m["message"] and m1 in m["message"])
    assert m2 in digest["message"] and m3 in digest["message"]


def role_snapshot(iam: IAMClient, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A role's trust and inline policies, to put it back as it was."""
    role = iam.get_role(RoleName=name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    policies = {
        p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    }
    return (json.loads(trust) if isinstance(trust, str) else dict(trust)), {
        p: json.loads(d) if isinstance(d, str) else dict(d) for p, d in policies.items()
    }


@pytest.fixture
def member_without_read_role(accounts: Org) -> Iterator[str]:
    """Member 3 without keyward-read (as when the StackSet does not cover it), put back after."""
    member = accounts.members[2]
    iam = accounts.iam[member]
    trust, policies = role_snapshot(iam, READ_ROLE)
    for policy in policies:
        iam.delete_role_policy(RoleName=READ_ROLE, PolicyName=policy)
    iam.delete_role(RoleName=READ_ROLE)
    yield member
    iam.create_role(RoleName=READ_ROLE, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=3600)
    for policy, document in policies.items():
        iam.put_role_policy(RoleName=READ_ROLE, PolicyName=policy, PolicyDocument=json.dumps(document))


def test_a_member_without_the_read_role_is_named_in_the_coverage_and_the_run_is_not_green(
    stack: LocalStack, accounts: Org, member_without_read_role: str
) -> None:
    m1, m2, _ = accounts.members
    missing = member_without_read_role
    s1 = accounts.seeders[m1]
    # A warning only (a key near the age limit): the other accounts are swept and reported, and with
    # nothing planned the run asks nobody.
    warned = s1.key(s1.user("warned"), age_days=80, used_days_ago=1)

    sweep = stack.sweep("org-missing-role")
    assert sweep.finish() == "FAILED", sweep.diagnosis()
    described = stack.sfn.describe_execution(executionArn=sweep.arn)
    assert described.get("error") == "AccountsNotSwept", described
    assert "Accounts Not Swept" in sweep.states()

    report = sweep.report()
    cover = coverage(report)
    assert [a["account_id"] for a in cover["swept"]] == sorted([m1, m2])
    [failed] = cover["failed"]
    assert failed["failure"]["account_id"] == missing
    assert failed["failure"]["error"] == "MemberRoleRefused", failed
    assert READ_ROLE in failed["failure"]["reason"] and "member/keyward-member.yaml" in failed["failure"]["fix"]
    assert {(w["account_id"], w["access_key_id"]) for w in report["evaluation"]["warnings"]} == {(m1, warned)}

    digest = next(m for m in sweep.messages() if m["message"] and missing in m["message"])
    assert READ_ROLE in digest["message"], digest["message"][:3000]
