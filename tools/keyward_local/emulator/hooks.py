"""The test hooks under /_keyward/ (local stack only): health, key dates on moto's own key objects,
the SNS messages moto recorded, the pending SNS subscriptions' confirmation tokens (`sns_confirm`),
the IAM call counts and throttle, the IAM strictness knobs and the credential report, the injected
faults, the callers of the requests moto authorised (`iam_auth`), the state of an organisation's
account (`org_strict`), and the events of the last Function URL requests."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import TypedDict
from urllib.parse import parse_qs
from wsgiref.types import WSGIEnvironment

from moto.iam.models import AccessKeyLastUsed, iam_backends
from moto.sns.models import sns_backends

from keyward_local.emulator.faults import FAULTS, HookError
from keyward_local.emulator.function_url import REQUESTS
from keyward_local.emulator.iam_auth import PRINCIPALS
from keyward_local.emulator.iam_strict import IamStrict
from keyward_local.emulator.org_strict import set_account_state
from keyward_local.emulator.sns_confirm import pending_confirmations
from keyward_local.emulator.throttle import IamGate
from keyward_local.paths import ACCOUNT_ID, REGION

LOG = logging.getLogger("keyward.local-stack")

#: moto's partition key for IAM backends.
PARTITION = "aws"

KEY_FIELDS = {"account_id", "user", "access_key_id", "created", "last_used", "last_used_service", "last_used_region"}
_ACCOUNT_ID = re.compile(r"\d{12}")


class SnsMessage(TypedDict):
    """One message published to a topic, as GET /_keyward/sns-messages lists it."""

    topic_arn: str
    message_id: str
    subject: str | None
    message: str


def _parse_time(field: str, value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise HookError(400, f"{field} must be an RFC 3339 string such as 2026-01-31T09:00:00Z, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise HookError(400, f"{field}={value!r} is not RFC 3339 (e.g. 2026-01-31T09:00:00Z)") from None
    if parsed.tzinfo is None:
        raise HookError(400, f"{field}={value!r} has no time zone; add Z or an offset such as +00:00")
    # moto keeps naive UTC datetimes; IAM reports whole seconds.
    return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def set_key_dates(document: object) -> dict[str, str | None]:
    """POST /_keyward/keys: sets creation and last use of one access key on moto's own key object, in
    the stack's account or the `account_id` given (a member account of the emulated organisation)."""
    if not isinstance(document, dict):
        raise HookError(400, "the body must be a JSON object with user, access_key_id, created, last_used, ...")
    unknown = sorted(set(document) - KEY_FIELDS)
    if unknown:
        raise HookError(400, f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(KEY_FIELDS))}")
    for field in ("user", "access_key_id"):
        if not isinstance(document.get(field), str) or not document[field]:
            raise HookError(400, f"{field} is required (a non-empty string)")
    account_id = document.get("account_id", ACCOUNT_ID)
    if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
        raise HookError(400, f"account_id must be an account id of 12 digits, got {account_id!r}")
    for field in ("last_used_service", "last_used_region"):
        if field in document and (not isinstance(document[field], str) or not document[field]):
            raise HookError(400, f"{field} must be a non-empty string")
    if not any(field in document for field in ("created", "last_used")):
        raise HookError(400, "nothing to set: give created and/or last_used")

    created = _parse_time("created", document["created"]) if "created" in document else None
    last_used_given = "last_used" in document
    last_used = None
    if last_used_given and document["last_used"] is not None:
        last_used = _parse_time("last_used", document["last_used"])
    elif last_used_given and ("last_used_service" in document or "last_used_region" in document):
        raise HookError(400, "last_used is null: a key never used has no last_used_service or last_used_region")

    backend = iam_backends[account_id][PARTITION]
    user = backend.users.get(document["user"])
    if user is None:
        raise HookError(404, f"no IAM user named {document['user']!r} in account {account_id}")
    key = next((k for k in user.access_keys if k.access_key_id == document["access_key_id"]), None)
    if key is None:
        raise HookError(404, f"user {document['user']!r} has no access key {document['access_key_id']!r}")

    new_created = created if created is not None else key.create_date
    if last_used_given:
        new_last_used = last_used
    else:
        new_last_used = key.last_used.timestamp if key.last_used is not None else None
    if new_last_used is not None and new_last_used < new_created:
        raise HookError(400, f"last_used {_iso(new_last_used)} is before created {_iso(new_created)}")

    key.create_date = new_created
    if last_used_given:
        if last_used is None:
            key.last_used = None
        else:
            previous = key.last_used
            service = document.get("last_used_service") or (previous.service if previous else "s3")
            region = document.get("last_used_region") or (previous.region if previous else REGION)
            key.last_used = AccessKeyLastUsed(timestamp=last_used, service=service, region=region)
    elif key.last_used is not None and ("last_used_service" in document or "last_used_region" in document):
        key.last_used = AccessKeyLastUsed(
            timestamp=key.last_used.timestamp,
            service=document.get("last_used_service", key.last_used.service),
            region=document.get("last_used_region", key.last_used.region),
        )
    return {
        "user": user.name,
        "access_key_id": key.access_key_id,
        "status": key.status,
        "created": _iso(key.create_date),
        "last_used": _iso(key.last_used.timestamp) if key.last_used else None,
        "last_used_service": key.last_used.service if key.last_used else None,
        "last_used_region": key.last_used.region if key.last_used else None,
    }


