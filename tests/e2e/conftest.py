"""End-to-end tests on the local stack (docs/local-stack.md; docs/testing.md): the real state machine
(statemachine/keyward.asl.json) executed by moto's Step Functions engine, the real handlers served by
`cargo lambda watch`, emulated IAM, S3, SNS and DynamoDB. Nothing here is a fake.

The suite owns the local stack while it runs: each test module names the configuration it needs
(`SETTINGS`, the variables `scripts/local-stack up` reads), and the `stack` fixture brings the stack
up with exactly that configuration, restarting it (`down`, `up`) when the module's configuration
differs from the running one, and on first use. Modules with the same configuration run one after
another (`pytest_collection_modifyitems`), each in its own order, so that each configuration's stack
comes up once; every test starts from an empty account all the same (`account`). At the end of the
session the suite stops what it started (KEYWARD_E2E_KEEP_STACK=1 leaves it up to look
at). A stack that does not come up fails every test that needs it: nothing is skipped.

Runs are serial: a sweep reads the whole (emulated) account, so each test starts from an account with
no users (`account` fixture) and seeds its own.

This file holds only the fixtures; what the tests share otherwise is in helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from helpers import LocalStack
from keyward_local.client import Seeder

_STACK = LocalStack()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Moves each end-to-end module next to the first one with the same SETTINGS (a stable sort: the
    tests keep their order otherwise, and so does every module without SETTINGS)."""
    groups: dict[object, int] = {}
    keys: dict[int, int] = {}
    for item in items:
        module = getattr(item, "module", None)
        settings = getattr(module, "SETTINGS", None)
        group = tuple(sorted(settings.items())) if isinstance(settings, dict) else getattr(module, "__name__", None)
        keys[id(item)] = groups.setdefault(group, len(groups))
    items.sort(key=lambda item: keys[id(item)])


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    """The suite's local stack, stopped at the end of the session."""
    yield _STACK
    if os.environ.get("KEYWARD_E2E_KEEP_STACK") == "1":
        print("\n==> KEYWARD_E2E_KEEP_STACK=1: the local stack stays up (scripts/local-stack down stops it)")
    else:
        _STACK.down()


@pytest.fixture(scope="module")
def stack(local_stack: LocalStack, request: pytest.FixtureRequest) -> LocalStack:
    """The local stack, up with the test module's SETTINGS."""
    settings: dict[str, str] = request.module.SETTINGS
    local_stack.configure(settings)
    return local_stack


@pytest.fixture
def account(stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Seeder]:
    """An account with no users and no injected faults, and a seeder whose users are named after the
    test. Faults a test injects are cleared after it."""
    stack.clear_faults()
    stack.empty_account()
    yield stack.seeder(request.node.name.removeprefix("test_").replace("_", "-")[:24])
    stack.clear_faults()
