"""The local stack's OpenID provider (tools/oidc-provider/server.mjs) on its own, on a free port, as
keyward's approval function will use it: its discovery document, the authorization-code flow with
PKCE as a confidential client (client_secret_basic and client_secret_post), the ID token verified
against its JWKS, PKCE enforced, and each fault of `POST /_keyward/oidc-faults` making the next ID
token wrong in exactly the way it names and no other."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from keyward_local import oidc
from keyward_local.browser import Browser, fetch
from keyward_local.console import LocalStackError, http_json, wait_until

CLIENT_ID = "keyward-test"
SECRET = secrets.token_urlsafe(24)


@dataclass
class Provider:
    """The provider under test: its issuer, keyward's callback registered with it, its process."""

    issuer: str
    redirect_uri: str
    process: subprocess.Popen[bytes]

    def document(self) -> dict[str, object]:
        found = oidc.discovery(self.issuer)
        assert found is not None, f"{self.issuer} serves no discovery document"
        return found

    def endpoint(self, name: str) -> str:
        return str(self.document()[name])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    # Nothing listens there: the flow stops at the redirect to it, as keyward's callback would get it.
    callback = f"http://127.0.0.1:{free_port()}/lambda-url/approval/oidc/callback"
    log = tmp_path_factory.mktemp("oidc") / "oidc.log"
    env = {**os.environ, oidc.CLIENT_SECRET_VAR: SECRET}
    command = ["node", str(oidc.SERVER), "--port", str(port), "--client-id", CLIENT_ID, "--redirect-uri", callback]
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        issuer = oidc.local_issuer(port)
        wait_until("the OpenID provider", lambda: oidc.discovery(issuer), 30, 0.2, log=log)
        yield Provider(issuer, callback, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def no_faults(provider: Provider) -> Iterator[None]:
    yield
    oidc.clear_faults(provider.issuer)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@dataclass
class Flow:
    """One authorization request's secrets and the code it came back with."""

    verifier: str
    nonce: str
    state: str
    code: str


def authorize(provider: Provider, account: str = oidc.APPROVER, **params: str) -> Flow | dict[str, str]:
    """Signs in as `account` through the provider's authorization endpoint, as keyward sends a
    browser there; returns the flow, or the error the redirect to the callback carries."""
    verifier, nonce, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": provider.redirect_uri,
        "scope": "openid email",
        "state": state,
        "nonce": nonce,
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        **params,
    }
    query = {k: v for k, v in query.items() if v}
    url = f"{provider.endpoint('authorization_endpoint')}?{urllib.parse.urlencode(query)}"
    answer, callback = Browser(account).navigate(url, until=provider.redirect_uri)
    assert callback.startswith(provider.redirect_uri), f"HTTP {answer.status} at {callback}: {answer.text[:500]}"
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    if "error" in returned:
        return returned
    assert returned["state"] == state
    assert returned["iss"] == provider.issuer
    return Flow(verifier, nonce, state, returned["code"])


def signed_in(provider: Provider, account: str = oidc.APPROVER) -> Flow:
    flow = authorize(provider, account)
    assert isinstance(flow, Flow), flow
    return flow


