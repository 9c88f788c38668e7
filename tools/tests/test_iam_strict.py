"""The emulator's IAM strictness (keyward_local.emulator.iam_strict), driven through boto3 against the
emulator's own WSGI app served in-process (no local stack): tag rules, paging, the read lag after
UpdateAccessKey and the credential report's generation, on a clock the tests move."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import emulator_process
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from keyward_local.emulator.app import KeywardApp
from keyward_local.emulator.hooks import Hooks
from keyward_local.emulator.iam_strict import IamStrict, StatusHistory, tag_problems, tag_text_allowed
from keyward_local.emulator.moto_patches import patch_credential_report
from keyward_local.emulator.throttle import IamGate
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from mypy_boto3_iam import IAMClient
from mypy_boto3_iam.type_defs import TagTypeDef
from werkzeug.serving import make_server

START = 1_900_000_000.0


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Emulator:
    """The emulator's WSGI app on an ephemeral port, with the strictness on a test clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        patch_credential_report()
        self.strict = IamStrict(read_lag=2.0, report_delay=5.0, clock=self.clock)
        self.strict.install()
        app = KeywardApp(
            DomainDispatcherApplication(create_backend_app), IamGate(None), Hooks(IamGate(None), self.strict, {})
        )
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        """An empty account, no report, the default knobs, the clock at START."""
        self.hook("POST", "/moto-api/reset")
        self.strict.forget_report()
        self.strict.history = StatusHistory()
        self.strict.read_lag, self.strict.report_delay, self.strict.page_items = 2.0, 5.0, 0
        self.clock.now = START

    def hook(self, method: str, path: str, document: object = None) -> tuple[int, Any]:
        """One request to the emulator's own endpoints; (status, JSON or None)."""
        return emulator_process.hook(self.endpoint, method, path, document)

    def iam(self, validate: bool = True) -> IAMClient:
        """A boto3 IAM client of the emulator (validate=False: bad input reaches the server)."""
        config = Config(parameter_validation=validate, proxies={}, retries={"max_attempts": 1})
        client: IAMClient = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )
        return client


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    running = Emulator()
    yield running
    running.server.shutdown()


@pytest.fixture
def em(emulator: Emulator) -> Emulator:
    emulator.reset()
    return emulator


