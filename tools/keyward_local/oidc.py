"""The local stack's OpenID provider (tools/oidc-provider/server.mjs, the certified `oidc-provider` from
npm) as `up` runs it when APPROVER_AUTH=oidc: its configuration defaults (issuer on OIDC_PORT, the
client keyward signs in with, who may approve), the client secret `up` generates when none is given
(kept only in keyward's emulated secret and a 0600 file under target/local-stack/), and the process
itself. Standard library only."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time

from keyward_local.console import LocalStackError, http_json, wait_until
from keyward_local.paths import ROOT, STATE_DIR
from keyward_local.processes import spawn

#: How keyward authenticates an approver, and the local stack's default.
APPROVER_AUTH_VAR = "APPROVER_AUTH"
APPROVER_AUTH_MODES = ("oidc", "link")
DEFAULT_APPROVER_AUTH = "oidc"
#: The provider's port: LAMBDA_PORT + 2 unless given (LAMBDA_PORT + 1 is cargo lambda watch's).
PORT_VAR = "OIDC_PORT"
ISSUER_VAR = "OIDC_ISSUER"
CLIENT_ID_VAR = "OIDC_CLIENT_ID"
CLIENT_SECRET_VAR = "OIDC_CLIENT_SECRET"
APPROVERS_VAR = "APPROVERS"
DEFAULT_CLIENT_ID = "keyward-local"
DEFAULT_APPROVERS = "approver@example.com"

#: The provider's accounts (server.mjs): login name = subject.
APPROVER = "approver"
APPROVER2 = "approver2"
STRANGER = "stranger"
#: Claims approver@example.com without having verified it.
UNVERIFIED = "unverified"
#: What each account's ID token says about its e-mail.
ACCOUNTS = {
    APPROVER: ("approver@example.com", True),
    APPROVER2: ("approver2@example.com", True),
    STRANGER: ("stranger@example.com", True),
    UNVERIFIED: ("approver@example.com", False),
}
#: The ID token defects `POST /_keyward/oidc-faults` can inject (server.mjs's MODES).
FAULT_MODES = ("tamper-signature", "wrong-audience", "expired", "wrong-nonce", "alg-none", "wrong-issuer")

SERVER = ROOT / "tools" / "oidc-provider" / "server.mjs"
NODE_MODULE = ROOT / "node_modules" / "oidc-provider"
LOG_FILE = STATE_DIR / "oidc.log"
#: The client secret `up` generated (mode 0600): for a person who wants to drive the client by hand.
SECRET_FILE = STATE_DIR / "oidc-client-secret"
READY_SECONDS = 30


def local_issuer(port: int) -> str:
    """The local provider's issuer on `port`."""
    return f"http://127.0.0.1:{port}"


def redirect_uri(approval_base_url: str) -> str:
    """keyward's callback under its approval base URL (without a trailing slash)."""
    return approval_base_url.rstrip("/") + "/oidc/callback"


def with_defaults(settings: dict[str, str], oidc_port: int) -> dict[str, str]:
    """`settings` with the local stack's sign-in defaults: APPROVER_AUTH=oidc, and under oidc the local
    provider's issuer, keyward's client id and the approver's address. Under link no OIDC_* is added.
    An unknown APPROVER_AUTH is refused."""
    auth = settings.get(APPROVER_AUTH_VAR, DEFAULT_APPROVER_AUTH).strip()
    if auth not in APPROVER_AUTH_MODES:
        raise LocalStackError(
            f"{APPROVER_AUTH_VAR}={auth!r} is not valid: expected one of {', '.join(APPROVER_AUTH_MODES)}"
        )
    found = {**settings, APPROVER_AUTH_VAR: auth}
    if auth == "oidc":
        found.setdefault(ISSUER_VAR, local_issuer(oidc_port))
        found.setdefault(CLIENT_ID_VAR, DEFAULT_CLIENT_ID)
        found.setdefault(APPROVERS_VAR, DEFAULT_APPROVERS)
    return found


def runs_local_provider(settings: dict[str, str], oidc_port: int) -> bool:
    """Whether `up` starts the local provider: under oidc, with the local issuer (an OIDC_ISSUER given
    at `up` that is another provider's is used as it is)."""
    return settings.get(APPROVER_AUTH_VAR) == "oidc" and settings.get(ISSUER_VAR) == local_issuer(oidc_port)


def client_secret(settings: dict[str, str]) -> str:
    """The client secret: OIDC_CLIENT_SECRET as given at `up`, else a fresh one, written to SECRET_FILE
    (0600) and nowhere else but keyward's secret."""
    given = settings.get(CLIENT_SECRET_VAR, "").strip()
    if given:
        return given
    generated = secrets.token_urlsafe(32)
    SECRET_FILE.unlink(missing_ok=True)
    descriptor = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(generated + "\n")
    return generated


def start_provider(port: int, client_id: str, secret: str, callback: str) -> subprocess.Popen[bytes]:
    """Starts the provider on 127.0.0.1:`port` for the one client, recorded as the stack's "oidc"
    process; the secret goes in its environment, never on its command line."""
    node = shutil.which("node")
    if node is None:
        raise LocalStackError("node is not on PATH: the OpenID provider (APPROVER_AUTH=oidc) needs Node.js")
    if not NODE_MODULE.is_dir():
        raise LocalStackError(f"{NODE_MODULE.relative_to(ROOT)} is missing: run make node-tools (npm ci)")
    command = [node, str(SERVER), "--port", str(port), "--client-id", client_id, "--redirect-uri", callback]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OIDC_"))}
    env[CLIENT_SECRET_VAR] = secret
    return spawn("oidc", command, env, LOG_FILE)


def discovery(issuer: str, timeout: float = 2.0) -> dict[str, object] | None:
    """The issuer's discovery document, or None while nothing answers it."""
    try:
        document = http_json("GET", f"{issuer}/.well-known/openid-configuration", timeout=timeout)
    except LocalStackError:
        return None
    return {str(k): v for k, v in document.items()} if isinstance(document, dict) else None


def wait_for_provider(issuer: str, process: subprocess.Popen[bytes]) -> float:
    """Waits (bounded) until the provider serves its discovery document; returns how long it took."""
    started = time.monotonic()
    wait_until("the OpenID provider", lambda: discovery(issuer), READY_SECONDS, 0.2, process, LOG_FILE)
    return time.monotonic() - started


def inject_fault(issuer: str, mode: str, count: int = 1) -> None:
    """Makes the next `count` ID tokens the local provider issues wrong in the way `mode` names."""
    http_json("POST", f"{issuer}/_keyward/oidc-faults", {"mode": mode, "count": count})


def clear_faults(issuer: str) -> None:
    """Forgets every pending ID token fault."""
    http_json("DELETE", f"{issuer}/_keyward/oidc-faults")
