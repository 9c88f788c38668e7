"""The configuration of one local stack: what `up` reads from the environment (ports, the IAM throttle
and strictness knobs, keyward's own variables), how it is recorded and compared with the running
stack's, and the environment it gives to the functions and writes to target/local-stack/env. The
secrets given at `up` (Slack's, the OpenID client's) are in neither environment: `up` writes them into
keyward's secret (provision.create_secret) and the functions get its ARN, KEYWARD_SECRET_ARN. The
sign-in settings get the local stack's defaults (keyward_local.oidc).

KEYWARD_SCOPE, MEMBER_READ_ROLE and MEMBER_WRITE_ROLE are function configuration (CONFIG_VARS, as the
template gives them to the functions) and also shape the stack, with ORG_MEMBER_ACCOUNTS
(paths.ORG_VARS, the local stack's own): under KEYWARD_SCOPE=organization `up` emulates an organisation
around the local account (keyward_local.org), and target/local-stack/env names its member accounts and
roles. The functions always get KEYWARD_SCOPE as the stack was shaped (the template always passes
it), so a function never sweeps in another scope than the stack's. Standard library only."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import TypedDict

from keyward_local.console import LocalStackError
from keyward_local.oidc import (
    APPROVER_AUTH_VAR,
    APPROVERS_VAR,
    CLIENT_ID_VAR,
    ISSUER_VAR,
    PORT_VAR,
    runs_local_provider,
    with_defaults,
)
from keyward_local.paths import (
    ACCOUNT_ID,
    CONFIG_VARS,
    CREDENTIALS_FILE,
    MEMBER_READ_ROLE_VAR,
    MEMBER_ROLE_DEFAULTS,
    MEMBER_WRITE_ROLE_VAR,
    ORG_ACCOUNTS_VAR,
    ORG_MEMBERS_VAR,
    ORG_VARS,
    PAGE_ITEMS_VAR,
    REGION,
    SCOPE_VAR,
    SCOPES,
    SECRET_VARS,
    STRICT_VARS,
    THROTTLE_VAR,
    VENV_BIN,
)

DEFAULT_MOTO_PORT = 5055
DEFAULT_LAMBDA_PORT = 9000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
#: The sign-in settings target/local-stack/env repeats (not the client secret).
SIGN_IN_VARS = (APPROVER_AUTH_VAR, ISSUER_VAR, CLIENT_ID_VAR, APPROVERS_VAR)

#: The stack's resource names. CloudFormation generates them in AWS; these are the local ones.
BUCKET = f"keyward-reports-{ACCOUNT_ID}"
TOPIC = "keyward"
TABLE = "keyward-approvals"
DECISIONS_TABLE = "keyward-decisions"
#: The local name of each DynamoDB table of the template, by logical id.
TABLES = {"ApprovalsTable": TABLE, "DecisionsTable": DECISIONS_TABLE}
STATE_MACHINE = "keyward"


class Organization(TypedDict):
    """The emulated organisation `up` was asked for (KEYWARD_SCOPE=organization): how many member
    accounts, and the names of the member roles in each."""

    members: int
    read_role: str
    write_role: str


class StackConfig(TypedDict):
    """What `up` was asked for: ports, the IAM throttle, the emulator's strictness knobs (by variable
    name: seconds, items for the IAM page bound), and keyward's variables that were set."""

    moto_port: int
    lambda_port: int
    #: The local OpenID provider's port, when `up` runs it (APPROVER_AUTH=oidc with its issuer).
    oidc_port: int | None
    iam_throttle_rps: str | None
    strict: dict[str, str]
    settings: dict[str, str]
    #: KEYWARD_SCOPE: `account` or `organization`.
    scope: str
    #: Under `organization`, what the organisation is made of (None under `account`).
    organization: Organization | None