def error_of(call: Any) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the ClientError `call()` raises."""
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


# --------------------------------------------------------------------------------------------------
# Tags


def test_tag_characters_are_letters_separators_numbers_and_the_listed_ascii() -> None:
    assert tag_text_allowed("Équipe 東京 ७ café_.:/=+-@\u00a0x")
    assert tag_text_allowed("")
    for refused in (";", "until=2026-01-01;reason=x", "a,b", "a*b", "\u2013", "!", "'", "#", "\n", "😀"):
        assert not tag_text_allowed(refused), refused


@pytest.mark.parametrize(
    ("tags", "code", "says"),
    [
        ([("keyward:exempt", "until=2026-01-01;reason=e2e")], "ValidationError", "tags.1.member.value"),
        ([("ok", "fine"), ("team", "a" * 257)], "ValidationError", "tags.2.member.value"),
        ([("k" * 129, "v")], "ValidationError", "less than or equal to 128"),
        ([("", "v")], "ValidationError", "greater than or equal to 1"),
        ([("a;b", "v")], "ValidationError", r"pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+"),
        ([("AWS:owner", "v")], "ValidationError", "aws:"),
        ([(f"k{i}", "v") for i in range(51)], "ValidationError", "less than or equal to 50"),
        ([("Team", "a"), ("team", "b")], "InvalidInput", "Duplicate tag keys"),
    ],
)
def test_create_user_with_tags_aws_refuses_is_refused_and_creates_nothing(
    em: Emulator, tags: list[tuple[str, str]], code: str, says: str
) -> None:
    iam = em.iam(validate=False)
    got = error_of(lambda: iam.create_user(UserName="u", Tags=[{"Key": k, "Value": v} for k, v in tags]))
    assert got[:2] == (code, 400), got
    assert says in got[2], got
    assert iam.list_users()["Users"] == []


def test_the_refusal_reads_like_aws() -> None:
    assert tag_problems([{"Key": "k", "Value": "a;b"}]) == [
        "Value at 'tags.1.member.value' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*"
    ]


def test_tags_aws_accepts_are_kept(em: Emulator) -> None:
    iam = em.iam()
    tags: list[TagTypeDef] = [
        {"Key": "team", "Value": "Équipe 東京 ७"},
        {"Key": "empty", "Value": ""},
        {"Key": "a.b:c/d", "Value": "+=@-_"},
    ]
    iam.create_user(UserName="u", Tags=tags)
    assert sorted(t["Key"] for t in iam.list_user_tags(UserName="u")["Tags"]) == ["a.b:c/d", "empty", "team"]


def test_tag_user_refused_changes_nothing(em: Emulator) -> None:
    iam = em.iam(validate=False)
    iam.create_user(UserName="u", Tags=[{"Key": "team", "Value": "core"}])
    got = error_of(lambda: iam.tag_user(UserName="u", Tags=[{"Key": "team", "Value": "x"}, {"Key": "b", "Value": ";"}]))
    assert got[:2] == ("ValidationError", 400), got
    iam.tag_user(UserName="u", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    got = error_of(lambda: iam.tag_user(UserName="u", Tags=[{"Key": "one-too-many", "Value": "v"}]))
    assert got[:2] == ("LimitExceeded", 409), got
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="u", MaxItems=1000)["Tags"]}
    assert len(tags) == 50 and tags["team"] == "core" and "one-too-many" not in tags


# --------------------------------------------------------------------------------------------------
# Paging


def test_list_users_answers_pages_of_max_items_with_opaque_markers(em: Emulator) -> None:
    iam = em.iam()
    for i in range(205):
        iam.create_user(UserName=f"user-{i:03}")
    first = iam.list_users()
    assert len(first["Users"]) == 100 and first["IsTruncated"] is True
    marker = first["Marker"]
    assert not marker.isdigit() and "100" not in marker
    second = iam.list_users(Marker=marker, MaxItems=100)
    last = iam.list_users(Marker=second["Marker"])
    assert len(last["Users"]) == 5 and last["IsTruncated"] is False and "Marker" not in last
    names = [u["UserName"] for page in (first, second, last) for u in page["Users"]]
    assert sorted(names) == [f"user-{i:03}" for i in range(205)]
    small = [p["Users"] for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 7})]
    assert len(small) == 30 and sum(map(len, small)) == 205


def test_with_a_page_bound_a_page_holds_fewer_items_than_max_items_asks_and_says_more_are_left(
    em: Emulator,
) -> None:
    # IAM "might return fewer than the MaxItems number of results even when there are more results
    # available" (ListUsers, IsTruncated): the bound answers so, and a caller must follow the marker.
    em.strict.page_items = 100
    iam = em.iam()
    for i in range(250):
        iam.create_user(
            UserName=f"user-{i:03}", Tags=[{"Key": f"k{j}", "Value": "v"} for j in range(3)] if i == 0 else []
        )
    first = iam.list_users(MaxItems=1000)
    assert len(first["Users"]) == 100 and first["IsTruncated"] is True
    pages = [p["Users"] for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000})]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sorted(u["UserName"] for p in pages for u in p) == [f"user-{i:03}" for i in range(250)]
    assert len(iam.list_users(MaxItems=7)["Users"]) == 7, "a smaller MaxItems still bounds the page"
    em.strict.page_items = 2
    tags = iam.list_user_tags(UserName="user-000", MaxItems=100)
    assert len(tags["Tags"]) == 2 and tags["IsTruncated"] is True


def test_a_marker_not_handed_out_for_the_listing_or_a_max_items_out_of_range_is_refused(em: Emulator) -> None:
    iam = em.iam(validate=False)
    for i in range(3):
        iam.create_user(UserName=f"u{i}", Tags=[{"Key": f"k{j}", "Value": "v"} for j in range(3)])
    users_marker = iam.list_users(MaxItems=1)["Marker"]
    tags_marker = iam.list_user_tags(UserName="u0", MaxItems=1)["Marker"]
    forged = users_marker[:-1] + ("0" if users_marker[-1] != "0" else "1")
    for call in (
        lambda: iam.list_users(Marker="1"),
        lambda: iam.list_users(Marker=forged),
        lambda: iam.list_users(Marker=tags_marker),
        lambda: iam.list_user_tags(UserName="u1", Marker=tags_marker),
        lambda: iam.list_users(MaxItems=0),
        lambda: iam.list_users(MaxItems=1001),
    ):
        assert error_of(call)[:2] == ("ValidationError", 400)


def test_user_tags_access_keys_and_mfa_devices_page_too(em: Emulator) -> None:
    iam = em.iam()
    iam.create_user(UserName="u", Tags=[{"Key": f"k{i:02}", "Value": str(i)} for i in range(10)])
    pages = list(iam.get_paginator("list_user_tags").paginate(UserName="u", PaginationConfig={"PageSize": 3}))
    assert [len(p["Tags"]) for p in pages] == [3, 3, 3, 1]
    assert [t["Key"] for p in pages for t in p["Tags"]] == [f"k{i:02}" for i in range(10)]
    keys = [iam.create_access_key(UserName="u")["AccessKey"]["AccessKeyId"] for _ in range(2)]
    first = iam.list_access_keys(UserName="u", MaxItems=1)
    assert first["IsTruncated"] is True and len(first["AccessKeyMetadata"]) == 1
    rest = iam.list_access_keys(UserName="u", Marker=first["Marker"])
    assert [k["AccessKeyId"] for k in first["AccessKeyMetadata"] + rest["AccessKeyMetadata"]] == keys
    for name in ("phone", "tablet"):
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        iam.enable_mfa_device(
            UserName="u", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    first_mfa = iam.list_mfa_devices(UserName="u", MaxItems=1)
    assert first_mfa["IsTruncated"] is True and len(first_mfa["MFADevices"]) == 1
    assert len(iam.list_mfa_devices(UserName="u", Marker=first_mfa["Marker"])["MFADevices"]) == 1


# --------------------------------------------------------------------------------------------------
# The read lag


def report_rows(iam: IAMClient) -> dict[str, dict[str, str]]:
    """The credential report's rows by user."""
    content = iam.get_credential_report()["Content"].decode()
    return {row["user"]: row for row in csv.DictReader(io.StringIO(content))}


