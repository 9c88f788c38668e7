"""Approvals bound to a person verified through OpenID Connect (APPROVER_AUTH=oidc, the local stack's
default; the provider is tools/oidc-provider/server.mjs): the approval link sends the browser to the
provider, keyward's callback verifies the ID token and checks APPROVERS, and only then does the
confirm page decide, recording who decided. Everything else is refused and decides nothing: a person
not in APPROVERS, an address that is not verified, an ID token wrong in any one way (the provider's
fault hook), a replayed or foreign `state`, a code delivered with another flow's state, a form posted
without a session. Each refusal leaves the execution waiting and the approval record pending."""

from __future__ import annotations

import urllib.parse

from helpers import APPROVE_SETTINGS, LocalStack, Sweep, assert_still_waiting, decision
from keyward_local import oidc
from keyward_local.browser import Answer, Browser, callback_prefix, fetch, selection
from keyward_local.client import Seeder, local_stack
from keyward_local.paths import ENV_FILE
from keyward_local.processes import is_alive, read_record

SETTINGS = APPROVE_SETTINGS
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) keyward-e2e-oidc"


def one_planned_key(stack: LocalStack, account: Seeder, label: str) -> tuple[Sweep, str, str, str]:
    """A run waiting for approval of one key: (the sweep, its link, the key's owner, the key)."""
    owner = account.user("old")
    key = account.key(owner, age_days=200, used_days_ago=1)
    sweep = stack.sweep(label)
    return sweep, sweep.approval_link(), owner, key


def assert_refused(answer: Answer, what: str) -> None:
    """keyward refused: a client error, no confirm form, and no way back to the page."""
    assert 400 <= answer.status < 500, f"{what}: HTTP {answer.status}: {answer.text[:500]}"
    assert 'name="token"' not in answer.body, f"{what}: the answer offers the confirm form"


def assert_cookies_scoped(answer: Answer, base_path: str, what: str) -> None:
    """`answer` sets at least one cookie, and every one is HttpOnly, SameSite=Lax, on the base URL's path."""
    assert answer.set_cookies, f"{what}: no cookie set"
    for cookie in answer.set_cookies:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax", f"path={base_path.lower()}"} <= attributes, f"{what}: {cookie}"


def reject_as_the_approver(link: str) -> None:
    """Ends the run: the approver signs in and rejects."""
    approver = Browser(oidc.APPROVER)
    page = approver.open_page(link, USER_AGENT)
    assert approver.decide(link, page.token, page.keys, "reject", USER_AGENT).status == 200


def test_up_runs_the_provider_as_a_recorded_server_and_tells_the_tools_how_to_sign_in(stack: LocalStack) -> None:
    record = read_record("oidc")
    assert is_alive(record), "the OpenID provider is not a running, recorded process of the stack"
    shown = local_stack("status")
    assert shown.returncode == 0 and "OpenID provider" in shown.stdout and stack.issuer in shown.stdout, shown.stdout
    assert {k: stack.env.get(k) for k in ("APPROVER_AUTH", "OIDC_ISSUER", "OIDC_CLIENT_ID")} == {
        "APPROVER_AUTH": "oidc",
        "OIDC_ISSUER": oidc.local_issuer(int(stack.env["OIDC_PORT"])),
        "OIDC_CLIENT_ID": oidc.DEFAULT_CLIENT_ID,
    }
    assert stack.env["APPROVERS"] == SETTINGS["APPROVERS"]
    assert "OIDC_CLIENT_SECRET" not in stack.env
    assert oidc.SECRET_FILE.read_text().strip() not in ENV_FILE.read_text()


def test_an_approver_signs_in_and_the_decision_names_the_verified_person(stack: LocalStack, account: Seeder) -> None:
    sweep, link, owner, key = one_planned_key(stack, account, "oidc-approve")
    base = link.split("/approvals/", 1)[0]
    base_path = urllib.parse.urlsplit(base).path
    person = Browser(oidc.APPROVER)

    # Without a session the link is a redirect to the provider, with PKCE, never the page.
    first = person.fetch(link, user_agent=USER_AGENT)
    assert first.status == 302, first.text[:500]
    location = urllib.parse.urlsplit(first.headers["location"])
    document = oidc.discovery(stack.issuer)
    assert document is not None
    assert f"{location.scheme}://{location.netloc}{location.path}" == document["authorization_endpoint"]
    query = dict(urllib.parse.parse_qsl(location.query))
    assert query["response_type"] == "code"
    assert query["client_id"] == stack.env["OIDC_CLIENT_ID"]
    assert query["redirect_uri"] == f"{base}/oidc/callback"
    assert {"openid", "email"} <= set(query["scope"].split())
    assert query["state"] and query["nonce"] and query["code_challenge"]
    assert query["code_challenge_method"] == "S256"
    assert_cookies_scoped(first, base_path, "the login cookie")

    # Signed in through the provider's login form, the callback sets the session and leads back.
    callback = person.authorize(link, USER_AGENT)
    landed = person.fetch(callback, user_agent=USER_AGENT)
    assert landed.status == 302, landed.text[:500]
    assert urllib.parse.urljoin(callback, landed.headers["location"]) == link
    assert_cookies_scoped(landed, base_path, "the session cookie")
    page = person.open_page(link, USER_AGENT)
    assert page.keys == [key]

    # The same form posted without the session decides nothing.
    form = [("token", page.token), ("key", selection(key)), ("decision", "approve")]
    assert_refused(fetch(link, "POST", USER_AGENT, form), "a form posted without a session")
    assert_still_waiting(stack, sweep, owner, key)

    answer = person.decide(link, page.token, [key], "approve", USER_AGENT)
    assert answer.status == 200, answer.text[:500]
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Inactive"
    assert decision(sweep.report())["decided_by"] == {
        "kind": "oidc",
        "issuer": stack.issuer,
        "subject": "approver",
        "email": "approver@example.com",
        "source_ip": "127.0.0.1",
        "user_agent": USER_AGENT,
    }