class Recorded(StackConfig):
    """target/local-stack/config.json: the configuration (secrets by hash) and what `up` made of it."""

    emulator_sha256: str
    state_machine_arn: str
    #: keyward's secret in the emulated Secrets Manager (None: no Slack value was given).
    secret_arn: str | None
    asl_sha256: str
    binaries: dict[str, float]
    max_concurrency: int
    #: The emulated organisation's id and its member accounts' ids, in the order `up` created them
    #: (None and [] under KEYWARD_SCOPE=account).
    organization_id: str | None
    org_accounts: list[str]


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise LocalStackError(f"{variable}={raw!r} is not valid: expected a port number from 1024 to 65535")
    return int(raw)


def watch_port(config: StackConfig) -> int:
    """cargo lambda watch's port: the one after LAMBDA_PORT. On LAMBDA_PORT itself the emulator serves the
    Function URLs and passes everything else on to cargo lambda watch."""
    return config["lambda_port"] + 1


def wanted_config() -> StackConfig:
    """The configuration the environment asks for."""
    moto_port = _port("MOTO_PORT", DEFAULT_MOTO_PORT)
    lambda_port = _port("LAMBDA_PORT", DEFAULT_LAMBDA_PORT)
    if lambda_port == 65535:
        raise LocalStackError("LAMBDA_PORT=65535 is not valid: cargo lambda watch needs the port after it")
    if moto_port in (lambda_port, lambda_port + 1):
        raise LocalStackError(
            f"MOTO_PORT={moto_port} collides with LAMBDA_PORT={lambda_port} or the port after it"
            " (cargo lambda watch's): give MOTO_PORT another port"
        )
    oidc_port = _port(PORT_VAR, lambda_port + 2)
    throttle = os.environ.get(THROTTLE_VAR, "").strip() or None
    if throttle is not None:
        try:
            if not 0 < float(throttle) <= 100000:
                raise ValueError
        except ValueError:
            raise LocalStackError(
                f"{THROTTLE_VAR}={throttle!r} is not valid: expected a number of requests per second above 0"
            ) from None
    given = {name: os.environ[name] for name in CONFIG_VARS if os.environ.get(name, "").strip()}
    settings = with_defaults(given, oidc_port)
    provider = runs_local_provider(settings, oidc_port)
    if provider and oidc_port in (moto_port, lambda_port, lambda_port + 1):
        raise LocalStackError(
            f"{PORT_VAR}={oidc_port} collides with MOTO_PORT={moto_port}, LAMBDA_PORT={lambda_port} or the port"
            " after it: give OIDC_PORT another port"
        )
    return {
        "moto_port": moto_port,
        "lambda_port": lambda_port,
        "oidc_port": oidc_port if provider else None,
        "iam_throttle_rps": throttle,
        "strict": {
            name: _items(name, default) if name == PAGE_ITEMS_VAR else _seconds(name, default)
            for name, default in STRICT_VARS.items()
        },
        "settings": settings,
        **_organization(),
    }


#: The most member accounts `up` creates (each adds about half a second to `up`).
MAX_MEMBER_ACCOUNTS = 20
DEFAULT_MEMBER_ACCOUNTS = 3
#: An IAM role name (IAM's own rule; the member template's ReadRoleName/WriteRoleName AllowedPattern).
_ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")


class _Shape(TypedDict):
    scope: str
    organization: Organization | None