def test_reads_show_the_old_status_for_the_lag_after_update_access_key(em: Emulator) -> None:
    iam = em.iam()
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="u", AccessKeyId=key, Status="Inactive")
    assert iam.list_access_keys(UserName="u")["AccessKeyMetadata"][0]["Status"] == "Active"
    em.clock.now += 1
    em.strict.report_delay = 0
    iam.generate_credential_report()
    assert report_rows(iam)["u"]["access_key_1_active"] == "true"  # the snapshot lags too
    em.clock.now += 1.01
    assert iam.list_access_keys(UserName="u")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    em.strict.forget_report()
    iam.generate_credential_report()
    assert report_rows(iam)["u"]["access_key_1_active"] == "false"


def test_without_a_lag_reads_show_the_new_status_at_once(em: Emulator) -> None:
    iam = em.iam()
    em.strict.read_lag = 0
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="u", AccessKeyId=key, Status="Inactive")
    assert iam.list_access_keys(UserName="u")["AccessKeyMetadata"][0]["Status"] == "Inactive"


def test_changes_inside_the_lag_are_seen_in_order() -> None:
    history = StatusHistory()
    history.record("k", "Active", "Inactive", 10.0, 2.0)
    history.record("k", "Inactive", "Active", 11.0, 2.0)
    assert [history.visible("k", "Active", t, 2.0) for t in (11.0, 12.0, 13.0)] == ["Active", "Inactive", "Active"]


# --------------------------------------------------------------------------------------------------
# The credential report


