#!/usr/bin/env python3
"""The local stack's AWS emulator: moto's server (IAM, S3, SNS, DynamoDB, Step Functions) on 127.0.0.1,
with four additions. Started and stopped by scripts/local-stack; see DESIGN.md section 6.

1. Lambda invoke goes to `cargo lambda watch`. moto cannot run Rust functions, so its Lambda backend's
   invoke is replaced by an HTTP forward to cargo lambda's Invoke API
   (POST /2015-03-31/functions/<name>/invocations). Direct Invoke calls and the state machine's
   lambda:invoke / lambda:invoke.waitForTaskToken tasks both land there (moto's Step Functions engine
   calls Lambda through this same server). A function error comes back as a Lambda function error
   (X-Amz-Function-Error + {errorType, errorMessage}), so the ASL's Retry/Catch see the error name.
2. The test hook POST /_keyward/keys sets a key's creation and last-use on moto's own key object, so
   ListAccessKeys, GetAccessKeyLastUsed and the credential report agree.
3. IAM throttling: with --iam-throttle-rps N, IAM requests beyond N per second are answered like AWS
   does (HTTP 400, Query-protocol XML error `Throttling`).
4. IAM calls are counted per operation: GET /_keyward/iam-calls (DELETE resets), and the throttled
   ones on GET /_keyward/iam-throttled; PUT /_keyward/iam-throttle {"rps": N|null} changes the rate.
5. Injected failures, for the fault tests: PUT /_keyward/faults {"target": "lambda:check-user" |
   "sns:Publish", "count": N or null (until cleared), "after": N (let N pass first), "match": "text"
   (only invocations whose payload holds it), "error": a function error name, "Lambda.ServiceException"
   (Lambda's own HTTP 500), or for SNS an error code such as "AuthorizationError" (HTTP 403)};
   GET lists them with how many were injected, DELETE clears them.
Also GET /_keyward/sns-messages (every message published, e.g. the approval link) and
GET /_keyward/health (who is listening). All of /_keyward/ exists only in the local stack.

moto itself is patched in four places, at import time, never on disk: LambdaBackend.invoke /
LambdaSimpleBackend.invoke / LambdaFunction.invoke (the forward, 1.); User.to_csv (the credential
report's last-used region and service, which moto leaves `not_supported`); IamResponse.get_credential_report
(the report's GeneratedTime, which moto fixes at 2015-02-02); LambdaFunction.docker_client
(raises AttributeError instead of trying Docker, so GET /moto-api/data.json works without Docker).

Nothing here logs a payload: state machine payloads carry task tokens.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, quote

LOG = logging.getLogger("keyward.local-stack")

#: The account every local-stack request lands in (moto's default; the stack's test credentials map to it).
ACCOUNT_ID = "123456789012"
#: The stack's only region.
REGION = "us-east-1"
#: moto's partition key for IAM backends.
PARTITION = "aws"
#: Added to a function's own timeout before the forward gives up (cargo lambda's queueing, process start).
FORWARD_GRACE_SECONDS = 5.0


# --------------------------------------------------------------------------------------------------
# Lambda invoke → cargo lambda watch


class LambdaForwarder:
    """Sends an invocation to cargo lambda watch and maps its answer onto the Lambda Invoke API."""

    def __init__(self, lambda_port: int, timeouts: dict[str, float], default_timeout: float):
        self.base = f"http://127.0.0.1:{lambda_port}/2015-03-31/functions"
        self.timeouts = timeouts
        self.default_timeout = default_timeout
        # Never through a proxy: both ends are on this machine.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def invoke(self, function_name: str, body: Any, headers: Any, response_headers: dict[str, Any]) -> bytes:
        payload = _as_bytes(body)
        invocation_type = (headers.get("X-Amz-Invocation-Type") if headers is not None else None) or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            threading.Thread(
                target=self._forward_logged, args=(function_name, payload), name=f"event-{function_name}", daemon=True
            ).start()
            return b""
        injected = FAULTS.take(f"lambda:{function_name}", payload)
        if injected == "Lambda.ServiceException":
            LOG.info("invoke %s: injected ServiceException", function_name)
            raise LambdaServiceError(f"injected fault: {function_name} not invoked")
        if injected:
            LOG.info("invoke %s: injected function error %s", function_name, injected)
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload(injected, f"injected fault: {function_name} not invoked")
        function_error, data = self._forward(function_name, payload)
        if function_error:
            response_headers["x-amz-function-error"] = function_error
        return data

    def _forward_logged(self, function_name: str, payload: bytes) -> None:
        try:
            self._forward(function_name, payload)
        except Exception as error:  # an Event invocation has nobody to report to but the log
            LOG.warning("event invoke %s failed: %s", function_name, error)

    def _forward(self, function_name: str, payload: bytes) -> tuple[str | None, bytes]:
        """(function error or None, response payload). Raises LambdaServiceError when cargo lambda
        cannot run the function at all (not listening, unknown binary)."""
        timeout = self.timeouts.get(function_name, self.default_timeout)
        url = f"{self.base}/{quote(function_name, safe='')}/invocations"
        request = urllib.request.Request(url, data=payload, method="POST", headers={"Content-Type": "application/json"})
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=timeout + FORWARD_GRACE_SECONDS) as response:
                status, response_headers, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, response_headers, data = error.code, error.headers, error.read()
        except (TimeoutError, socket.timeout):
            LOG.info("invoke %s: timed out after %.0f s", function_name, timeout)
            return "Unhandled", _error_payload("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LambdaServiceError(
                f"cargo lambda watch does not answer at {self.base} ({reason}); is the local stack up?"
            ) from None
        elapsed = time.monotonic() - started

        explicit = response_headers.get("X-Amz-Function-Error") if response_headers is not None else None
        if 200 <= status < 300 and not explicit:
            LOG.info("invoke %s: ok (%.2f s)", function_name, elapsed)
            return None, data
        if status == 408:
            LOG.info("invoke %s: timed out in cargo lambda (%.2f s)", function_name, elapsed)
            return "Unhandled", _error_payload("Sandbox.Timedout", f"Task timed out after {elapsed:.2f} seconds")
        error_type = _error_type(data)
        if explicit or error_type:
            LOG.info("invoke %s: function error %s (%.2f s)", function_name, error_type or "?", elapsed)
            if error_type is None:
                data = _error_payload("Unhandled", data.decode("utf-8", "replace")[:2000])
            return explicit or "Unhandled", data
        detail = data.decode("utf-8", "replace")[:500]
        LOG.warning("invoke %s: cargo lambda answered HTTP %s: %s", function_name, status, detail)
        raise LambdaServiceError(f"cargo lambda watch answered HTTP {status} for {function_name}: {detail}")


def _as_bytes(body: Any) -> bytes:
    if body is None or body == "" or body == b"":
        return b"{}"
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _error_type(data: bytes) -> str | None:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(document, dict) and isinstance(document.get("errorType"), str):
        return document["errorType"]
    return None


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")


class Faults:
    """Failures injected on purpose (PUT /_keyward/faults): each fault fails the matching requests
    from the `after`+1-th on, `count` times (None: until cleared)."""

    TARGETS = re.compile(r"^(lambda:[A-Za-z0-9_-]+|sns:Publish)$")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[dict[str, Any]] = []

    def add(self, document: Any) -> dict[str, Any]:
        if not isinstance(document, dict) or not self.TARGETS.match(str(document.get("target", ""))):
            raise HookError(
                400,
                'target must be "lambda:<function>" or "sns:Publish": '
                '{"target": "lambda:check-user", "count": 2, "error": "AwsCallFailed"}',
            )
        count, after = document.get("count"), document.get("after", 0)
        for name, value in (("count", count), ("after", after)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise HookError(400, f"{name} must be a whole number (or null for count: until cleared)")
        error = document.get("error") or ("InternalError" if document["target"] == "sns:Publish" else "AwsCallFailed")
        fault = {
            "target": document["target"],
            "count": count,
            "after": after or 0,
            "error": str(error),
            "match": document.get("match"),
            "seen": 0,
            "injected": 0,
        }
        with self.lock:
            self.faults.append(fault)
        LOG.info("fault injected: %s", {k: v for k, v in fault.items() if k not in ("seen", "injected")})
        return fault

    def take(self, target: str, payload: bytes = b"") -> str | None:
        """The error to answer this request with, or None to let it through."""
        with self.lock:
            for fault in self.faults:
                if fault["target"] != target:
                    continue
                if fault["match"] and fault["match"].encode() not in payload:
                    continue
                fault["seen"] += 1
                if fault["seen"] <= fault["after"]:
                    continue
                if fault["count"] is not None and fault["injected"] >= fault["count"]:
                    continue
                fault["injected"] += 1
                return fault["error"]
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(f) for f in self.faults]

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()


FAULTS = Faults()


class LambdaServiceError(Exception):
    """cargo lambda could not run the function: surfaces as Lambda's ServiceException (HTTP 500),
    which the state machine sees as Lambda.ServiceException (and retries)."""


def patch_moto_lambda(forwarder: LambdaForwarder) -> None:
    """Replaces moto's Lambda invoke (docker, or the 'simple' echo backend) with the forward.

    moto/awslambda/models.py: LambdaBackend.invoke (looks the function up, then LambdaFunction.invoke,
    which would start a docker container); moto/awslambda_simple/models.py: LambdaSimpleBackend.invoke
    (used when lambda.use_docker is false: echoes the payload). Both now forward; LambdaFunction.invoke
    (InvokeAsync, event sources) too.
    """
    from moto.awslambda import models as lambda_models
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda_simple import models as simple_models

    class ServiceException(LambdaClientError):
        code = 500

        def __init__(self, message: str):
            super().__init__("ServiceException", message)

    def backend_invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001
        fn = self.get_function(function_name, qualifier)  # raises ResourceNotFoundException
        try:
            payload = forwarder.invoke(fn.function_name, body, headers, response_headers)
        except LambdaServiceError as error:
            raise ServiceException(str(error)) from None
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def function_invoke(self, body, request_headers, response_headers):  # noqa: ANN001
        try:
            return forwarder.invoke(self.function_name, body, request_headers, response_headers)
        except LambdaServiceError as error:
            raise ServiceException(str(error)) from None

    def no_docker(self):  # noqa: ANN001
        raise AttributeError("the local stack has no Docker: Lambda invocations go to cargo lambda watch")

    lambda_models.LambdaBackend.invoke = backend_invoke
    simple_models.LambdaSimpleBackend.invoke = backend_invoke
    lambda_models.LambdaFunction.invoke = function_invoke
    # GET /moto-api/data.json reads every public attribute of every model (moto/moto_api/_internal/
    # responses.py, model_data) and skips only TypeError/AttributeError/ValueError; a function's
    # `docker_client` (moto/utilities/docker_utilities.py, DockerModel) connects to Docker and raises
    # DockerException without one, failing the whole dump with HTTP 500.
    lambda_models.LambdaFunction.docker_client = property(no_docker)


# --------------------------------------------------------------------------------------------------
# IAM: the credential report, the test hook


def patch_credential_report() -> None:
    """moto writes `not_supported` in access_key_N_last_used_region/_service of the credential report
    (moto/iam/models.py, User.to_csv); AWS writes the region and service of the last use, or N/A.
    Fill them from the key's own last-use record so the report agrees with GetAccessKeyLastUsed."""
    from moto.iam import models as iam_models

    original = iam_models.User.to_csv
    # Negative indexes: a user name may contain a comma, the 20 columns after name and arn are fixed.
    slots = ((-11, -10), (-6, -5))  # (last_used_region, last_used_service) of key 1 and key 2

    def to_csv(self) -> str:  # noqa: ANN001
        fields = original(self).rstrip("\n").split(",")
        for index, (region_at, service_at) in enumerate(slots):
            key = self.access_keys[index] if index < len(self.access_keys) else None
            last_used = key.last_used if key is not None else None
            if last_used is None:
                fields[region_at], fields[service_at] = "N/A", "N/A"
            else:
                fields[region_at], fields[service_at] = last_used.region, last_used.service
        return ",".join(fields) + "\n"

    iam_models.User.to_csv = to_csv

    # moto answers GetCredentialReport with a fixed GeneratedTime of 2015-02-02 (moto/iam/responses.py,
    # IamResponse.get_credential_report); its content is computed now, so say now.
    from moto.iam import responses as iam_responses

    original_get = iam_responses.IamResponse.get_credential_report

    def get_credential_report(self):  # noqa: ANN001
        result = original_get(self)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        result.result["GeneratedTime"] = now
        return result

    iam_responses.IamResponse.get_credential_report = get_credential_report