def _organization() -> _Shape:
    """KEYWARD_SCOPE and, under `organization`, the organisation's shape; every variable is checked
    whatever the scope, and a member count under `account` is refused (it would be ignored)."""
    scope = os.environ.get(SCOPE_VAR, "").strip() or SCOPES[0]
    if scope not in SCOPES:
        raise LocalStackError(f"{SCOPE_VAR}={scope!r} is not valid: expected one of {', '.join(SCOPES)}")
    raw = os.environ.get(ORG_MEMBERS_VAR, "").strip()
    if raw and scope != "organization":
        raise LocalStackError(
            f"{ORG_MEMBERS_VAR}={raw} asks for member accounts, but {SCOPE_VAR} is {scope}:"
            f" set {SCOPE_VAR}=organization, or unset {ORG_MEMBERS_VAR}"
        )
    raw = raw or str(DEFAULT_MEMBER_ACCOUNTS)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MEMBER_ACCOUNTS:
        raise LocalStackError(
            f"{ORG_MEMBERS_VAR}={raw!r} is not valid: expected a whole number of member accounts"
            f" from 1 to {MAX_MEMBER_ACCOUNTS}"
        )
    roles = {}
    for variable, default in MEMBER_ROLE_DEFAULTS.items():
        name = os.environ.get(variable, "").strip() or default
        if not _ROLE_NAME.fullmatch(name):
            raise LocalStackError(
                f"{variable}={name!r} is not valid: expected an IAM role name (1 to 64 letters, digits and +=,.@_-)"
            )
        roles[variable] = name
    if roles[MEMBER_READ_ROLE_VAR] == roles[MEMBER_WRITE_ROLE_VAR]:
        raise LocalStackError(
            f"{MEMBER_READ_ROLE_VAR} and {MEMBER_WRITE_ROLE_VAR} are both {roles[MEMBER_READ_ROLE_VAR]!r}:"
            " the member template creates two roles, give them two names"
        )
    if scope != "organization":
        return {"scope": scope, "organization": None}
    return {
        "scope": scope,
        "organization": {
            "members": int(raw),
            "read_role": roles[MEMBER_READ_ROLE_VAR],
            "write_role": roles[MEMBER_WRITE_ROLE_VAR],
        },
    }


#: The longest read lag or report delay `up` takes (the emulator's hook has the same bound).
MAX_STRICT_SECONDS = 3600


def _seconds(variable: str, default: str) -> str:
    raw = os.environ.get(variable, "").strip() or default
    try:
        if not 0 <= float(raw) <= MAX_STRICT_SECONDS:
            raise ValueError
    except ValueError:
        raise LocalStackError(
            f"{variable}={raw!r} is not valid: expected a number of seconds from 0 to {MAX_STRICT_SECONDS}"
            " (0 switches it off)"
        ) from None
    return raw


#: The most items an IAM page holds (MaxItems' own bound).
MAX_PAGE_ITEMS = 1000


def _items(variable: str, default: str) -> str:
    raw = os.environ.get(variable, "").strip() or default
    if not raw.isdigit() or not 0 <= int(raw) <= MAX_PAGE_ITEMS:
        raise LocalStackError(
            f"{variable}={raw!r} is not valid: expected a whole number of items from 0 to {MAX_PAGE_ITEMS}"
            " (0 switches the bound off: a page holds MaxItems)"
        )
    return str(int(raw))


def fingerprint(config: StackConfig) -> StackConfig:
    """What `up` records and compares: secrets by hash only (config.json is readable by tests)."""
    shown = dict(config["settings"])
    for name in SECRET_VARS:
        if name in shown:
            shown[name] = "sha256:" + hashlib.sha256(shown[name].encode()).hexdigest()[:16]
    return {**config, "settings": shown}


def differences(old: StackConfig, new: StackConfig) -> list[str]:
    """How the recorded configuration `old` differs from `new`, one phrase per variable."""
    found = [
        f"{label} {old.get(key)} → {new.get(key)}"
        for key, label in (
            ("moto_port", "MOTO_PORT"),
            ("lambda_port", "LAMBDA_PORT"),
            ("oidc_port", PORT_VAR),
            ("iam_throttle_rps", THROTTLE_VAR),
            ("scope", SCOPE_VAR),
        )
        if old.get(key) != new.get(key)
    ]
    if old.get("organization") != new.get("organization"):
        found.append(f"the organisation {_described(old.get('organization'))} → {_described(new.get('organization'))}")
    old_strict, new_strict = old.get("strict", {}), new.get("strict", {})
    found += [
        f"{name} {old_strict.get(name)} → {new_strict.get(name)}"
        for name in STRICT_VARS
        if old_strict.get(name) != new_strict.get(name)
    ]
    old_settings, new_settings = old.get("settings", {}), new.get("settings", {})
    # KEYWARD_SCOPE is the stack's scope, said above once.
    for name in sorted((set(old_settings) | set(new_settings)) - {SCOPE_VAR}):
        if old_settings.get(name) != new_settings.get(name):
            if name in SECRET_VARS:
                found.append(f"{name} changed")
            else:
                found.append(f"{name} {old_settings.get(name, '(unset)')} → {new_settings.get(name, '(unset)')}")
    return found