def test_the_credential_report_takes_the_delay_and_is_a_snapshot_reused_for_four_hours(em: Emulator) -> None:
    iam = em.iam()
    iam.create_user(UserName="before")
    assert error_of(iam.get_credential_report)[:2] == ("ReportNotPresent", 410)
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert error_of(iam.get_credential_report)[:2] == ("ReportInProgress", 404)
    iam.create_user(UserName="after")
    em.clock.now += 4.9
    assert iam.generate_credential_report()["State"] == "INPROGRESS"
    em.clock.now += 0.1
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["GeneratedTime"].timestamp() == START
    assert set(report_rows(iam)) == {"before"}  # the account when the generation started

    em.clock.now = START + 4 * 3600 - 1
    assert iam.generate_credential_report()["State"] == "COMPLETE"  # reused, not regenerated
    assert set(report_rows(iam)) == {"before"}
    em.clock.now = START + 4 * 3600
    assert error_of(iam.get_credential_report)[:2] == ("ReportExpired", 410)
    assert iam.generate_credential_report()["State"] == "STARTED"
    em.clock.now += 5
    assert set(report_rows(iam)) == {"before", "after"}


class OneAccount:
    """The part of moto's IAMBackend the report uses: an account id and its users' CSV."""

    def __init__(self, account_id: str, users: list[str]):
        self.account_id, self.users = account_id, users

    def generate_report(self) -> None:
        pass

    def get_credential_report(self) -> str:
        return "user\n" + "".join(f"{u}\n" for u in self.users)


def test_each_account_has_its_own_credential_report() -> None:
    clock = Clock()
    strict = IamStrict(read_lag=0, report_delay=5.0, clock=clock)
    management, member = OneAccount("123456789012", ["admin"]), OneAccount("111122223333", ["alice"])
    assert strict.generate_report(management)["State"] == "STARTED"  # type: ignore[arg-type]
    clock.now += 3
    # A member that never generated one has none, and starts its own, not the management account's.
    with pytest.raises(Exception, match="not present"):
        strict.read_report(member.account_id)
    assert strict.generate_report(member)["State"] == "STARTED"  # type: ignore[arg-type]
    clock.now += 2
    assert strict.read_report(management.account_id)["Content"] == "user\nadmin\n"
    with pytest.raises(Exception, match="still being generated"):
        strict.read_report(member.account_id)
    clock.now += 3
    assert strict.read_report(member.account_id)["Content"] == "user\nalice\n"
    strict.forget_report()
    for account in (management, member):
        with pytest.raises(Exception, match="not present"):
            strict.read_report(account.account_id)


# --------------------------------------------------------------------------------------------------
# The hooks


def test_the_knobs_change_through_the_hook_and_bad_values_change_nothing(em: Emulator) -> None:
    knobs = {"read_lag_seconds": 2.0, "report_delay_seconds": 5.0, "page_items": 0}
    assert em.hook("GET", "/_keyward/iam-strict") == (200, knobs)
    for bad in ({"report_delay_seconds": -1}, {"read_lag_seconds": "2"}, {"other": 1}, {}, [1]):
        status, body = em.hook("PUT", "/_keyward/iam-strict", bad)
        assert status == 400 and "seconds" in body["error"], (bad, body)
    for bad_items in ({"page_items": -1}, {"page_items": 2.5}, {"page_items": 1001}, {"page_items": True}):
        status, body = em.hook("PUT", "/_keyward/iam-strict", bad_items)
        assert status == 400 and "page_items" in body["error"], (bad_items, body)
    assert em.hook("GET", "/_keyward/iam-strict") == (200, knobs), "a refused change changes nothing"
    assert em.hook("PUT", "/_keyward/iam-strict", {"report_delay_seconds": 90, "page_items": 100}) == (
        200,
        {"read_lag_seconds": 2.0, "report_delay_seconds": 90.0, "page_items": 100},
    )
    assert em.hook("GET", "/_keyward/health")[1]["report_delay_seconds"] == 90.0


def test_deleting_the_credential_report_makes_the_next_generation_start_anew(em: Emulator) -> None:
    iam = em.iam()
    em.strict.report_delay = 0
    iam.generate_credential_report()
    assert em.hook("DELETE", "/_keyward/credential-report") == (200, {})
    assert error_of(iam.get_credential_report)[:2] == ("ReportNotPresent", 410)
    assert iam.generate_credential_report()["State"] == "STARTED"
