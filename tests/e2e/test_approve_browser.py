"""The approval page in a real browser (docs/testing.md): Debian's headless Chromium, driven by
Playwright, opens the link from the approval request, is sent to the local OpenID provider, signs in
there as `approver` on its login form, comes back to the confirm page, unticks one key and approves
the rest; exactly the ticked keys become Inactive, and the run report names the signed-in person; the
same link opened again says "already decided".

Chromium is /usr/bin/chromium (make e2e installs Debian's package when it is missing;
KEYWARD_CHROMIUM names another binary). Playwright's own browser downloads are never used.
Screenshots of both pages go to target/e2e/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import APPROVE_SETTINGS, LocalStack, actions, decision, seed_three_violations
from keyward_local import client, oidc
from keyward_local.client import Seeder
from keyward_local.paths import ACCOUNT_ID, ROOT
from playwright.sync_api import Browser, ConsoleMessage, sync_playwright

SETTINGS = APPROVE_SETTINGS

CHROMIUM = os.environ.get("KEYWARD_CHROMIUM", "/usr/bin/chromium")
#: Headless, as root in a sandbox-less container, and quiet on a machine without internet access.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "target" / "e2e"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: make e2e installs Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_a_person_unticks_one_key_in_chromium_and_only_the_ticked_keys_are_deactivated(
    stack: LocalStack, account: Seeder, browser: Browser
) -> None:
    s = account
    keys = seed_three_violations(s)
    users = s.names
    before = client.key_statuses(stack.iam, users)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sweep = stack.sweep("browser")
    link = sweep.approval_link()  # from the approval request on the SNS topic, as the approver gets it

    context = browser.new_context()
    page = context.new_page()
    console_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)

    # The link leads to the provider's sign-in first (APPROVER_AUTH=oidc), then back to the page.
    login = page.goto(link)
    assert login is not None and login.status == 200 and page.url.startswith(stack.issuer + "/"), page.url
    page.get_by_label("Account").fill(oidc.APPROVER)
    page.get_by_label("Password").fill("any password")
    with page.expect_navigation(url=link) as navigation:
        page.get_by_role("button", name="Sign in").click()
    response = navigation.value
    assert response.status == 200, page.url
    headers = response.headers
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy, policy  # no script runs at all
    assert "frame-ancestors 'none'" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "no-store" in headers["cache-control"]
    assert page.title().startswith("keyward")
    assert page.get_by_role("heading", level=1).inner_text() == "Approve access key deactivation"
    facts = page.locator("dl").inner_text()
    for fact in ("Account\n123456789012", f"Run\n{sweep.name}", "Evaluated at", "Link expires", "Run report"):
        assert fact in facts, f"{fact!r} not in {facts!r}"

    boxes = page.locator('input[type="checkbox"][name="key"]')
    offered = sorted(boxes.nth(i).get_attribute("value") or "" for i in range(boxes.count()))
    # Each names its key with the account (shown once above, in the run's facts).
    assert offered == sorted(f"{ACCOUNT_ID}:{keys[k]}" for k in ("no-mfa", "too-old", "unused"))
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count())), "every planned key starts ticked"
    # Each checkbox is labelled with its user, so a screen reader announces whose key it is.
    for short in ("console", "old", "idle"):
        assert page.get_by_label(f"{s.prefix}-{short}", exact=True).is_checked()
    page.screenshot(path=str(SCREENSHOTS / "approval-page.png"), full_page=True)

    page.locator(f'input[name="key"][value="{ACCOUNT_ID}:{keys["too-old"]}"]').uncheck()
    with page.expect_navigation():
        page.get_by_role("button", name="Deactivate selected").click()
    result = page.locator("body").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "approval-done.png"), full_page=True)
    assert "Approved: 2 access keys will be deactivated" in result, result[:1000]
    sweep.succeeds()

    after = client.key_statuses(stack.iam, users)
    changed = {k for k in after if after[k][1] != before[k][1]}
    assert changed == {keys["no-mfa"], keys["unused"]}, f"changed: {changed}"
    assert after[keys["too-old"]][1] == "Active", "the unticked key stays active"
    report = sweep.report()
    assert set(actions(report)) == {keys["no-mfa"], keys["unused"]}
    decided_by = decision(report)["decided_by"]
    assert decided_by["kind"] == "oidc" and decided_by["source_ip"] == "127.0.0.1", decided_by
    assert (decided_by["issuer"], decided_by["subject"], decided_by["email"]) == (
        stack.issuer,
        "approver",
        "approver@example.com",
    )
    assert "HeadlessChrome" in (decided_by["user_agent"] or ""), decided_by

    # The same link, opened again (a new tab, the browser's history): already decided.
    again = context.new_page()
    reopened = again.goto(link)
    assert reopened is not None and reopened.status == 409
    assert "already decided" in again.locator("body").inner_text()
    assert not again.locator('input[name="key"]').count(), "a decided approval offers nothing to tick"
    assert console_errors == [], f"the page logged errors (a CSP violation?): {console_errors}"
    context.close()