def token_request(
    provider: Provider, flow: Flow, verifier: str | None = None, how: str = "basic", secret: str = SECRET
) -> tuple[int, dict[str, object]]:
    """The code exchange as keyward makes it: (HTTP status, JSON answer)."""
    form = [
        ("grant_type", "authorization_code"),
        ("code", flow.code),
        ("redirect_uri", provider.redirect_uri),
    ]
    if verifier is not None:
        form.append(("code_verifier", verifier))
    headers = {"accept": "application/json"}
    if how == "basic":
        credentials = f"{urllib.parse.quote(CLIENT_ID)}:{urllib.parse.quote(secret)}"
        headers["authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    else:
        form += [("client_id", CLIENT_ID), ("client_secret", secret)]
    answer = fetch(provider.endpoint("token_endpoint"), "POST", form=form, headers=headers)
    body: dict[str, object] = json.loads(answer.body)
    return answer.status, body


def id_token(provider: Provider, flow: Flow, how: str = "basic") -> str:
    status, body = token_request(provider, flow, flow.verifier, how)
    assert status == 200, body
    return str(body["id_token"])


def jwks(provider: Provider) -> KeySet:
    keys = http_json("GET", provider.endpoint("jwks_uri"))
    assert isinstance(keys, dict)
    return KeySet.import_key_set(keys)  # type: ignore[arg-type]


def defects(provider: Provider, token: str, flow: Flow) -> set[str]:
    """What is wrong with `token` for a relying party that sent `flow`: each property keyward checks."""
    header_part, payload_part, _ = token.split(".")
    header, claims = unb64(header_part), unb64(payload_part)
    found = set()
    if header.get("alg") != "RS256":
        found.add("alg")
    else:
        try:
            jwt.decode(token, jwks(provider), algorithms=["RS256"])
        except JoseError:
            found.add("signature")
    if claims.get("iss") != provider.issuer:
        found.add("iss")
    if claims.get("aud") != CLIENT_ID:
        found.add("aud")
    if not isinstance(claims.get("exp"), int) or int(str(claims["exp"])) <= time.time():
        found.add("exp")
    if claims.get("nonce") != flow.nonce:
        found.add("nonce")
    return found


def test_the_discovery_document_offers_the_code_flow_with_pkce_s256_and_rs256_only(provider: Provider) -> None:
    document = provider.document()
    assert document["issuer"] == provider.issuer
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email"} <= set(document["scopes_supported"])  # type: ignore[call-overload]
    assert {"email", "email_verified"} <= set(document["claims_supported"])  # type: ignore[call-overload]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert str(document[name]).startswith(provider.issuer + "/")


@pytest.mark.parametrize("how", ["basic", "post"])
def test_an_approver_signs_in_and_the_id_token_verifies_against_the_jwks(provider: Provider, how: str) -> None:
    flow = signed_in(provider)
    token = jwt.decode(id_token(provider, flow, how), jwks(provider), algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": flow.nonce},
        exp={"essential": True},
        iat={"essential": True},
    )
    registry.validate(token.claims)
    assert token.header["alg"] == "RS256"
    assert token.claims["sub"] == "approver"
    assert token.claims["email"] == "approver@example.com"
    assert token.claims["email_verified"] is True


@pytest.mark.parametrize("account", sorted(oidc.ACCOUNTS))
def test_each_account_s_id_token_carries_its_address_and_whether_it_is_verified(
    provider: Provider, account: str
) -> None:
    flow = signed_in(provider, account)
    claims = jwt.decode(id_token(provider, flow), jwks(provider), algorithms=["RS256"]).claims
    assert (claims["sub"], claims["email"], claims["email_verified"]) == (account, *oidc.ACCOUNTS[account])


def test_a_code_exchanged_without_its_verifier_or_with_another_is_refused(provider: Provider) -> None:
    without = signed_in(provider)
    status, body = token_request(provider, without, verifier=None)
    assert (status, body["error"]) == (400, "invalid_grant"), body

    wrong = signed_in(provider)
    status, body = token_request(provider, wrong, verifier=secrets.token_urlsafe(48))
    assert (status, body["error"]) == (400, "invalid_grant"), body

    # Another flow's verifier does not fit either: PKCE binds each code to its own request.
    first, second = signed_in(provider), signed_in(provider)
    status, body = token_request(provider, first, verifier=second.verifier)
    assert (status, body["error"]) == (400, "invalid_grant"), body


def test_an_authorization_request_without_pkce_or_with_plain_is_refused(provider: Provider) -> None:
    refused = authorize(provider, code_challenge="", code_challenge_method="")
    assert isinstance(refused, dict) and refused["error"] == "invalid_request", refused
    plain = authorize(provider, code_challenge_method="plain")
    assert isinstance(plain, dict) and plain["error"] == "invalid_request", plain


def test_a_wrong_client_secret_and_a_replayed_code_are_refused(provider: Provider) -> None:
    flow = signed_in(provider)
    status, body = token_request(provider, flow, flow.verifier, secret="not-the-secret")
    assert (status, body["error"]) == (401, "invalid_client"), body
    flow = signed_in(provider)
    assert token_request(provider, flow, flow.verifier)[0] == 200
    status, body = token_request(provider, flow, flow.verifier)
    assert (status, body["error"]) == (400, "invalid_grant"), body


def test_an_unknown_account_is_not_signed_in(provider: Provider) -> None:
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": provider.redirect_uri,
        "scope": "openid email",
        "code_challenge": b64url(hashlib.sha256(b"v" * 43).digest()),
        "code_challenge_method": "S256",
    }
    url = f"{provider.endpoint('authorization_endpoint')}?{urllib.parse.urlencode(query)}"
    answer, where = Browser("nobody").navigate(url, until=provider.redirect_uri)
    assert answer.status == 400 and "No account named" in answer.text, (where, answer.text[:300])


#: The defect each fault mode must produce, and nothing else.
FAULTS = {
    "tamper-signature": {"signature"},
    "wrong-audience": {"aud"},
    "expired": {"exp"},
    "wrong-nonce": {"nonce"},
    "alg-none": {"alg"},
    "wrong-issuer": {"iss"},
}


def test_the_fault_modes_are_the_ones_the_python_side_names() -> None:
    assert set(FAULTS) == set(oidc.FAULT_MODES)


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_each_fault_makes_the_next_id_token_wrong_in_exactly_that_way(provider: Provider, mode: str) -> None:
    genuine = signed_in(provider)
    assert defects(provider, id_token(provider, genuine), genuine) == set()

    oidc.inject_fault(provider.issuer, mode)
    faulty = signed_in(provider)
    token = id_token(provider, faulty)
    assert defects(provider, token, faulty) == FAULTS[mode]
    claims = unb64(token.split(".")[1])
    assert (claims["sub"], claims["email"], claims["email_verified"]) == ("approver", "approver@example.com", True)
    if mode == "alg-none":
        assert token.endswith("."), "an unsecured JWT has an empty signature"

    after = signed_in(provider)
    assert defects(provider, id_token(provider, after), after) == set(), "a fault applies to the next token only"


def test_the_fault_hook_counts_lists_and_refuses_what_it_does_not_know(provider: Provider) -> None:
    oidc.inject_fault(provider.issuer, "expired", count=2)
    assert http_json("GET", f"{provider.issuer}/_keyward/oidc-faults") == ["expired", "expired"]
    oidc.clear_faults(provider.issuer)
    assert http_json("GET", f"{provider.issuer}/_keyward/oidc-faults") == []
    for body in ({"mode": "forged"}, {"mode": "expired", "count": 0}, {}):
        with pytest.raises(LocalStackError, match="HTTP 400"):
            http_json("POST", f"{provider.issuer}/_keyward/oidc-faults", body)
    assert http_json("GET", f"{provider.issuer}/_keyward/oidc-faults") == []
