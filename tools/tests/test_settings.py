"""What `up` reads for the emulator's IAM strictness (keyward_local.settings): the two knobs' defaults,
their validation, and a running stack refusing another value."""

from __future__ import annotations

import pytest
from keyward_local.console import LocalStackError
from keyward_local.paths import CONFIG_VARS, READ_LAG_VAR, REPORT_DELAY_VAR, THROTTLE_VAR
from keyward_local.settings import differences, function_env, wanted_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CONFIG_VARS, THROTTLE_VAR, READ_LAG_VAR, REPORT_DELAY_VAR, "MOTO_PORT", "LAMBDA_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_the_read_lag_and_the_report_delay_are_on_by_default() -> None:
    assert wanted_config()["strict"] == {READ_LAG_VAR: "2", REPORT_DELAY_VAR: "5"}


def test_zero_switches_them_off_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_LAG_VAR, "0")
    monkeypatch.setenv(REPORT_DELAY_VAR, "0.5")
    assert wanted_config()["strict"] == {READ_LAG_VAR: "0", REPORT_DELAY_VAR: "0.5"}


@pytest.mark.parametrize("value", ["-1", "soon", "3601", "nan"])
@pytest.mark.parametrize("variable", [READ_LAG_VAR, REPORT_DELAY_VAR])
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(LocalStackError, match=f"{variable}='{value}' is not valid"):
        wanted_config()


def test_another_value_than_the_running_stack_s_means_down_first(monkeypatch: pytest.MonkeyPatch) -> None:
    running = wanted_config()
    monkeypatch.setenv(REPORT_DELAY_VAR, "120")
    assert differences(running, wanted_config()) == [f"{REPORT_DELAY_VAR} 5 → 120"]
    assert differences(running, running) == []


def test_the_functions_never_see_the_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_LAG_VAR, "1")
    env = function_env(wanted_config(), None)
    assert READ_LAG_VAR not in env and REPORT_DELAY_VAR not in env
