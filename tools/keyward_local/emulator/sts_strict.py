"""STS AssumeRole as strict as AWS (installed by `iam_auth.enforce_policies`): who may assume a role,
with which source identity, and what the session remembers. moto 5.2.5 issues credentials for any role
ARN, existing or not, in any account; it checks a trust policy only when the role is in the caller's
own account, compares principals as plain strings (a session never matches its role's ARN), lets a
statement whose principal does not match deny the whole document, passes any condition whose key the
request lacks or whose operator it does not know, and ignores `SourceIdentity`.

Here an AssumeRole is refused with `AccessDenied` (HTTP 403, `User: <caller> is not authorized to
perform: sts:AssumeRole on resource: <role>`; STS API Reference, AssumeRole, and IAM User Guide,
"Troubleshoot IAM roles"; AWS answers the same for a role that does not exist) unless:

- **the role exists** in the account its ARN names;
- **its trust policy allows the caller** (IAM User Guide, "AWS JSON policy elements: Principal"): an
  IAM role ARN matches that role's sessions, a user ARN that user, an assumed-role ARN that session;
  `arn:aws:iam::<account>:root` or a bare account id matches every principal of that account (the
  root user included); `*` matches everyone; a `Service`, `Federated` or `CanonicalUser` principal
  never matches a user or a role. An explicit `Deny` that matches wins over any `Allow`;
- **its conditions hold** (IAM User Guide, "IAM JSON policy elements: Condition operators"): the
  emulator evaluates `StringEquals`, `StringLike` and `Null` on `aws:PrincipalOrgID`,
  `aws:PrincipalArn`, `aws:PrincipalAccount` and `sts:SourceIdentity`. A missing key fails
  `StringEquals`/`StringLike` and is what `Null: true` asks for. `aws:PrincipalOrgID` is the
  organisation of the caller's account in moto's Organizations (absent outside one); `aws:PrincipalArn`
  of a role session is its role's ARN ("AWS global condition context keys"). Any other operator or key
  is not evaluated: the request is refused (fail closed) and the log names it;
- **the caller's identity policies allow `sts:AssumeRole` on the role ARN** when the role is in another
  account, and in the same account unless the trust policy names the caller itself rather than its
  account (IAM User Guide, "Cross-account policy evaluation logic" and "Policy evaluation logic":
  a trust policy naming the account delegates the decision to the account's identity policies);
  an explicit `Deny` there wins too;
- **a source identity is allowed** ("Monitor and control actions taken with assumed roles"): setting
  one needs `sts:SetSourceIdentity`, evaluated like `sts:AssumeRole` (trust, and identity where the
  above says so). Once a session has one it cannot change: chaining from it keeps it (and so needs
  `sts:SetSourceIdentity` on the next role too), and a different one is refused (`AccessDenied`:
  the guide says the value cannot be changed without naming the error).

A `SourceIdentity` or `RoleSessionName` that breaks the API's constraint (2 to 64 characters of
`[\\w+=,.@-]`; STS API Reference, AssumeRole) is a `ValidationError` (HTTP 400) before any of that
(moto checks only the session name's length), and so, once the caller is allowed, is a
`DurationSeconds` below 900, above the role's MaxSessionDuration, or above one hour when a role
session assumes the role ("Role chaining limits your ... role session to a maximum of one hour",
AssumeRole's DurationSeconds): the Rust SDK sends all three unchecked.

One deliberate difference: AWS never lets the root user assume a role. The local stack's tooling
signs as the account's root (`iam_auth.RootAccessKey`) and assumes the functions' roles and each
member account's `OrganizationAccountAccessRole` that way, so the emulator lets the root user assume
a role, but only one whose trust allows it, and for as long as the API allows (12 hours) whatever the
role's MaxSessionDuration."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from moto.core.exceptions import _RESTError
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends
from moto.organizations.models import organizations_backends
from moto.sts import responses as sts_responses

LOG = logging.getLogger("keyward.local-stack")

#: moto's partition key for IAM and Organizations backends.
PARTITION = "aws"

#: The length bounds of SourceIdentity and RoleSessionName.
NAME_MIN, NAME_MAX = 2, 64
#: DurationSeconds' floor, the ceiling of a session assumed by a role session (role chaining), and
#: the API's own ceiling.
MIN_DURATION_SECONDS, CHAINED_MAX_SECONDS, MAX_DURATION_SECONDS = 900, 3600, 43200
_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", re.ASCII)
_ACCOUNT_ROOT = re.compile(r"arn:aws:iam::(\d{12}):root")

ASSUME_ROLE = "sts:AssumeRole"
SET_NAME = "sts:SetSourceIdentity"

#: The condition operators and keys the trust evaluation knows (lower case: keys are case-insensitive).
OPERATORS = {"StringEquals", "StringLike", "Null"}
CONDITION_KEYS = {"aws:principalorgid", "aws:principalarn", "aws:principalaccount", "sts:sourceidentity"}


#: The namespace of STS's Query API responses, its errors' too.
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"


class StsError(_RESTError):
    """An STS error in the shape STS answers it (the Query protocol's `ErrorResponse` with one
    `Error` of `Type`, `Code`, `Message`, then `RequestId`; AWS STS API Reference, "Common Errors").
    moto's own `_RESTError` wraps the error in an `Errors` element, which boto3 reads but the AWS
    SDK for Rust does not: its error would have no code, and keyward could not tell a refused role
    from any other failure."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)
        self.description = (
            f'<?xml version="1.0" encoding="utf-8"?><ErrorResponse xmlns="{STS_XMLNS}"><Error><Type>Sender</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )


class AssumeRoleDenied(StsError):
    """STS's AccessDenied for an AssumeRole, with the message AWS gives."""

    code = 403

    def __init__(self, caller: str, role_arn: str):
        super().__init__(
            "AccessDenied", f"User: {caller} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
        )


class StsValidationError(StsError):
    """STS's ValidationError (HTTP 400)."""

    code = 400

    def __init__(self, message: str):
        super().__init__("ValidationError", message)


class Unevaluated(Exception):
    """A trust policy element the emulator does not evaluate: the request is refused."""


@dataclass(frozen=True)
class Caller:
    """Who calls AssumeRole: its ARN, its account, and for a role session the role's ARN."""

    arn: str
    account: str
    role_arn: str | None = None

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: a session's role, else the caller itself."""
        return self.role_arn or self.arn


@dataclass(frozen=True)
class Session:
    """What STS remembers of a session it issued."""

    role_arn: str
    source_identity: str | None


class Sessions:
    """The sessions AssumeRole issued, by access key id (moto keeps no source identity)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def add(self, access_key_id: str, session: Session) -> None:
        with self._lock:
            self._sessions[access_key_id] = session

    def get(self, access_key_id: str | None) -> Session | None:
        with self._lock:
            return self._sessions.get(access_key_id) if access_key_id else None

    def source_identity(self, access_key_id: str | None) -> str | None:
        """The source identity of the session behind `access_key_id`, if any."""
        session = self.get(access_key_id)
        return session.source_identity if session else None


SESSIONS = Sessions()


def organization_of(account: str) -> str | None:
    """aws:PrincipalOrgID of a principal of `account`: its organisation's id, None outside one."""
    backend = organizations_backends[account][PARTITION]
    if backend.org is not None:
        return str(backend.org.id)
    management = organizations_backends.master_accounts.get(account)
    if management is None:
        return None
    org = organizations_backends[management[0]][management[1]].org
    return str(org.id) if org is not None else None


def check_name(field: str, value: str) -> None:
    """Raises StsValidationError when `value` breaks the constraint AssumeRole's SourceIdentity and
    RoleSessionName share (2 to 64 characters of `[\\w+=,.@-]`); `field` names it as AWS does."""
    if not NAME_MIN <= len(value) <= NAME_MAX:
        bound = f"greater than or equal to {NAME_MIN}" if len(value) < NAME_MIN else f"less than or equal to {NAME_MAX}"
        raise StsValidationError(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have length {bound}"
        )
    if not _NAME.fullmatch(value):
        raise StsValidationError(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [\w+=,.@-]*"
        )


def check_duration(value: str | None, role_maximum: int, chained: bool) -> None:
    """Raises StsValidationError for a DurationSeconds AWS refuses: below 900, above the role's
    MaxSessionDuration, or above one hour for a session assumed by a role session (role chaining)."""
    if value is None:
        return
    try:
        seconds = int(value)
    except ValueError:
        raise StsValidationError(f"DurationSeconds must be a whole number of seconds, got '{value}'") from None
    if seconds < MIN_DURATION_SECONDS:
        raise StsValidationError(
            f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
        )
    if chained and seconds > CHAINED_MAX_SECONDS:
        raise StsValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    if seconds > role_maximum:
        raise StsValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


def _listed(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise Unevaluated(f"a policy value that is neither a string nor a list of strings: {value!r}")


def _wildcard(pattern: str, text: str, case_sensitive: bool = True) -> bool:
    """IAM's `*` and `?` wildcards (no other character is special)."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, text, 0 if case_sensitive else re.IGNORECASE) is not None


def principal_match(principal: object, caller: Caller) -> str | None:
    """How a trust statement's `Principal` matches `caller`: "caller" (it names the caller itself),
    "account" (its account, or everyone), or None."""
    if principal == "*":
        return "account"
    if not isinstance(principal, dict):
        raise Unevaluated(f"a Principal the emulator does not read: {principal!r}")
    unknown = set(principal) - {"AWS", "Service", "Federated", "CanonicalUser"}
    if unknown:
        raise Unevaluated(f"Principal types {sorted(unknown)}")
    best: str | None = None
    for value in _listed(principal.get("AWS", [])):
        root = _ACCOUNT_ROOT.fullmatch(value)
        if value == "*" or value == caller.account or (root and root.group(1) == caller.account):
            best = best or "account"
        elif value in (caller.arn, caller.role_arn):
            return "caller"
    # Service, Federated and CanonicalUser principals never match a user or a role session.
    return best


def _condition_holds(operator: str, key: str, expected: list[str], context: Mapping[str, str]) -> bool:
    actual = context.get(key)
    if operator == "Null":
        wanted = {value.lower() for value in expected}
        if not wanted <= {"true", "false"}:
            raise Unevaluated(f"Null with {expected!r} (true or false expected)")
        return ("true" if actual is None else "false") in wanted
    if actual is None:
        return False
    if operator == "StringEquals":
        return actual in expected
    return any(_wildcard(pattern, actual) for pattern in expected)


def conditions_hold(condition: object, context: Mapping[str, str]) -> bool:
    """Whether a statement's `Condition` block holds for `context` (lower-case keys): every operator
    and every key must, each key matching any of its values. Unevaluated for what it does not know."""
    if condition is None:
        return True
    if not isinstance(condition, dict):
        raise Unevaluated(f"a Condition that is not an object: {condition!r}")
    for operator, tests in condition.items():
        if operator not in OPERATORS:
            raise Unevaluated(f"condition operator {operator}")
        if not isinstance(tests, dict):
            raise Unevaluated(f"{operator} with {tests!r}")
        for key, expected in tests.items():
            if key.lower() not in CONDITION_KEYS:
                raise Unevaluated(f"condition key {key} (with {operator})")
            if not _condition_holds(operator, key.lower(), _listed(expected), context):
                return False
    return True


@dataclass(frozen=True)
class TrustDecision:
    """A trust policy's answer for one action: denied, or allowed naming the "caller" or its "account",
    or neither (`allowed_by` None)."""

    denied: bool
    allowed_by: str | None


def evaluate_trust(
    document: str | Mapping[str, Any], action: str, caller: Caller, context: Mapping[str, str]
) -> TrustDecision:
    """The trust policy `document` for `action` by `caller`. Raises Unevaluated for what it cannot read."""
    policy = json.loads(document) if isinstance(document, str) else document
    statements = policy.get("Statement") if isinstance(policy, Mapping) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise Unevaluated("a trust policy without statements")
    allowed_by: str | None = None
    for statement in statements:
        if not isinstance(statement, dict):
            raise Unevaluated(f"a statement that is not an object: {statement!r}")
        unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}
        if unknown:
            raise Unevaluated(f"statement elements {sorted(unknown)}")
        if not any(
            _wildcard(pattern, action, case_sensitive=False) for pattern in _listed(statement.get("Action", []))
        ):
            continue
        matched = principal_match(statement.get("Principal"), caller)
        if matched is None or not conditions_hold(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return TrustDecision(denied=True, allowed_by=None)
        if statement.get("Effect") != "Allow":
            raise Unevaluated(f"Effect {statement.get('Effect')!r}")
        allowed_by = "caller" if "caller" in (matched, allowed_by) else "account"
    return TrustDecision(denied=False, allowed_by=allowed_by)


def identity_decision(policies: list[Any], action: str, resource: str) -> str:
    """The caller's identity policies for `action` on `resource`: "deny", "allow" or "none" (moto's
    statement matching, which `iam_auth` corrects for resources)."""
    allowed = False
    for policy in policies:
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return "deny"
        allowed = allowed or result == PermissionResult.PERMITTED
    return "allow" if allowed else "none"


def caller_of(access_key: Any, account: str) -> Caller:
    """The Caller behind one of moto's access-control keys (root, user or role session)."""
    arn = str(access_key.arn)
    session = SESSIONS.get(getattr(access_key, "_access_key_id", None))
    role_name = getattr(access_key, "_owner_role_name", None)
    role_arn = session.role_arn if session else None
    if role_arn is None and role_name is not None:
        role = next((r for r in iam_backends[account][PARTITION].roles.values() if r.name == role_name), None)
        role_arn = role.arn if role is not None else f"arn:aws:iam::{account}:role/{role_name}"
    return Caller(arn=arn, account=account, role_arn=role_arn)


def _param(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None


def assume_role_refusal(access_key: Any, account: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why an AssumeRole request (its form `data`, signed by `access_key` of `account`) is refused, as
    (role ARN, reason), or None when AWS would allow it. Raises StsValidationError for bad input."""
    role_arn = _param(data, "RoleArn") or ""
    check_name("roleSessionName", _param(data, "RoleSessionName") or "")
    requested = _param(data, "SourceIdentity")
    if requested is not None:
        check_name("sourceIdentity", requested)
    inherited = SESSIONS.source_identity(getattr(access_key, "_access_key_id", None))
    if requested is not None and inherited is not None and requested != inherited:
        return role_arn, f"the session's source identity {inherited!r} cannot change to {requested!r}"
    source_identity = requested or inherited

    match = _ROLE_ARN.fullmatch(role_arn)
    role = None
    if match:
        role = next((r for r in iam_backends[match.group(1)][PARTITION].roles.values() if r.arn == role_arn), None)
    if match is None or role is None:
        return role_arn, "no such role"
    caller = caller_of(access_key, account)
    context = {"aws:principalarn": caller.principal_arn, "aws:principalaccount": caller.account}
    if (org := organization_of(caller.account)) is not None:
        context["aws:principalorgid"] = org
    if source_identity is not None:
        context["sts:sourceidentity"] = source_identity

    same_account = match.group(1) == caller.account
    policies = access_key.collect_policies()
    for action in (ASSUME_ROLE, SET_NAME) if source_identity is not None else (ASSUME_ROLE,):
        try:
            trust = evaluate_trust(role.assume_role_policy_document, action, caller, context)
        except Unevaluated as error:
            return role_arn, f"its trust policy uses {error}, which the emulator does not evaluate"
        identity = identity_decision(policies, action, role_arn)
        if trust.denied:
            return role_arn, f"its trust policy denies {action}"
        if identity == "deny":
            return role_arn, f"the caller's policies deny {action}"
        if trust.allowed_by is None:
            return role_arn, f"its trust policy does not allow {action} to the caller"
        if identity != "allow" and not (same_account and trust.allowed_by == "caller"):
            return role_arn, f"the caller's policies do not allow {action} on it"
    # The root user cannot assume a role on AWS at all, so no ceiling of AWS's applies to it: the
    # tooling's sessions (`up` asks 12 hours for each function's role) keep their length.
    ceiling = MAX_DURATION_SECONDS if caller.arn.endswith(":root") else int(role.max_session_duration or 3600)
    check_duration(_param(data, "DurationSeconds"), ceiling, chained=caller.role_arn is not None)
    return None


def install() -> None:
    """AssumeRole remembers each session's role and source identity, and answers `SourceIdentity`."""
    assume_role = sts_responses.TokenResponse.assume_role

    def remembering_assume_role(self: sts_responses.TokenResponse) -> ActionResult:
        """moto's AssumeRole, its session remembered with the source identity it carries."""
        result = assume_role(self)
        content = result.result
        if not isinstance(content, dict):
            return result
        requested = self._get_param("SourceIdentity")
        source_identity = requested or SESSIONS.source_identity(self.get_access_key())
        credentials = content["Credentials"]
        SESSIONS.add(credentials.access_key_id, Session(str(self._get_param("RoleArn")), source_identity))
        if source_identity is not None:
            content["SourceIdentity"] = source_identity
        return result

    sts_responses.TokenResponse.assume_role = remembering_assume_role  # type: ignore[method-assign]