class HookError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


KEY_FIELDS = {"user", "access_key_id", "created", "last_used", "last_used_service", "last_used_region"}


def _parse_time(field: str, value: Any) -> dt.datetime:
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


def set_key_dates(document: Any) -> dict[str, Any]:
    """The test hook: sets creation and last use of one access key on moto's own key object."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    if not isinstance(document, dict):
        raise HookError(400, "the body must be a JSON object with user, access_key_id, created, last_used, ...")
    unknown = sorted(set(document) - KEY_FIELDS)
    if unknown:
        raise HookError(400, f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(KEY_FIELDS))}")
    for field in ("user", "access_key_id"):
        if not isinstance(document.get(field), str) or not document[field]:
            raise HookError(400, f"{field} is required (a non-empty string)")
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

    backend = iam_backends[ACCOUNT_ID][PARTITION]
    user = backend.users.get(document["user"])
    if user is None:
        raise HookError(404, f"no IAM user named {document['user']!r}")
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


def sns_messages(topic_arn: str | None) -> list[dict[str, Any]]:
    """Every message published to the stack's topics (moto keeps them on the topic), oldest first."""
    from moto.sns.models import sns_backends

    messages = []
    for arn, topic in list(sns_backends[ACCOUNT_ID][REGION].topics.items()):
        if topic_arn and arn != topic_arn:
            continue
        for message_id, message, subject, _attributes, _group in list(topic.sent_notifications):
            messages.append({"topic_arn": arn, "message_id": message_id, "subject": subject, "message": message})
    return messages


