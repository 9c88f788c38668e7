"""KEYWARD_MODE=approve (the default): every path of the flow (docs/architecture.md, "The flow") that a
human decision drives, plus no candidates and the cap, on the local stack (configuration:
helpers.APPROVE_SETTINGS)."""

from __future__ import annotations

from helpers import (
    APPROVE_SETTINGS,
    LocalStack,
    actions,
    assert_still_waiting,
    decision,
    findings,
    plan_keys,
    plan_status,
    seed_three_violations,
)
from keyward_local import browser, client
from keyward_local.client import Seeder
from keyward_local.paths import ACCOUNT_ID

SETTINGS = APPROVE_SETTINGS
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) keyward-e2e"
#: After the approval timeout, the run still has to notify and end.
RUN_MARGIN = 120


def test_no_candidates_ends_clean_and_touches_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    u = s.user("mfa", console=True)
    s.mfa(u)
    fresh_with_mfa = s.key(u, age_days=10, used_days_ago=1)
    fresh = s.key(s.user("prog"), age_days=20, used_days_ago=2)
    s.user("nokeys")

    sweep = stack.sweep("clean")
    sweep.succeeds()

    assert "Report Clean" in sweep.states()
    assert "Check Users" not in sweep.states(), "no candidate, so no user is read live"
    assert "Request Approval" not in sweep.states()
    assert stack.key_status(f"{s.prefix}-mfa", fresh_with_mfa) == "Active"
    assert stack.key_status(f"{s.prefix}-prog", fresh) == "Active"
    assert sweep.subjects() == ["keyward: all 3 IAM users compliant, nothing to do"]


def test_approving_a_subset_changes_exactly_it_and_a_key_named_in_another_account_decides_nothing(
    stack: LocalStack, account: Seeder
) -> None:
    s = account
    keys = seed_three_violations(s)
    before = client.key_statuses(stack.iam, s.names)

    sweep = stack.sweep("subset")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)
    assert set(page.keys) == {keys["no-mfa"], keys["too-old"], keys["unused"]}, page.text[:2000]
    assert page.accounts == {ACCOUNT_ID}, page.text[:2000]

    # A decision naming a planned key id with another account, beside a genuine one, decides nothing.
    forged = f"999999999999:{keys['unused']}"
    form = [("token", page.token), ("key", browser.selection(keys["no-mfa"])), ("key", forged)]
    refused = browser.approver_browser(link).fetch(link, "POST", BROWSER, [*form, ("decision", "approve")])
    assert refused.status == 400, refused.text[:500]
    assert forged in refused.text, refused.text[:500]
    assert_still_waiting(stack, sweep, f"{s.prefix}-old", keys["too-old"])
    assert client.key_statuses(stack.iam, s.names) == before

    # The real decision then works.
    approved = [keys["no-mfa"], keys["unused"]]  # the too-old key is unticked on purpose
    answer = browser.decide(link, page.token, approved, "approve", BROWSER)
    assert answer.status == 200, answer.text[:1000]
    assert "Approved: 2 access keys will be deactivated" in answer.text
    sweep.succeeds()

    after = client.key_statuses(stack.iam, s.names)
    changed = {k for k in after if after[k][1] != before[k][1]}
    assert changed == set(approved), f"changed {changed}, approved {approved}"
    assert all(after[k][1] == "Inactive" for k in approved)
    assert after[keys["too-old"]][1] == "Active", "the unticked key stays active"
    assert after[keys["inactive"]][1] == "Inactive", "an inactive key is reported, never touched"

    report = sweep.report()
    assert {k["access_key_id"] for k in decision(report)["approved"]} == set(approved)
    assert {k["account_id"] for k in decision(report)["approved"]} == {ACCOUNT_ID}
    assert decision(report)["decided_by"] == {
        "kind": "oidc",
        "issuer": stack.issuer,
        "subject": "approver",
        "email": "approver@example.com",
        "source_ip": "127.0.0.1",
        "user_agent": BROWSER,
    }
    assert {k: o["kind"] for k, o in actions(report).items()} == {k: "deactivated" for k in approved}
    assert {a["account_id"] for a in report["actions"]} == {ACCOUNT_ID}
    exempt = {e["user_name"] for e in report["evaluation"]["exemptions"]}
    assert exempt == {f"{s.prefix}-glass", f"{s.prefix}-tagged"}
    assert [w["access_key_id"] for w in report["evaluation"]["warnings"]] == [keys["warned"]]
    assert [k["access_key_id"] for k in report["evaluation"]["inactive_keys"]] == [keys["inactive"]]
    assert "Notify Outcome" in sweep.states()
    assert any("2 keys deactivated" in subject for subject in sweep.subjects()), sweep.subjects()

    again = browser.approver_browser(link).fetch(link, user_agent=BROWSER)
    assert again.status == 409, again.text[:500]
    assert "already decided" in again.text


def test_rejecting_changes_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    keys = seed_three_violations(s)
    before = client.key_statuses(stack.iam, s.names)

    sweep = stack.sweep("reject")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)
    answer = browser.decide(link, page.token, page.keys, "reject", BROWSER)
    assert answer.status == 200, answer.text[:1000]
    assert "Rejected: nothing will be deactivated" in answer.text
    sweep.succeeds()

    assert "Notify Rejected" in sweep.states()
    assert "Deactivate Approved Keys" not in sweep.states()
    assert client.key_statuses(stack.iam, s.names) == before
    report = sweep.report()
    assert decision(report)["approved"] == []
    assert report.get("actions") == []
    assert any("reject" in subject.lower() for subject in sweep.subjects()), sweep.subjects()
    assert keys["too-old"] in plan_keys(report)