def _described(organization: Organization | None) -> str:
    if organization is None:
        return "(none)"
    return (
        f"{organization['members']} member accounts with roles {organization['read_role']},"
        f" {organization['write_role']}"
    )


def no_proxy() -> dict[str, str]:
    """NO_PROXY (both spellings) with 127.0.0.1 and localhost added: the stack talks to itself."""
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    value = ",".join(filter(None, [current, "127.0.0.1", "localhost"]))
    return {"NO_PROXY": value, "no_proxy": value}


def stack_env(
    config: StackConfig,
    include_ports: bool = True,
    state_machine_arn: str | None = None,
    org_accounts: Sequence[str] = (),
) -> dict[str, str]:
    """The variables of target/local-stack/env: moto's endpoint, test credentials and the stack's
    resources (and, with `include_ports`, the ports, the sign-in settings and the scope: under
    `organization`, the member accounts `org_accounts` and the member roles' names)."""
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{config['moto_port']}",
        "AWS_REGION": REGION,
        # boto3 and the AWS CLI read the region from AWS_DEFAULT_REGION only.
        "AWS_DEFAULT_REGION": REGION,
        **CREDENTIALS,
    }
    if state_machine_arn:
        env["KEYWARD_STATE_MACHINE_ARN"] = state_machine_arn
    env.update(
        {
            "KEYWARD_REPORT_BUCKET": BUCKET,
            "KEYWARD_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}",
            "KEYWARD_APPROVALS_TABLE": TABLE,
            "KEYWARD_DECISIONS_TABLE": DECISIONS_TABLE,
            "KEYWARD_APPROVAL_BASE_URL": f"http://127.0.0.1:{config['lambda_port']}/lambda-url/approval",
        }
    )
    if include_ports:
        env["MOTO_PORT"] = str(config["moto_port"])
        env["LAMBDA_PORT"] = str(config["lambda_port"])
        # How an approver signs in, for the tests and the demo (the client secret is not here).
        env.update({k: v for k, v in config["settings"].items() if k in SIGN_IN_VARS})
        if config["oidc_port"] is not None:
            env[PORT_VAR] = str(config["oidc_port"])
        env[SCOPE_VAR] = config["scope"]
        organization = config["organization"]
        if organization is not None:
            env[ORG_ACCOUNTS_VAR] = ",".join(org_accounts)
            env[MEMBER_READ_ROLE_VAR] = organization["read_role"]
            env[MEMBER_WRITE_ROLE_VAR] = organization["write_role"]
    return env


def function_env(config: StackConfig, secret_arn: str | None) -> dict[str, str]:
    """The environment of cargo lambda watch, inherited by every function it starts: the stack's
    resources, moto's endpoint, the file of the functions' role credentials (each function reads its
    own profile: keyward_local.roles), the configuration given at `up` without its secrets, and
    KEYWARD_SECRET_ARN, keyward's secret, when there is one. No static key: with one, the SDK would
    never read the profile. AWS_* variables of the caller's shell (profiles, real credentials) are
    dropped."""
    dropped = set(CONFIG_VARS) | {THROTTLE_VAR, PORT_VAR} | set(STRICT_VARS) | set(ORG_VARS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in dropped}
    env.update(stack_env(config, include_ports=False))
    for variable in CREDENTIALS:
        del env[variable]
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": str(CREDENTIALS_FILE),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.update({k: v for k, v in config["settings"].items() if k not in SECRET_VARS})
    env[SCOPE_VAR] = config["scope"]
    if secret_arn:
        env["KEYWARD_SECRET_ARN"] = secret_arn
    env.update(no_proxy())
    return env
