"""The approval link against what is not a person deciding (docs/architecture.md, "Approval"): mail scanners that
pre-fetch every link with GET and HEAD, and forged or replayed form posts. None of them decides
anything: the execution stays waiting, the approval record stays pending, every key stays Active.
"""

from __future__ import annotations

import secrets

from helpers import LINK_SETTINGS, LocalStack, assert_still_waiting
from keyward_local import browser
from keyward_local.browser import selection
from keyward_local.client import Seeder

#: The bearer link (APPROVER_AUTH=link): what holding the link alone can and cannot do
#: (test_approve_oidc.py is the same under the sign-in).
SETTINGS = LINK_SETTINGS

#: User agents of link pre-fetchers as they appear in mail gateways' logs, and plain tools.
SCANNERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Microsoft Office Existence Discovery",
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "Barracuda Sentinel (EE)",
    "curl/8.5.0",
]
STRICT_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_scanners_fetching_the_link_many_times_decide_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)

    sweep = stack.sweep("scanner")
    link = sweep.approval_link()
    fetched = 0
    for round_ in range(6):
        for agent in SCANNERS:
            for method in ("GET", "HEAD"):
                # Scanners also follow variants of the link: with a query, and with a trailing slash.
                url = link + ("?decision=approve&key=" + key if round_ % 2 else "")
                answer = browser.fetch(url, method=method, user_agent=agent)
                fetched += 1
                assert answer.status == 200, (method, agent, answer.status, answer.text[:300])
                assert {k: answer.headers.get(k) for k in STRICT_HEADERS} == STRICT_HEADERS
                assert "no-store" in answer.headers.get("cache-control", "")
                if method == "HEAD":
                    assert answer.body == ""
                else:
                    assert "Deactivate selected" in answer.text
    assert fetched == 60
    assert_still_waiting(stack, sweep, owner, key)

    # The person then decides, once.
    page = browser.open_page(link)
    assert browser.decide(link, page.token, page.keys, "reject").status == 200
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Active"


def test_forged_and_malformed_decisions_are_refused_and_decide_nothing(stack: LocalStack, account: Seeder) -> None:
    s = account
    owner = s.user("old")
    key = s.key(owner, age_days=200, used_days_ago=1)
    bystander = s.user("fresh")
    outsider = s.key(bystander, age_days=5, used_days_ago=1)  # compliant: not in the plan

    sweep = stack.sweep("forged")
    link = sweep.approval_link()
    page = browser.open_page(link)
    assert page.keys == [key]

    planned = selection(key)
    refusals = {
        "a key id outside the plan": [("token", page.token), ("key", selection(outsider)), ("decision", "approve")],
        "a planned key with one outside the plan": [
            ("token", page.token),
            ("key", planned),
            ("key", selection(outsider)),
            ("decision", "approve"),
        ],
        "a made-up key id": [("token", page.token), ("key", selection("AKIA" + "X" * 16)), ("decision", "approve")],
        "a planned key id without its account": [("token", page.token), ("key", key), ("decision", "approve")],
        "no form token (cross-site post)": [("key", planned), ("decision", "approve")],
        "a wrong form token": [("token", secrets.token_urlsafe(32)), ("key", planned), ("decision", "approve")],
        "no decision": [("token", page.token), ("key", planned)],
        "an unknown decision": [("token", page.token), ("key", planned), ("decision", "approve-all")],
    }
    for what, form in refusals.items():
        answer = browser.fetch(link, "POST", form=form)
        assert 400 <= answer.status < 500, f"{what}: HTTP {answer.status}: {answer.text[:300]}"
        assert_still_waiting(stack, sweep, owner, key)
        assert stack.key_status(bystander, outsider) == "Active"

    # A link whose id was never issued (guessed, or cut short) is unknown, and decides nothing.
    base = link.rsplit("/", 1)[0]
    for unknown in (f"{base}/{secrets.token_urlsafe(32)}", link[:-4]):
        assert browser.fetch(unknown).status == 404
        answer = browser.fetch(unknown, "POST", form=[("token", page.token), ("key", planned), ("decision", "approve")])
        assert answer.status == 404, answer.text[:300]
    assert_still_waiting(stack, sweep, owner, key)

    # The genuine decision still works afterwards, exactly once.
    answer = browser.decide(link, page.token, [key])
    assert answer.status == 200, answer.text[:500]
    replay = browser.decide(link, page.token, [key])
    assert replay.status == 409 and "already decided" in replay.text
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"
    assert stack.key_status(bystander, outsider) == "Active"
