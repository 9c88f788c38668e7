"""How `up` configures the approvers' sign-in (keyward_local.settings with keyward_local.oidc): the local
stack's defaults under APPROVER_AUTH=oidc, nothing of OpenID under link, the provider's port, and the
client secret kept out of every environment."""

from __future__ import annotations

import pytest
from keyward_local import oidc
from keyward_local.console import LocalStackError
from keyward_local.paths import CONFIG_VARS, READ_LAG_VAR, REPORT_DELAY_VAR, THROTTLE_VAR
from keyward_local.settings import differences, fingerprint, function_env, stack_env, wanted_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CONFIG_VARS, THROTTLE_VAR, READ_LAG_VAR, REPORT_DELAY_VAR, "MOTO_PORT", "LAMBDA_PORT", oidc.PORT_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAMBDA_PORT", "9300")


def test_the_local_stack_signs_approvers_in_through_its_own_provider_by_default() -> None:
    config = wanted_config()
    assert config["oidc_port"] == 9302
    assert config["settings"] == {
        "APPROVER_AUTH": "oidc",
        "OIDC_ISSUER": "http://127.0.0.1:9302",
        "OIDC_CLIENT_ID": "keyward-local",
        "APPROVERS": "approver@example.com",
    }
    env = stack_env(config, state_machine_arn="arn")
    assert {k: env[k] for k in ("APPROVER_AUTH", "OIDC_ISSUER", "OIDC_CLIENT_ID", "APPROVERS", "OIDC_PORT")} == {
        "APPROVER_AUTH": "oidc",
        "OIDC_ISSUER": "http://127.0.0.1:9302",
        "OIDC_CLIENT_ID": "keyward-local",
        "APPROVERS": "approver@example.com",
        "OIDC_PORT": "9302",
    }
    functions = function_env(config, "arn:secret")
    assert functions["OIDC_ISSUER"] == "http://127.0.0.1:9302" and functions["APPROVER_AUTH"] == "oidc"


def test_with_the_link_no_provider_runs_and_nothing_of_openid_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVER_AUTH", "link")
    config = wanted_config()
    assert config["oidc_port"] is None
    assert config["settings"] == {"APPROVER_AUTH": "link"}
    env = stack_env(config)
    assert env["APPROVER_AUTH"] == "link"
    assert not [k for k in env if k.startswith("OIDC_") or k == "APPROVERS"]


def test_the_client_secret_given_at_up_reaches_no_environment_and_is_recorded_by_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "a-client-secret-for-this-test")
    config = wanted_config()
    for env in (stack_env(config, state_machine_arn="arn"), function_env(config, "arn:secret")):
        assert "OIDC_CLIENT_SECRET" not in env
        assert "a-client-secret-for-this-test" not in env.values()
    assert fingerprint(config)["settings"]["OIDC_CLIENT_SECRET"].startswith("sha256:")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "another")
    assert differences(fingerprint(config), fingerprint(wanted_config())) == ["OIDC_CLIENT_SECRET changed"]


def test_another_issuer_given_at_up_is_used_and_no_local_provider_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example.com")
    config = wanted_config()
    assert config["oidc_port"] is None
    assert config["settings"]["OIDC_ISSUER"] == "https://login.example.com"


def test_the_provider_s_port_can_be_set_and_a_collision_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(oidc.PORT_VAR, "9400")
    assert wanted_config()["oidc_port"] == 9400
    assert wanted_config()["settings"]["OIDC_ISSUER"] == "http://127.0.0.1:9400"
    monkeypatch.setenv(oidc.PORT_VAR, "9301")
    with pytest.raises(LocalStackError, match="OIDC_PORT=9301 collides"):
        wanted_config()
    # Without a provider the port is nobody's.
    monkeypatch.setenv("APPROVER_AUTH", "link")
    assert wanted_config()["oidc_port"] is None


def test_an_unknown_sign_in_mode_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVER_AUTH", "password")
    with pytest.raises(LocalStackError, match="APPROVER_AUTH='password' is not valid: expected one of oidc, link"):
        wanted_config()


def test_a_running_stack_with_another_provider_port_means_down_first(monkeypatch: pytest.MonkeyPatch) -> None:
    running = fingerprint(wanted_config())
    monkeypatch.setenv(oidc.PORT_VAR, "9400")
    found = differences(running, fingerprint(wanted_config()))
    assert "OIDC_PORT 9302 → 9400" in found
    assert "OIDC_ISSUER http://127.0.0.1:9302 → http://127.0.0.1:9400" in found