# --------------------------------------------------------------------------------------------------
# IAM throttling and call counts


class TokenBucket:
    """`rate` requests per second, bursts up to one second's worth."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")

THROTTLING_XML = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)


SNS_ERROR_XML = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
    "<Error><Type>Receiver</Type><Code>{code}</Code><Message>injected fault</Message></Error>"
    "<RequestId>{request_id}</RequestId></ErrorResponse>"
)

#: The HTTP status SNS answers an error code with (400 for the others).
SNS_ERROR_STATUS = {
    "InternalError": HTTPStatus.INTERNAL_SERVER_ERROR,
    "AuthorizationError": HTTPStatus.FORBIDDEN,
    "Throttled": HTTPStatus.TOO_MANY_REQUESTS,
}


class IamGate:
    """Counts IAM requests per operation and, when a rate is set, throttles them."""

    def __init__(self, rate: float | None):
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.throttled: dict[str, int] = {}
        self.bucket = TokenBucket(rate) if rate else None

    def set_rate(self, rate: float | None) -> None:
        with self.lock:
            self.bucket = TokenBucket(rate) if rate else None

    @property
    def rate(self) -> float | None:
        bucket = self.bucket
        return bucket.rate if bucket else None

    def admit(self, operation: str) -> bool:
        bucket = self.bucket
        allowed = bucket.take() if bucket else True
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            if not allowed:
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
        return allowed

    def snapshot(self, which: str) -> dict[str, int]:
        with self.lock:
            return dict(sorted((self.calls if which == "calls" else self.throttled).items()))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.throttled.clear()


def query_operation(environ: dict[str, Any], wanted: str) -> str | None:
    """The action of a request to service `wanted` ("iam", "sns": Query protocol), or None when the
    request is for another service. Reads and restores the request body."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else None
    host = environ.get("HTTP_HOST", "")
    if service != wanted and not host.startswith(f"{wanted}."):
        return None
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [None])[0]
    if action is None and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
    return action or "Unknown"


