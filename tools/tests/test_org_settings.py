"""What `up` reads for the emulated organisation (keyward_local.settings): KEYWARD_SCOPE,
ORG_MEMBER_ACCOUNTS, MEMBER_READ_ROLE and MEMBER_WRITE_ROLE, their defaults and validation, a running
stack refusing another shape, target/local-stack/env's variables under each scope, and the functions'
environment: the scope and the member roles' names as the stack was shaped, never the member count."""

from __future__ import annotations

import pytest
from keyward_local.client import local_stack_env
from keyward_local.console import LocalStackError
from keyward_local.paths import CONFIG_VARS, ORG_VARS
from keyward_local.settings import differences, function_env, stack_env, wanted_config

ORG_ENV = ("KEYWARD_ORG_ACCOUNTS", "MEMBER_READ_ROLE", "MEMBER_WRITE_ROLE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CONFIG_VARS, *ORG_VARS, "MOTO_PORT", "LAMBDA_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_scope_is_one_account_with_no_organisation() -> None:
    config = wanted_config()
    assert config["scope"] == "account"
    assert config["organization"] is None


def test_organization_defaults_to_three_members_and_the_member_template_s_role_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    config = wanted_config()
    assert config["scope"] == "organization"
    assert config["organization"] == {"members": 3, "read_role": "keyward-read", "write_role": "keyward-deactivate"}


def test_the_members_and_role_names_given_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", "20")
    monkeypatch.setenv("MEMBER_READ_ROLE", "sec.read@team")
    monkeypatch.setenv("MEMBER_WRITE_ROLE", "sec-write_2")
    assert wanted_config()["organization"] == {"members": 20, "read_role": "sec.read@team", "write_role": "sec-write_2"}


@pytest.mark.parametrize("value", ["organisation", "org", "ACCOUNT", "all"])
def test_an_unknown_scope_is_refused_naming_the_value(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", value)
    with pytest.raises(
        LocalStackError, match=f"KEYWARD_SCOPE='{value}' is not valid: expected one of account, organization"
    ):
        wanted_config()


@pytest.mark.parametrize("value", ["0", "21", "-1", "3.5", "three", "1e1"])
def test_a_member_count_outside_1_to_20_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", value)
    with pytest.raises(LocalStackError, match=f"ORG_MEMBER_ACCOUNTS='{value}' is not valid"):
        wanted_config()


def test_a_member_count_without_the_organization_scope_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", "5")
    with pytest.raises(
        LocalStackError, match="ORG_MEMBER_ACCOUNTS=5 asks for member accounts, but KEYWARD_SCOPE is account"
    ):
        wanted_config()


@pytest.mark.parametrize("value", ["a" * 65, "has space", "slash/name", "star*", "ünicode"])
@pytest.mark.parametrize("variable", ["MEMBER_READ_ROLE", "MEMBER_WRITE_ROLE"])
def test_a_role_name_iam_would_refuse_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv(variable, value)
    with pytest.raises(LocalStackError, match=f"{variable}=.* is not valid: expected an IAM role name"):
        wanted_config()


def test_the_two_roles_cannot_have_one_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("MEMBER_WRITE_ROLE", "keyward-read")
    with pytest.raises(LocalStackError, match="MEMBER_READ_ROLE and MEMBER_WRITE_ROLE are both 'keyward-read'"):
        wanted_config()


def test_another_scope_or_organisation_than_the_running_stack_s_means_down_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = wanted_config()
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    organization = wanted_config()
    assert differences(running, organization) == [
        "KEYWARD_SCOPE account → organization",
        "the organisation (none) → 3 member accounts with roles keyward-read, keyward-deactivate",
    ]
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", "4")
    assert differences(organization, wanted_config()) == [
        "the organisation 3 member accounts with roles keyward-read, keyward-deactivate"
        " → 4 member accounts with roles keyward-read, keyward-deactivate"
    ]
    assert differences(organization, organization) == []


def test_the_env_file_under_account_has_the_scope_and_no_organisation() -> None:
    env = stack_env(wanted_config(), state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:keyward")
    assert env["KEYWARD_SCOPE"] == "account"
    assert not set(ORG_ENV) & set(env)


def test_the_env_file_under_organization_names_the_members_and_the_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("MEMBER_READ_ROLE", "sec-read")
    env = stack_env(wanted_config(), org_accounts=["111111111111", "222222222222", "333333333333"])
    assert env["KEYWARD_SCOPE"] == "organization"
    assert env["KEYWARD_ORG_ACCOUNTS"] == "111111111111,222222222222,333333333333"
    assert env["MEMBER_READ_ROLE"] == "sec-read"
    assert env["MEMBER_WRITE_ROLE"] == "keyward-deactivate"


def test_the_functions_get_the_organisation_run_s_settings_but_not_the_member_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEYWARD_SCOPE", "organization")
    monkeypatch.setenv("ORG_MEMBER_ACCOUNTS", "2")
    monkeypatch.setenv("MEMBER_READ_ROLE", "sec-read")
    monkeypatch.setenv("ORG_EXCLUDE", "ou-ab12-cd34ef56")
    monkeypatch.setenv("MAX_ACCOUNT_CONCURRENCY", "2")
    env = function_env(wanted_config(), None)
    assert env["KEYWARD_SCOPE"] == "organization"
    assert env["MEMBER_READ_ROLE"] == "sec-read"
    assert env["ORG_EXCLUDE"] == "ou-ab12-cd34ef56"
    assert env["MAX_ACCOUNT_CONCURRENCY"] == "2"
    assert "ORG_MEMBER_ACCOUNTS" not in env and "KEYWARD_ORG_ACCOUNTS" not in env


def test_the_functions_always_get_the_stack_s_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    # The template always passes KEYWARD_SCOPE: a function never takes another scope than the stack's.
    assert function_env(wanted_config(), None)["KEYWARD_SCOPE"] == "account"
    monkeypatch.setenv("KEYWARD_SCOPE", " organization ")
    assert function_env(wanted_config(), None)["KEYWARD_SCOPE"] == "organization"


def test_a_module_s_stack_takes_the_scope_from_its_settings_never_from_the_caller_s_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ORG_VARS:
        monkeypatch.setenv(name, "from-the-shell")
    assert not set(ORG_VARS) & set(local_stack_env({"KEYWARD_MODE": "auto"}))
    assert local_stack_env({"KEYWARD_SCOPE": "organization"})["KEYWARD_SCOPE"] == "organization"
