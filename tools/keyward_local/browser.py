"""The approval page used like a browser without JavaScript, as the demo and the end-to-end tests use
it: plain requests (a scanner's, a forger's: no cookies, redirects not followed), and a
person's browser (`Browser`) with its cookies that follows keyward's redirect to the OpenID provider,
signs in on its login form as one of its accounts, comes back through keyward's callback and uses the
confirm page with the session it got. Every request goes to 127.0.0.1, never through a proxy the
environment may name.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from keyward_local import oidc
from keyward_local.console import LocalStackError
from keyward_local.paths import ACCOUNT_ID


@dataclass
class Answer:
    """One HTTP answer (keyward's, or the OpenID provider's during a sign-in)."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: str
    #: Every Set-Cookie header, as sent (`headers` keeps only the last one).
    set_cookies: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The page's visible text."""
        return page_text(self.body)


def page_text(page: str) -> str:
    """A page's visible text on one line."""
    text = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(style|head)[^>]*>.*?</\1>", " ", page))
    return " ".join(html.unescape(text).split())


#: Redirects are answers too: the tests see each one (urllib would follow them without cookies).
_REDIRECTS = (301, 302, 303, 307, 308)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands a redirect back as it came: its status and Location become an Answer."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def _request(
    opener: urllib.request.OpenerDirector,
    url: str,
    method: str,
    user_agent: str,
    form: list[tuple[str, str]] | None,
    headers: dict[str, str] | None,
) -> Answer:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    all_headers = {"accept": "text/html", "user-agent": user_agent}
    if form is not None:
        all_headers["content-type"] = "application/x-www-form-urlencoded"
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read().decode(),
                response.headers.get_all("set-cookie") or [],
            )
    except urllib.error.HTTPError as error:
        return Answer(
            error.code,
            {k.lower(): v for k, v in error.headers.items()},
            error.read().decode(errors="replace"),
            error.headers.get_all("set-cookie") or [],
        )
    except urllib.error.URLError as error:
        raise LocalStackError(f"{method} {url}: {error.reason} (is the local stack up?)") from None


#: A request with no cookies that does not follow redirects: a scanner, a forger, a fresh browser.
_COOKIELESS = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def fetch(
    url: str,
    method: str = "GET",
    user_agent: str = "keyward-local-stack",
    form: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request without cookies; an error status or a redirect is an Answer too, not an
    exception."""
    return _request(_COOKIELESS, url, method, user_agent, form, headers)


def selection(key_id: str, account: str = ACCOUNT_ID) -> str:
    """How the confirm page's checkbox names a key: `<account_id>:<access_key_id>` (the local stack's
    account unless told), the value keyward matches against the plan by account and key id."""
    return f"{account}:{key_id}"


@dataclass
class ConfirmPage:
    """The confirm page as a browser shows it: its form token, the key ids it offers, and the
    accounts its checkboxes name them in."""

    token: str
    keys: list[str]
    accounts: set[str]
    text: str


def confirm_page(link: str, answer: Answer) -> ConfirmPage:
    """The confirm page's form token and the key ids it offers (all ticked), from `answer`."""
    token = re.search(r'<input type="hidden" name="token" value="([^"]*)"', answer.body)
    if answer.status != 200 or not token:
        raise LocalStackError(
            f"the confirm page at {link} answered HTTP {answer.status} without a form:\n{answer.text[:1500]}"
        )
    values = [html.unescape(v) for v in re.findall(r'<input[^>]*name="key" value="([^"]+)"', answer.body)]
    named = [v.partition(":") for v in values]
    if any(not sep for _, sep, _ in named):
        raise LocalStackError(f"the confirm page at {link} names a key without its account: {values}")
    return ConfirmPage(
        html.unescape(token.group(1)), [key for _, _, key in named], {a for a, _, _ in named}, answer.text
    )


#: The local OpenID provider's login form (tools/oidc-provider/server.mjs).
_LOGIN_FORM = re.compile(r'<form method="post" action="(/interaction/[\w-]+/login)">')
#: More redirects than a sign-in takes (keyward, the provider's authorize, login, consent, callback).
_MAX_HOPS = 20


def callback_prefix(link: str) -> str:
    """keyward's OpenID callback for an approval link: `{base}/oidc/callback`."""
    return link.split("/approvals/", 1)[0].rstrip("/") + "/oidc/callback"


