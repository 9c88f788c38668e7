"""What `up` reads for the emulator's IAM strictness (keyward_local.settings): the knobs' defaults (the
read lag, the report delay, the IAM page bound), their validation, and a running stack refusing another
value."""

from __future__ import annotations

import pytest
from keyward_local.bench import BASE_SETTINGS
from keyward_local.console import LocalStackError
from keyward_local.paths import CONFIG_VARS, PAGE_ITEMS_VAR, READ_LAG_VAR, REPORT_DELAY_VAR, THROTTLE_VAR
from keyward_local.settings import differences, function_env, wanted_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        *CONFIG_VARS,
        THROTTLE_VAR,
        READ_LAG_VAR,
        REPORT_DELAY_VAR,
        PAGE_ITEMS_VAR,
        "MOTO_PORT",
        "LAMBDA_PORT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_read_lag_the_report_delay_and_the_page_bound_are_on_by_default() -> None:
    assert wanted_config()["strict"] == {READ_LAG_VAR: "2", REPORT_DELAY_VAR: "5", PAGE_ITEMS_VAR: "100"}


def test_zero_switches_them_off_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_LAG_VAR, "0")
    monkeypatch.setenv(REPORT_DELAY_VAR, "0.5")
    monkeypatch.setenv(PAGE_ITEMS_VAR, "0")
    assert wanted_config()["strict"] == {READ_LAG_VAR: "0", REPORT_DELAY_VAR: "0.5", PAGE_ITEMS_VAR: "0"}


@pytest.mark.parametrize("value", ["-1", "soon", "3601", "nan"])
@pytest.mark.parametrize("variable", [READ_LAG_VAR, REPORT_DELAY_VAR])
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(LocalStackError, match=f"{variable}='{value}' is not valid"):
        wanted_config()


@pytest.mark.parametrize("value", ["-1", "many", "1001", "2.5"])
def test_a_page_bound_that_is_not_a_whole_number_of_items_up_to_1000_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(PAGE_ITEMS_VAR, value)
    with pytest.raises(LocalStackError, match=f"{PAGE_ITEMS_VAR}='{value}' is not valid"):
        wanted_config()


def test_another_value_than_the_running_stack_s_means_down_first(monkeypatch: pytest.MonkeyPatch) -> None:
    running = wanted_config()
    monkeypatch.setenv(REPORT_DELAY_VAR, "120")
    assert differences(running, wanted_config()) == [f"{REPORT_DELAY_VAR} 5 → 120"]
    assert differences(running, running) == []


def test_the_functions_never_see_the_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(READ_LAG_VAR, "1")
    monkeypatch.setenv(PAGE_ITEMS_VAR, "50")
    env = function_env(wanted_config(), None)
    assert READ_LAG_VAR not in env and REPORT_DELAY_VAR not in env and PAGE_ITEMS_VAR not in env


def test_the_bench_turns_the_page_bound_off_so_its_budget_counts_pages_as_iam_answers_them() -> None:
    # The budget's ceil(N/1000) counts ListUsers pages of keyward's MaxItems (1000): under the e2e
    # bound (100) the bench would count ten times the pages AWS answers.
    assert BASE_SETTINGS[PAGE_ITEMS_VAR] == "0"