def sns_messages(topic_arn: str | None) -> list[SnsMessage]:
    """Every message published to the stack's topics (moto keeps them on the topic), oldest first."""
    messages: list[SnsMessage] = []
    for arn, topic in list(sns_backends[ACCOUNT_ID][REGION].topics.items()):
        if topic_arn and arn != topic_arn:
            continue
        for message_id, message, subject, _attributes, _group in list(topic.sent_notifications):
            messages.append({"topic_arn": arn, "message_id": message_id, "subject": subject, "message": message})
    return messages


def read_json(environ: WSGIEnvironment) -> object:
    """The request's JSON body (null when empty)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        document: object = json.loads(raw or b"null")
    except ValueError as error:
        raise HookError(400, f"the body is not JSON: {error}") from None
    return document


class Hooks:
    """Routes /_keyward/* to the hook, with the emulator's IAM gate, its IAM strictness and `info`
    (for health)."""

    def __init__(self, gate: IamGate, strict: IamStrict, info: dict[str, object]):
        self.gate = gate
        self.strict = strict
        self.info = info

    def route(self, environ: WSGIEnvironment, path: str, method: str) -> tuple[int, object]:
        """(HTTP status, JSON document) of one hook request; raises HookError to refuse it."""
        if path == "/_keyward/health" and method == "GET":
            return 200, {**self.info, "iam_throttle_rps": self.gate.rate, **self.strict.settings()}
        if path == "/_keyward/keys":
            if method != "POST":
                raise HookError(405, "use POST /_keyward/keys")
            return 200, set_key_dates(read_json(environ))
        if path == "/_keyward/iam-calls":
            if method == "GET":
                return 200, self.gate.snapshot("calls")
            if method == "DELETE":
                self.gate.reset()
                return 200, {}
            raise HookError(405, "use GET or DELETE /_keyward/iam-calls")
        if path == "/_keyward/sns-messages" and method == "GET":
            return 200, sns_messages(parse_qs(environ.get("QUERY_STRING", "")).get("topic_arn", [None])[0])
        if path == "/_keyward/sns-confirmations" and method == "GET":
            return 200, pending_confirmations()
        if path == "/_keyward/iam-throttled" and method == "GET":
            return 200, self.gate.snapshot("throttled")
        if path == "/_keyward/iam-throttle":
            if method == "GET":
                return 200, {"rps": self.gate.rate}
            if method == "PUT":
                document = read_json(environ)
                rate = document.get("rps") if isinstance(document, dict) else None
                if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
                    raise HookError(400, 'rps must be a number above 0, or null for no throttling: {"rps": 5}')
                self.gate.set_rate(float(rate) if rate is not None else None)
                LOG.info("IAM throttle set to %s requests/s", rate)
                return 200, {"rps": self.gate.rate}
            raise HookError(405, "use GET or PUT /_keyward/iam-throttle")
        if path == "/_keyward/principals":
            if method == "GET":
                return 200, PRINCIPALS.snapshot()
            if method == "DELETE":
                PRINCIPALS.clear()
                return 200, []
            raise HookError(405, "use GET or DELETE /_keyward/principals")
        if path == "/_keyward/iam-strict":
            if method == "GET":
                return 200, self.strict.settings()
            if method == "PUT":
                return 200, self.strict.configure(read_json(environ))
            raise HookError(405, "use GET or PUT /_keyward/iam-strict")
        if path == "/_keyward/org-account-state":
            if method != "PUT":
                raise HookError(405, "use PUT /_keyward/org-account-state")
            return 200, set_account_state(read_json(environ))
        if path == "/_keyward/credential-report" and method == "DELETE":
            self.strict.forget_report()
            return 200, {}
        if path == "/_keyward/faults":
            if method == "GET":
                return 200, FAULTS.snapshot()
            if method == "PUT":
                return 200, FAULTS.add(read_json(environ))
            if method == "DELETE":
                FAULTS.clear()
                return 200, []
            raise HookError(405, "use GET, PUT or DELETE /_keyward/faults")
        if path == "/_keyward/function-url-requests":
            if method == "GET":
                return 200, REQUESTS.snapshot()
            if method == "DELETE":
                REQUESTS.clear()
                return 200, []
            raise HookError(405, "use GET or DELETE /_keyward/function-url-requests")
        raise HookError(404, f"no test hook at {method} {path}")
