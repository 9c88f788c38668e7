"""Seeding a member account (keyward_local.client.Seeder with `account_id`, as
keyward_local.org.member_seeder makes it): the key-dates hook is told which account the key is in;
the stack's own seeder names none, so the hook ages keys in the stack's account as before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from keyward_local import client

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)


def posted(monkeypatch: pytest.MonkeyPatch, account_id: str | None) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(client, "http_json", lambda method, url, body=None, **_: sent.append(body))
    seeder = client.Seeder(iam=None, endpoint="http://127.0.0.1:1", prefix="t", now=NOW, account_id=account_id)  # type: ignore[arg-type]
    seeder.backdate("t-old", "AKIAEXAMPLE", age_days=200, used_days_ago=None)
    (document,) = sent
    return document


def test_a_member_seeder_ages_its_keys_in_its_member_account(monkeypatch: pytest.MonkeyPatch) -> None:
    document = posted(monkeypatch, "210987654321")
    assert document["account_id"] == "210987654321"
    assert document["user"] == "t-old" and document["last_used"] is None


def test_the_stack_s_seeder_names_no_account(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "account_id" not in posted(monkeypatch, None)