# --------------------------------------------------------------------------------------------------
# The WSGI application: /_keyward/* in front of moto


class KeywardApp:
    """WSGI: the /_keyward/ test hooks, then the IAM gate (count, maybe throttle), then moto."""

    def __init__(self, moto_app: Callable, gate: IamGate, info: dict[str, Any]):
        self.moto_app = moto_app
        self.gate = gate
        self.info = info

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_keyward/"):
            return self.hook(environ, start_response, path, environ.get("REQUEST_METHOD", "GET"))
        if query_operation(environ, "sns") == "Publish" and (error := FAULTS.take("sns:Publish")):
            LOG.info("sns Publish: injected %s", error)
            request_id = str(uuid.uuid4())
            body = SNS_ERROR_XML.format(code=error, request_id=request_id).encode("utf-8")
            status = SNS_ERROR_STATUS.get(error, HTTPStatus.BAD_REQUEST)
            start_response(
                f"{status.value} {status.phrase}",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)],
            )
            return [body]
        operation = query_operation(environ, "iam")
        if operation is not None and not self.gate.admit(operation):
            request_id = str(uuid.uuid4())
            body = THROTTLING_XML.format(request_id=request_id).encode("utf-8")
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)],
            )
            return [body]
        return self.moto_app(environ, start_response)

    def hook(self, environ: dict[str, Any], start_response: Callable, path: str, method: str) -> Iterable[bytes]:
        try:
            status, document = self.route(environ, path, method)
        except HookError as error:
            status, document = error.status, {"error": error.message}
        except Exception as error:  # the hook must answer, not drop the connection
            LOG.exception("test hook %s %s failed", method, path)
            status, document = 500, {"error": f"{type(error).__name__}: {error}"}
        body = (json.dumps(document, indent=None) + "\n").encode("utf-8")
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def route(self, environ: dict[str, Any], path: str, method: str) -> tuple[int, Any]:
        if path == "/_keyward/health" and method == "GET":
            return 200, {**self.info, "iam_throttle_rps": self.gate.rate}
        if path == "/_keyward/keys":
            if method != "POST":
                raise HookError(405, "use POST /_keyward/keys")
            return 200, set_key_dates(_read_json(environ))
        if path == "/_keyward/iam-calls":
            if method == "GET":
                return 200, self.gate.snapshot("calls")
            if method == "DELETE":
                self.gate.reset()
                return 200, {}
            raise HookError(405, "use GET or DELETE /_keyward/iam-calls")
        if path == "/_keyward/sns-messages" and method == "GET":
            return 200, sns_messages(parse_qs(environ.get("QUERY_STRING", "")).get("topic_arn", [None])[0])
        if path == "/_keyward/iam-throttled" and method == "GET":
            return 200, self.gate.snapshot("throttled")
        if path == "/_keyward/iam-throttle":
            if method == "GET":
                return 200, {"rps": self.gate.rate}
            if method == "PUT":
                document = _read_json(environ)
                rate = document.get("rps") if isinstance(document, dict) else None
                if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
                    raise HookError(400, 'rps must be a number above 0, or null for no throttling: {"rps": 5}')
                self.gate.set_rate(float(rate) if rate is not None else None)
                LOG.info("IAM throttle set to %s requests/s", rate)
                return 200, {"rps": self.gate.rate}
            raise HookError(405, "use GET or PUT /_keyward/iam-throttle")
        if path == "/_keyward/faults":
            if method == "GET":
                return 200, FAULTS.snapshot()
            if method == "PUT":
                return 200, FAULTS.add(_read_json(environ))
            if method == "DELETE":
                FAULTS.clear()
                return 200, []
            raise HookError(405, "use GET, PUT or DELETE /_keyward/faults")
        raise HookError(404, f"no test hook at {method} {path}")


