"""KEYWARD_MODE=report (the dry run): the whole plan is computed, reported and sent, and nothing in
IAM changes; no approval is requested. And exemption tags as IAM stores them: within
MAX_EXEMPTION_DAYS they exempt, further ahead they do not and are reported."""

from __future__ import annotations

import datetime as dt

from helpers import LocalStack, findings, plan_keys, plan_status, seed_three_violations
from keyward_local import client
from keyward_local.client import Seeder

SETTINGS = {
    "KEYWARD_MODE": "report",
    "UNUSED_KEY_DAYS": "30",
    "EXEMPT_USERS": "/breakglass/",
    "MAX_EXEMPTION_DAYS": "60",
    "IAM_MAX_RPS": "200",
}


def test_report_mode_reports_the_plan_and_changes_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    keys = seed_three_violations(s)
    users = s.names
    before = client.key_statuses(stack.iam, users)
    calls_before = stack.iam_calls()

    sweep = stack.sweep("report")
    sweep.succeeds()

    assert client.key_statuses(stack.iam, users) == before
    states = sweep.states()
    assert "Notify Findings" in states
    assert not {"Request Approval", "Deactivate", "Deactivate Approved Keys"} & set(states), states
    report = sweep.report()
    assert report["config"]["mode"] == "report"
    assert plan_status(report) == "report-only"
    assert plan_keys(report) == {keys["no-mfa"], keys["too-old"], keys["unused"]}
    assert report.get("decision") is None and report.get("actions") == []
    assert len(sweep.messages()) == 1, sweep.subjects()
    digest = sweep.messages()[0]["message"]
    assert not client.APPROVAL_LINK.search(digest)
    for key_id in (keys["no-mfa"], keys["too-old"], keys["unused"]):
        assert key_id in digest

    # Not one IAM call that writes: the emulator counted every request of the run.
    calls = stack.iam_calls()
    run_calls = {op: n - calls_before.get(op, 0) for op, n in calls.items() if n != calls_before.get(op, 0)}
    writes = {op for op in run_calls if not op.startswith(("Get", "List", "Generate"))}
    assert writes == set(), run_calls


def test_an_exemption_tag_within_max_exemption_days_exempts_and_one_200_days_ahead_is_reported(
    stack: LocalStack, account: Seeder
) -> None:
    # GIVEN two users with a key 200 days old, tagged until 30 and 200 days ahead (MAX_EXEMPTION_DAYS=60)
    s = account
    today = s.now.date()
    within = s.user("within", tags=client.exemption_tags(today + dt.timedelta(days=30), "INC-42: migration"))
    s.key(within, age_days=200, used_days_ago=1)
    far = s.user("far", tags=client.exemption_tags(today + dt.timedelta(days=200), "forever please"))
    far_key = s.key(far, age_days=200, used_days_ago=1)

    # WHEN a sweep runs
    sweep = stack.sweep("exempt-tags")
    sweep.succeeds()

    # THEN the first is exempt by its tags, with its reason; the second is planned and reported
    report = sweep.report()
    evaluation = report["evaluation"]
    assert [(e["user_name"], e["source"], e["suppressed"]) for e in evaluation["exemptions"]] == [
        (
            within,
            {"kind": "tag", "until": (today + dt.timedelta(days=30)).isoformat(), "reason": "INC-42: migration"},
            ["key-too-old"],
        )
    ]
    assert plan_keys(report) == {far_key}
    assert report["config"]["max_exemption_days"] == 60
    far_until = (today + dt.timedelta(days=200)).isoformat()
    [problem] = evaluation["exemption_problems"]
    assert (problem["user_name"], problem["tag"], problem["tag_value"]) == (far, "keyward:exempt-until", far_until)
    assert problem["problem"]["kind"] == "too-far-ahead"
    assert problem["problem"]["max_exemption_days"] == 60
    assert problem["problem"].get("latest", far_until) < far_until
    digest = sweep.messages()[0]["message"]
    assert f"{far_until} is too far ahead: more than MAX_EXEMPTION_DAYS=60 days from today" in digest, digest


def seed_mixed_account(s: client.Seeder, users: int) -> None:
    """A deterministic mix: every third user breaks a rule, the rest are compliant."""
    for i in range(users):
        user = s.user(f"u{i:03}", console=i % 6 == 0)
        if i % 3 == 0:
            s.key(user, age_days=100 + i, used_days_ago=1)  # key-too-old
        elif i % 3 == 1:
            s.key(user, age_days=10, used_days_ago=1)
        if i % 6 == 3:
            s.key(user, age_days=40, used_days_ago=35)  # key-unused (UNUSED_KEY_DAYS=30)


def test_a_throttled_sweep_evaluates_every_user_and_finds_the_same(stack: LocalStack, account: Seeder) -> None:
    seed_mixed_account(account, 24)
    calm = stack.sweep("calm")
    calm.succeeds()
    expected = findings(calm.report())
    assert len({user for _, user, _ in expected}) == 8  # every third user

    throttled_before = stack.iam_throttled()
    stack.throttle_iam(5)
    try:
        stormy = stack.sweep("throttled")
        stormy.succeeds(seconds=300)
    finally:
        stack.throttle_iam(None)
    throttled = stack.iam_throttled()
    assert sum(throttled.values()) > sum(throttled_before.values()), "the emulator throttled nothing"

    report = stormy.report()
    assert report["users_not_evaluated"] == [] and report["users_checked"] == calm.report()["users_checked"]
    assert findings(report) == expected
    assert plan_keys(report) == plan_keys(calm.report())