class Browser:
    """A person's browser without JavaScript: its own cookies (keyward's, the OpenID provider's), each
    redirect followed as a browser follows it, and the provider's login form filled in as `account`
    when a sign-in asks for it (APPROVER_AUTH=oidc). Under APPROVER_AUTH=link nothing redirects and
    it is a plain client."""

    def __init__(self, account: str = oidc.APPROVER):
        self.account = account
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect
        )

    def fetch(
        self,
        url: str,
        method: str = "GET",
        user_agent: str = "keyward-local-stack",
        form: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request with this browser's cookies; a redirect is an Answer, not followed."""
        return _request(self.opener, url, method, user_agent, form, headers)

    def navigate(
        self, url: str, user_agent: str = "keyward-local-stack", until: str | None = None
    ) -> tuple[Answer, str]:
        """GETs `url` and follows its redirects, signing in as the account on the provider's login form;
        returns the last answer and its URL. With `until`, stops at the first redirect to a URL that
        starts with it, and returns that redirect with the URL it points to."""
        answer = self.fetch(url, user_agent=user_agent)
        for _ in range(_MAX_HOPS):
            if answer.status in _REDIRECTS and "location" in answer.headers:
                target = urllib.parse.urljoin(url, answer.headers["location"])
                if until is not None and target.startswith(until):
                    return answer, target
                url, answer = target, self.fetch(target, user_agent=user_agent)
            elif answer.status == 200 and (login := _LOGIN_FORM.search(answer.body)):
                url = urllib.parse.urljoin(url, html.unescape(login.group(1)))
                form = [("login", self.account), ("password", "")]
                answer = self.fetch(url, "POST", user_agent, form)
            else:
                return answer, url
        raise LocalStackError(f"more than {_MAX_HOPS} redirects, the last to {url}")

    def sign_in(self, link: str, user_agent: str = "keyward-local-stack") -> Answer:
        """Opens the approval link, signed in through the OpenID provider first when keyward asks for
        it: the answer at the end (the confirm page, or keyward's refusal of this person)."""
        return self.navigate(link, user_agent)[0]

    def authorize(self, link: str, user_agent: str = "keyward-local-stack") -> str:
        """Goes through keyward's redirect and the provider's sign-in up to, not including, keyward's
        callback: returns the callback URL (its code and state) for the caller to deliver."""
        answer, url = self.navigate(link, user_agent, until=callback_prefix(link))
        if not url.startswith(callback_prefix(link)):
            raise LocalStackError(
                f"{link} led to {url} (HTTP {answer.status}), not to keyward's callback: is APPROVER_AUTH=oidc?"
                f"\n{answer.text[:500]}"
            )
        return url

    def open_page(self, link: str, user_agent: str = "keyward-local-stack") -> ConfirmPage:
        """The confirm page, signed in first when keyward asks for it."""
        return confirm_page(link, self.sign_in(link, user_agent))

    def decide(
        self,
        link: str,
        token: str,
        keys: list[str],
        decision: str = "approve",
        user_agent: str = "keyward-local-stack",
    ) -> Answer:
        """POSTs the confirm page's form with this browser's session: `decision` is "approve" (the
        ticked `keys`, key ids of the local stack's account, named as the page names them) or
        "reject"."""
        form = [("token", token)] + [("key", selection(k)) for k in keys] + [("decision", decision)]
        return self.fetch(link, "POST", user_agent, form)


_APPROVER_BROWSERS: dict[str, Browser] = {}


def approver_browser(link: str) -> Browser:
    """The approver's browser for this approval link, which `open_page` and `decide` use: signed in as
    `approver` (an address in the local stack's default APPROVERS) when keyward asks. One per link,
    as keyward binds a session to one approval."""
    return _APPROVER_BROWSERS.setdefault(link, Browser(oidc.APPROVER))


def open_page(link: str, user_agent: str = "keyward-local-stack") -> ConfirmPage:
    """GET the confirm page in the approver's browser (signing in first under APPROVER_AUTH=oidc): its
    form token and the key ids it offers (all ticked)."""
    return approver_browser(link).open_page(link, user_agent)


def decide(
    link: str, token: str, keys: list[str], decision: str = "approve", user_agent: str = "keyward-local-stack"
) -> Answer:
    """POST the confirm page's form from the approver's browser: `decision` is "approve" (the ticked
    `keys`, key ids of the local stack's account) or "reject"."""
    return approver_browser(link).decide(link, token, keys, decision, user_agent)