def _read_json(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw or b"null")
    except ValueError as error:
        raise HookError(400, f"the body is not JSON: {error}") from None


# --------------------------------------------------------------------------------------------------


def parse_timeouts(text: str) -> dict[str, float]:
    timeouts: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, seconds = item.partition("=")
        timeouts[name] = float(seconds)
    return timeouts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="moto's port (MOTO_PORT)")
    parser.add_argument("--lambda-port", type=int, required=True, help="cargo lambda watch's port (LAMBDA_PORT)")
    parser.add_argument("--iam-throttle-rps", type=float, default=None, help="throttle IAM beyond N requests/s")
    parser.add_argument("--function-timeouts", default="", help="name=seconds,... (template.yaml Timeout)")
    parser.add_argument("--default-timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    # moto's Step Functions engine calls Lambda and S3 back through http://localhost:$MOTO_PORT
    # (moto/stepfunctions/parser/asl/utils/boto_client.py).
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    # The same as POST /moto-api/config: run state machines for real, and no docker for Lambda.
    moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    forwarder = LambdaForwarder(args.lambda_port, parse_timeouts(args.function_timeouts), args.default_timeout)
    patch_moto_lambda(forwarder)
    patch_credential_report()

    gate = IamGate(args.iam_throttle_rps)
    info = {
        "service": "keyward-local-stack",
        "pid": os.getpid(),
        "moto_port": args.port,
        "lambda_port": args.lambda_port,
    }
    app = KeywardApp(DomainDispatcherApplication(create_backend_app), gate, info)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, _frame: Any) -> None:
        LOG.info("signal %s: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info(
        "moto %s on http://127.0.0.1:%s, Lambda invoke → http://127.0.0.1:%s, IAM throttle %s",
        _moto_version(),
        args.port,
        args.lambda_port,
        f"{args.iam_throttle_rps}/s" if args.iam_throttle_rps else "off",
    )
    server.serve_forever()
    return 0


def _moto_version() -> str:
    import moto

    return moto.__version__


if __name__ == "__main__":
    sys.exit(main())