def test_approval_timeout_ends_without_action(stack: LocalStack, account: Seeder) -> None:
    s = account
    key = s.key(s.user("old"), age_days=200, used_days_ago=1)

    sweep = stack.sweep("timeout")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)  # looked at, never decided
    sweep.succeeds(seconds=60 + RUN_MARGIN)

    assert "Notify Expired" in sweep.states()
    assert "Deactivate Approved Keys" not in sweep.states()
    assert stack.key_status(f"{s.prefix}-old", key) == "Active"
    assert any("expired" in subject.lower() for subject in sweep.subjects()), sweep.subjects()
    assert sweep.report().get("decision") is None

    # The link says so, and a late decision decides nothing.
    late = browser.decide(link, page.token, page.keys, "approve", BROWSER)
    assert late.status == 410, late.text[:500]
    assert "expired" in late.text.lower()
    assert stack.key_status(f"{s.prefix}-old", key) == "Active"
    assert sweep.report().get("decision") is None


def test_a_plan_over_the_cap_acts_on_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    planned = [s.key(s.user(f"old{i}"), age_days=100 + i, used_days_ago=1) for i in range(6)]

    sweep = stack.sweep("cap")
    sweep.succeeds()

    assert "Request Approval" not in sweep.states(), "over the cap nothing is offered for approval"
    assert not any(client.APPROVAL_LINK.search(m.get("message") or "") for m in sweep.messages())
    report = sweep.report()
    assert report["evaluation"]["plan"]["status"] == {"kind": "cap-exceeded", "planned": 6, "cap": 5}
    assert plan_keys(report) == set(planned)
    assert all(stack.key_status(f"{s.prefix}-old{i}", k) == "Active" for i, k in enumerate(planned))
    assert "cap" in sweep.messages()[0]["message"].lower()


def test_a_key_rotated_or_used_after_the_plan_is_skipped(stack: LocalStack, account: Seeder) -> None:
    s = account
    rotated_user = s.user("rotated")
    rotated = s.key(rotated_user, age_days=200, used_days_ago=1)
    used_user = s.user("used")
    used = s.key(used_user, age_days=60, used_days_ago=45)  # key-unused only (UNUSED_KEY_DAYS=30)
    still = s.key(s.user("still"), age_days=200, used_days_ago=1)

    sweep = stack.sweep("rotated")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)
    assert set(page.keys) == {rotated, used, still}

    # Between the plan and the decision: the owner rotates one key, another key gets used.
    replacement = stack.iam.create_access_key(UserName=rotated_user)["AccessKey"]["AccessKeyId"]
    stack.iam.delete_access_key(UserName=rotated_user, AccessKeyId=rotated)
    s.backdate(used_user, used, age_days=60, used_days_ago=0)

    answer = browser.decide(link, page.token, page.keys, "approve", BROWSER)
    assert answer.status == 200, answer.text[:1000]
    sweep.succeeds()

    outcome = actions(sweep.report())
    assert outcome[rotated] == {"kind": "skipped", "reason": {"kind": "key-deleted"}}
    assert outcome[used]["kind"] == "skipped"
    assert outcome[used]["reason"]["kind"] == "no-longer-violates"
    assert outcome[still] == {"kind": "deactivated"}
    assert stack.key_status(rotated_user, replacement) == "Active", "the new key is never touched"
    assert stack.key_status(used_user, used) == "Active"
    assert stack.key_status(f"{s.prefix}-still", still) == "Inactive"


def test_a_user_deleted_mid_run_is_skipped(stack: LocalStack, account: Seeder) -> None:
    s = account
    gone_user = s.user("gone", console=True)
    gone = s.key(gone_user, age_days=200, used_days_ago=1)
    kept = s.key(s.user("kept"), age_days=200, used_days_ago=1)

    sweep = stack.sweep("deleted")
    link = sweep.approval_link()
    page = browser.open_page(link, BROWSER)
    client.remove_user(stack.iam, gone_user)
    answer = browser.decide(link, page.token, page.keys, "approve", BROWSER)
    assert answer.status == 200, answer.text[:1000]
    sweep.succeeds()

    outcome = actions(sweep.report())
    assert outcome[gone] == {"kind": "skipped", "reason": {"kind": "user-deleted"}}
    assert outcome[kept] == {"kind": "deactivated"}
    assert stack.key_status(f"{s.prefix}-kept", kept) == "Inactive"


def test_no_mfa_with_console_scope_flags_console_users_only(stack: LocalStack, account: Seeder) -> None:
    s = account
    console = s.user("console", console=True)
    console_key = s.key(console, age_days=10, used_days_ago=1)
    programmatic = s.user("prog")
    programmatic_key = s.key(programmatic, age_days=10, used_days_ago=1)
    with_mfa = s.user("mfa", console=True)
    s.mfa(with_mfa)
    s.key(with_mfa, age_days=10, used_days_ago=1)
    keyless = s.user("keyless", console=True)

    sweep = stack.sweep("console-scope")
    link = sweep.approval_link()
    report = sweep.report()
    assert report["config"]["mfa_scope"] == "console"
    no_mfa = {(user, key) for rule, user, key in findings(report) if rule == "no-mfa"}
    assert no_mfa == {(console, None), (keyless, None)}
    assert plan_keys(report) == {console_key}, "a keyless user has nothing to deactivate"
    assert programmatic_key not in plan_keys(report)
    assert plan_status(report) == "awaiting-approval"

    page = browser.open_page(link, BROWSER)
    browser.decide(link, page.token, page.keys, "reject", BROWSER)
    sweep.succeeds()
