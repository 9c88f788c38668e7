"""KEYWARD_MODE=auto with MFA_SCOPE=all (IAM.19): no approval step; a user without MFA is flagged even
without a console password, and its active keys are deactivated, re-checked live first. Keys that
do not break the policy, and inactive keys, are never touched."""

from __future__ import annotations

from helpers import LocalStack, actions, decision, findings, plan_keys, plan_status
from keyward_local import client
from keyward_local.client import Seeder

SETTINGS = {"KEYWARD_MODE": "auto", "MFA_SCOPE": "all", "IAM_MAX_RPS": "200"}


def test_auto_mode_with_scope_all_deactivates_keys_of_users_without_mfa(stack: LocalStack, account: Seeder) -> None:
    s = account
    programmatic = s.user("prog")
    programmatic_key = s.key(programmatic, age_days=10, used_days_ago=1)
    programmatic_old_inactive = s.key(programmatic, age_days=200, used_days_ago=150, active=False)
    console = s.user("console", console=True)
    console_key = s.key(console, age_days=10, used_days_ago=1)
    with_mfa = s.user("mfa")
    s.mfa(with_mfa)
    compliant = s.key(with_mfa, age_days=10, used_days_ago=1)

    sweep = stack.sweep("auto-all")
    sweep.succeeds()

    states = sweep.states()
    assert "Request Approval" not in states and "Deactivate" in states and "Notify Outcome" in states
    assert not any(client.APPROVAL_LINK.search(m.get("message") or "") for m in sweep.messages())
    report = sweep.report()
    assert report["config"]["mfa_scope"] == "all" and report["config"]["mode"] == "auto"
    no_mfa = {user for rule, user, _ in findings(report) if rule == "no-mfa"}
    assert no_mfa == {programmatic, console}
    assert plan_status(report) == "automatic"
    assert plan_keys(report) == {programmatic_key, console_key}
    assert decision(report)["decided_by"] == {"kind": "automatic"}, "the record says no human decided"
    assert {k["access_key_id"] for k in decision(report)["approved"]} == {programmatic_key, console_key}
    assert actions(report) == {programmatic_key: {"kind": "deactivated"}, console_key: {"kind": "deactivated"}}

    assert stack.key_status(programmatic, programmatic_key) == "Inactive"
    assert stack.key_status(console, console_key) == "Inactive"
    assert stack.key_status(programmatic, programmatic_old_inactive) == "Inactive"
    assert stack.key_status(with_mfa, compliant) == "Active"
    assert any("2 keys deactivated" in subject for subject in sweep.subjects()), sweep.subjects()
