"""Lambda invoke → `cargo lambda watch`: sends an invocation to cargo lambda's Invoke API and maps its
answer onto the Lambda Invoke API (payload, X-Amz-Function-Error, timeouts), with the faults injected
for `lambda:<function>` applied first."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping
from urllib.parse import quote

from keyward_local.emulator.faults import FAULTS

LOG = logging.getLogger("keyward.local-stack")

#: Added to a function's own timeout before the forward gives up (cargo lambda's queueing, process start).
FORWARD_GRACE_SECONDS = 5.0


class LambdaServiceError(Exception):
    """cargo lambda could not run the function: surfaces as Lambda's ServiceException (HTTP 500),
    which the state machine sees as Lambda.ServiceException (and retries)."""


class LambdaForwarder:
    """Sends an invocation to cargo lambda watch and maps its answer onto the Lambda Invoke API."""

    def __init__(self, watch_port: int, timeouts: dict[str, float], default_timeout: float):
        self.base = f"http://127.0.0.1:{watch_port}/2015-03-31/functions"
        self.timeouts = timeouts
        self.default_timeout = default_timeout
        # Never through a proxy: both ends are on this machine.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def invoke(
        self,
        function_name: str,
        body: object,
        headers: Mapping[str, str] | None,
        response_headers: MutableMapping[str, str],
    ) -> bytes:
        """The response payload of one invocation; a function error is flagged in `response_headers`."""
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
                status, explicit, data = response.status, response.headers.get("X-Amz-Function-Error"), response.read()
        except urllib.error.HTTPError as error:
            explicit = error.headers.get("X-Amz-Function-Error") if error.headers is not None else None
            status, data = error.code, error.read()
        except (TimeoutError, socket.timeout):
            LOG.info("invoke %s: timed out after %.0f s", function_name, timeout)
            return "Unhandled", _error_payload("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LambdaServiceError(
                f"cargo lambda watch does not answer at {self.base} ({reason}); is the local stack up?"
            ) from None
        elapsed = time.monotonic() - started

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


def _as_bytes(body: object) -> bytes:
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
        error_type: str = document["errorType"]
        return error_type
    return None


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")