def test_people_not_in_approvers_are_refused_and_an_approver_named_by_subject_decides(
    stack: LocalStack, account: Seeder
) -> None:
    sweep, link, owner, key = one_planned_key(stack, account, "oidc-stranger")

    # A verified address that is not in APPROVERS, and the approver's address unverified.
    for who in (oidc.STRANGER, oidc.UNVERIFIED):
        answer = Browser(who).sign_in(link, USER_AGENT)
        assert answer.status == 403, f"{who}: HTTP {answer.status}: {answer.text[:500]}"
        assert 'name="token"' not in answer.body
        assert_still_waiting(stack, sweep, owner, key)

    # APPROVERS names approver2 as sub:approver2.
    second = Browser(oidc.APPROVER2)
    page = second.open_page(link, USER_AGENT)
    assert second.decide(link, page.token, page.keys, "reject", USER_AGENT).status == 200
    sweep.succeeds()
    assert stack.key_status(owner, key) == "Active"
    decided_by = decision(sweep.report())["decided_by"]
    assert (decided_by["kind"], decided_by["subject"], decided_by["email"]) == (
        "oidc",
        "approver2",
        "approver2@example.com",
    )


def test_an_id_token_wrong_in_any_one_way_is_refused_and_decides_nothing(stack: LocalStack, account: Seeder) -> None:
    sweep, link, owner, key = one_planned_key(stack, account, "oidc-faults")

    for mode in oidc.FAULT_MODES:
        stack.id_token_fault(mode)
        person = Browser(oidc.APPROVER)
        callback = person.authorize(link, USER_AGENT)
        assert_refused(person.fetch(callback, user_agent=USER_AGENT), f"an ID token with {mode}")
        # Refused, the browser has no session: the link still sends it to the provider.
        assert person.fetch(link, user_agent=USER_AGENT).status == 302, mode
        assert_still_waiting(stack, sweep, owner, key)

    reject_as_the_approver(link)
    sweep.succeeds()


def test_a_replayed_foreign_or_mismatched_callback_is_refused_and_decides_nothing(
    stack: LocalStack, account: Seeder
) -> None:
    sweep, link, owner, key = one_planned_key(stack, account, "oidc-state")

    # The same callback URL twice: the state is single-use.
    person = Browser(oidc.APPROVER)
    callback = person.authorize(link, USER_AGENT)
    assert person.fetch(callback, user_agent=USER_AGENT).status == 302
    assert_refused(person.fetch(callback, user_agent=USER_AGENT), "the same callback a second time")
    assert_refused(Browser().fetch(callback, user_agent=USER_AGENT), "the same callback in another browser")

    # A state started in one browser, delivered in another (a login CSRF): refused.
    victim, attacker = Browser(oidc.APPROVER), Browser(oidc.APPROVER)
    started = attacker.authorize(link, USER_AGENT)
    assert_refused(victim.fetch(started, user_agent=USER_AGENT), "a callback whose state another browser started")
    assert_refused(fetch(started, user_agent=USER_AGENT), "a callback without the browser's login cookie")

    # A code from one flow with another flow's state: the code exchange fails PKCE (the verifier is
    # the other flow's).
    mine = urllib.parse.urlsplit(victim.authorize(link, USER_AGENT))
    theirs = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(attacker.authorize(link, USER_AGENT)).query))
    spliced = dict(urllib.parse.parse_qsl(mine.query)) | {"code": theirs["code"]}
    assert callback_prefix(link) == f"{mine.scheme}://{mine.netloc}{mine.path}"
    mismatched = f"{callback_prefix(link)}?{urllib.parse.urlencode(spliced)}"
    assert_refused(victim.fetch(mismatched, user_agent=USER_AGENT), "a code delivered with another flow's state")

    for browser in (victim, attacker):
        assert browser.fetch(link, user_agent=USER_AGENT).status == 302, "a refused browser has no session"
    assert_still_waiting(stack, sweep, owner, key)
    reject_as_the_approver(link)
    sweep.succeeds()
