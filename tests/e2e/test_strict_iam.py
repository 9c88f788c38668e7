"""The emulator is as strict as AWS IAM (docs/local-stack.md, "As strict as AWS"), with the stack as
`scripts/local-stack up` starts it by default: tags AWS refuses are refused, listings page (in pages
shorter than MaxItems asks), reads lag behind UpdateAccessKey, and the credential report takes time;
keyward copes with each."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from helpers import APPROVE_SETTINGS, LocalStack
from keyward_local import browser
from keyward_local.client import Seeder

SETTINGS = APPROVE_SETTINGS

#: list-users waits this long for the credential report (keyward_aws::iam::ReportWait's default).
LIST_USERS_REPORT_WAIT = 60
#: The emulator's page bound at `up` (IAM_PAGE_ITEMS' default): a page of ListUsers holds at most this
#: many users, however many MaxItems asks for.
PAGE_ITEMS = 100
#: Users of the paging sweep: more than two of the emulator's pages, and far fewer than keyward's
#: MaxItems (1000), so a sweep that took a page shorter than MaxItems for the last one would miss most.
USERS = 250


def test_up_turns_the_strictness_on_by_default(stack: LocalStack) -> None:
    assert stack.iam_strict() == {"read_lag_seconds": 2.0, "report_delay_seconds": 5.0, "page_items": PAGE_ITEMS}


def test_a_tag_value_aws_refuses_is_refused_and_creates_no_user(stack: LocalStack, account: Seeder) -> None:
    with pytest.raises(ClientError) as refused:
        account.user("semicolon", tags={"keyward:exempt": "until=2099-01-01;reason=e2e"})
    error = refused.value.response
    assert error["Error"]["Code"] == "ValidationError" and error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "tags.1.member.value" in error["Error"]["Message"]
    assert stack.iam.list_users()["Users"] == []


def test_listings_page_and_a_sweep_over_more_than_a_page_of_users_sees_every_user(
    stack: LocalStack, account: Seeder
) -> None:
    # keyward asks ListUsers for MaxItems 1000 (keyward_aws::iam::paging); IAM may answer fewer with
    # IsTruncated, and the emulator answers at most PAGE_ITEMS: only the markers lead to every user.
    s = account
    for i in range(USERS):
        s.user(f"u{i:04}")
    old = s.key(s.user("old"), age_days=200, used_days_ago=1)
    tagged = s.user("tagged", tags={f"team{i}": f"value {i}" for i in range(7)})

    first = stack.iam.list_users()
    assert len(first["Users"]) == 100 and first["IsTruncated"], "moto alone answers every user at once"
    asked = stack.iam.list_users(MaxItems=1000)
    assert len(asked["Users"]) == PAGE_ITEMS and asked["IsTruncated"], "a page holds fewer users than MaxItems asks"
    pages = list(stack.iam.get_paginator("list_user_tags").paginate(UserName=tagged, PaginationConfig={"PageSize": 3}))
    assert [len(p["Tags"]) for p in pages] == [3, 3, 1]

    calls_before = stack.iam_calls()
    sweep = stack.sweep("paging")
    link = sweep.approval_link()
    page = browser.open_page(link)
    assert page.keys == [old], page.text[:2000]
    assert browser.decide(link, page.token, [old]).status == 200
    # The deactivation's read-back meets the read lag (IAM_READ_LAG_SECONDS=2) and waits it out.
    sweep.succeeds()

    report = sweep.report()
    assert report["users_listed"] == USERS + 2
    assert {(f["rule"], f["access_key_id"]) for f in report["evaluation"]["findings"]} == {("key-too-old", old)}
    assert {a["access_key_id"]: a["outcome"]["kind"] for a in report["actions"]} == {old: "deactivated"}
    user_pages = -(-(USERS + 2) // PAGE_ITEMS)
    listed = stack.iam_calls().get("ListUsers", 0) - calls_before.get("ListUsers", 0)
    assert listed >= user_pages, f"ListUsers was paged: {listed} calls for {user_pages} pages"


def test_with_the_lag_a_read_straight_after_update_access_key_shows_the_old_status(
    stack: LocalStack, account: Seeder
) -> None:
    user = account.user("lagging")
    key = account.key(user, age_days=1, used_days_ago=None)
    stack.iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    changed = time.monotonic()
    assert stack.key_status(user, key) == "Active"
    time.sleep(max(0.0, 2.2 - (time.monotonic() - changed)))
    assert stack.key_status(user, key) == "Inactive"


def test_the_credential_report_is_not_ready_at_once(stack: LocalStack, account: Seeder) -> None:
    iam = stack.iam
    with pytest.raises(iam.exceptions.CredentialReportNotPresentException):
        iam.get_credential_report()
    assert iam.generate_credential_report()["State"] == "STARTED"
    with pytest.raises(iam.exceptions.CredentialReportNotReadyException) as not_ready:
        iam.get_credential_report()
    assert not_ready.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_report_slower_than_list_users_waits_makes_the_run_check_every_user_live_and_say_so(
    stack: LocalStack, account: Seeder
) -> None:
    s = account
    u = s.user("mfa", console=True)
    s.mfa(u)
    s.key(u, age_days=10, used_days_ago=1)
    s.user("nokeys")
    stack.iam_strict(report_delay_seconds=LIST_USERS_REPORT_WAIT * 10)
    try:
        sweep = stack.sweep("slow-report")
        sweep.succeeds(seconds=LIST_USERS_REPORT_WAIT + 180)
    finally:
        stack.iam_strict(report_delay_seconds=5)
    assert "Check Users" in sweep.states(), "without the report every user is read live"
    report = sweep.report()
    assert report["users_checked"] == 2 and report["evaluation"]["findings"] == []
    assert "still generating the report" in report.get("report_unavailable", ""), report.get("report_unavailable")
