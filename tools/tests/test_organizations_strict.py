"""AWS Organizations as AWS answers it (keyward_local.emulator.org_strict), on the emulator as the local
stack runs it: accounts carry `State` and not the retired `Status`, listings come in pages of at most
20 with a NextToken only the emulator can write, a test sets an account's state, only the management
account lists the organisation, the access role of a created account is an administrator, and a
policy scoped to the organisation's root or to an account is authorised as AWS authorises it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_process import MANAGEMENT, EmulatorProcess


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    running = EmulatorProcess()
    yield running
    running.stop()


class Organisation:
    """An organisation of the management account with `members` created accounts."""

    def __init__(self, em: EmulatorProcess, members: int):
        self.em = em
        self.client = em.client("organizations", validate=False)
        self.id = self.client.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        self.root = self.client.list_roots()["Roots"][0]
        self.members = [
            self.client.create_account(AccountName=f"member-{n}", Email=f"member-{n}@example.com")[
                "CreateAccountStatus"
            ]["AccountId"]
            for n in range(members)
        ]


@pytest.fixture
def org(emulator: EmulatorProcess) -> Organisation:
    emulator.reset()
    return Organisation(emulator, 25)


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


def all_pages(call: Any, field: str, **request: object) -> list[list[Any]]:
    """Each page of a listing, following NextToken."""
    pages: list[list[Any]] = []
    while True:
        answer = call(**request)
        pages.append(answer[field])
        if "NextToken" not in answer:
            return pages
        request["NextToken"] = answer["NextToken"]


def test_accounts_carry_state_and_not_the_retired_status(org: Organisation) -> None:
    listed = [a for page in all_pages(org.client.list_accounts, "Accounts") for a in page]
    assert {a["Id"] for a in listed} == {MANAGEMENT, *org.members}
    assert all(a["State"] == "ACTIVE" and "Status" not in a for a in listed)
    under_root = all_pages(org.client.list_accounts_for_parent, "Accounts", ParentId=org.root["Id"])
    assert all("Status" not in a for page in under_root for a in page)
    described = org.client.describe_account(AccountId=org.members[0])["Account"]
    assert described["State"] == "ACTIVE" and "Status" not in described


def test_listings_answer_pages_of_at_most_twenty_even_when_more_are_asked(org: Organisation) -> None:
    accounts = all_pages(org.client.list_accounts, "Accounts", MaxResults=50)
    assert [len(page) for page in accounts] == [20, 6]
    assert [a["Id"] for page in accounts for a in page] == [MANAGEMENT, *org.members]
    assert [len(p) for p in all_pages(org.client.list_accounts, "Accounts", MaxResults=7)] == [7, 7, 7, 5]
    for_parent = all_pages(org.client.list_accounts_for_parent, "Accounts", ParentId=org.root["Id"], MaxResults=20)
    assert [len(page) for page in for_parent] == [20, 6]
    children = all_pages(org.client.list_children, "Children", ParentId=org.root["Id"], ChildType="ACCOUNT")
    assert [len(page) for page in children] == [20, 6]
    assert {c["Id"] for page in children for c in page} == {MANAGEMENT, *org.members}
    assert all_pages(
        org.client.list_children, "Children", ParentId=org.root["Id"], ChildType="ORGANIZATIONAL_UNIT"
    ) == [[]]


def test_a_token_not_handed_out_for_that_listing_and_a_max_results_below_one_are_refused(org: Organisation) -> None:
    token = org.client.list_accounts(MaxResults=5)["NextToken"]
    assert error_of(lambda: org.client.list_accounts(NextToken=token + "x")) == ("InvalidInputException", 400)
    children = {"ParentId": org.root["Id"], "ChildType": "ACCOUNT"}
    assert error_of(lambda: org.client.list_children(**children, NextToken=token)) == ("InvalidInputException", 400)
    assert error_of(lambda: org.client.list_accounts(MaxResults=0)) == ("InvalidInputException", 400)


def test_the_state_hook_sets_an_accounts_state_and_refuses_anything_else(org: Organisation) -> None:
    member = org.members[3]
    assert org.em.hook("PUT", "/_keyward/org-account-state", {"account_id": member, "state": "SUSPENDED"}) == (
        200,
        {"account_id": member, "state": "SUSPENDED"},
    )
    assert org.client.describe_account(AccountId=member)["Account"]["State"] == "SUSPENDED"
    listed = {a["Id"]: a["State"] for page in all_pages(org.client.list_accounts, "Accounts") for a in page}
    assert listed[member] == "SUSPENDED" and listed[org.members[0]] == "ACTIVE"
    assert org.em.hook("PUT", "/_keyward/org-account-state", {"account_id": member, "state": "GONE"})[0] == 400
    assert (
        org.em.hook("PUT", "/_keyward/org-account-state", {"account_id": "000000000000", "state": "ACTIVE"})[0] == 404
    )
    assert org.em.hook("PUT", "/_keyward/org-account-state", {"account_id": member})[0] == 400
    assert org.client.describe_account(AccountId=member)["Account"]["State"] == "SUSPENDED"


def test_only_the_management_account_lists_and_a_created_accounts_access_role_is_an_administrator(
    org: Organisation,
) -> None:
    member = org.members[0]
    sts = org.em.client("sts")
    admin = sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="seed")
    credentials = admin["Credentials"]
    org.em.client("iam", credentials).create_user(UserName="seeded")
    assert [u["UserName"] for u in org.em.client("iam", credentials).list_users()["Users"]] == ["seeded"]
    from_member = org.em.client("organizations", credentials)
    assert error_of(from_member.list_accounts) == ("AccessDeniedException", 400)
    assert error_of(from_member.list_roots) == ("AccessDeniedException", 400)
    assert error_of(lambda: from_member.list_parents(ChildId=member)) == ("AccessDeniedException", 400)
    assert from_member.describe_organization()["Organization"]["Id"] == org.id


def test_a_policy_scoped_to_the_root_or_an_account_is_authorised_against_that_arn(org: Organisation) -> None:
    account_arn = f"arn:aws:organizations::{MANAGEMENT}:account/{org.id}/{org.members[1]}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["organizations:ListAccounts", "organizations:DescribeOrganization"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["organizations:ListChildren", "organizations:ListAccountsForParent"],
                "Resource": org.root["Arn"],
            },
            {"Effect": "Allow", "Action": "organizations:DescribeAccount", "Resource": account_arn},
        ],
    }
    iam = org.em.client("iam")
    iam.create_user(UserName="discovery")
    iam.put_user_policy(UserName="discovery", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="discovery")["AccessKey"]
    client = org.em.client("organizations", key)
    assert client.describe_organization()["Organization"]["Id"] == org.id
    assert len(client.list_accounts()["Accounts"]) == 20
    assert len(client.list_children(ParentId=org.root["Id"], ChildType="ACCOUNT")["Children"]) == 20
    assert len(client.list_accounts_for_parent(ParentId=org.root["Id"])["Accounts"]) == 20
    assert client.describe_account(AccountId=org.members[1])["Account"]["Id"] == org.members[1]
    assert error_of(lambda: client.describe_account(AccountId=org.members[2])) == ("AccessDeniedException", 400)
    unit = org.client.create_organizational_unit(ParentId=org.root["Id"], Name="workloads")["OrganizationalUnit"]
    assert error_of(lambda: client.list_children(ParentId=unit["Id"], ChildType="ACCOUNT")) == (
        "AccessDeniedException",
        400,
    )


def test_the_key_dates_hook_reaches_a_member_account(org: Organisation) -> None:
    member = org.members[0]
    sts = org.em.client("sts")
    admin = sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="seed")
    iam = org.em.client("iam", admin["Credentials"])
    iam.create_user(UserName="old-key")
    key = iam.create_access_key(UserName="old-key")["AccessKey"]["AccessKeyId"]
    dates = {"user": "old-key", "access_key_id": key, "created": "2025-01-31T09:00:00Z"}
    assert org.em.hook("POST", "/_keyward/keys", dates)[0] == 404  # not in the management account
    status, answer = org.em.hook("POST", "/_keyward/keys", {**dates, "account_id": member})
    assert (status, answer["created"]) == (200, "2025-01-31T09:00:00Z")
    listed = iam.list_access_keys(UserName="old-key")["AccessKeyMetadata"][0]
    assert listed["CreateDate"].isoformat() == "2025-01-31T09:00:00+00:00"
    assert org.em.hook("POST", "/_keyward/keys", {**dates, "account_id": "12345"})[0] == 400
