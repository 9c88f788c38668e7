"""The emulator's WSGI application and its `main`: the /_keyward/ test hooks, then the SNS Publish
and S3 PutObject faults and the IAM gate (count, maybe throttle), then moto's own server; and, in a second server
thread of the same process, the Function URL front on LAMBDA_PORT (`function_url`). Started by `up` as
`python -m keyward_local.emulator.app --port … --lambda-port … --watch-port …`."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from types import FrameType
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import moto
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from keyward_local.emulator.faults import FAULTS, HookError
from keyward_local.emulator.forward import FORWARD_GRACE_SECONDS, LambdaForwarder
from keyward_local.emulator.function_url import FunctionUrlFront
from keyward_local.emulator.hooks import Hooks
from keyward_local.emulator.iam_auth import enforce_policies, remember_form_body
from keyward_local.emulator.iam_strict import IamStrict
from keyward_local.emulator.moto_patches import patch_credential_report, patch_moto_lambda
from keyward_local.emulator.org_strict import install as install_organizations
from keyward_local.emulator.sns_confirm import patch_sns_confirmation
from keyward_local.emulator.throttle import IamGate

LOG = logging.getLogger("keyward.local-stack")

#: How often the servers look for a shutdown (socketserver's default is 0.5 s): `down` waits for it.
SHUTDOWN_POLL_SECONDS = 0.1
#: The module of moto's Step Functions engine (execute_state_machine), loaded at its first request.
STEP_FUNCTIONS_ENGINE = "moto.stepfunctions.parser.models"

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

S3_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Error><Code>{code}</Code><Message>injected fault</Message><RequestId>{request_id}</RequestId></Error>"
)

#: The HTTP status S3 answers an injected error code with (500 for the others).
S3_ERROR_STATUS = {
    "AccessDenied": HTTPStatus.FORBIDDEN,
    "SlowDown": HTTPStatus.SERVICE_UNAVAILABLE,
    "ServiceUnavailable": HTTPStatus.SERVICE_UNAVAILABLE,
}

#: The HTTP status SNS answers an error code with (400 for the others).
SNS_ERROR_STATUS = {
    "InternalError": HTTPStatus.INTERNAL_SERVER_ERROR,
    "AuthorizationError": HTTPStatus.FORBIDDEN,
    "Throttled": HTTPStatus.TOO_MANY_REQUESTS,
}


def query_operation(environ: WSGIEnvironment, wanted: str) -> str | None:
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


def s3_put_object_key(environ: WSGIEnvironment) -> str | None:
    """The object key of an S3 PutObject (a path-style `PUT /bucket/key` signed for s3, without
    `?partNumber` or other sub-resource), else None."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if (match.group(1) if match else None) != "s3" or environ.get("REQUEST_METHOD") != "PUT":
        return None
    if environ.get("QUERY_STRING") and "x-id=PutObject" not in environ["QUERY_STRING"]:
        return None
    bucket, _, key = environ.get("PATH_INFO", "").lstrip("/").partition("/")
    return key if bucket and key else None


def _form_body(environ: WSGIEnvironment) -> bytes:
    """The body of a form-encoded request (read and restored), else b""."""
    if "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return b""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _xml_error(start_response: StartResponse, status: HTTPStatus, body: bytes, request_id: str) -> Iterable[bytes]:
    start_response(
        f"{status.value} {status.phrase}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)],
    )
    return [body]


class KeywardApp:
    """WSGI: the /_keyward/ test hooks, then the IAM gate (count, maybe throttle), then moto."""

    def __init__(self, moto_app: WSGIApplication, gate: IamGate, hooks: Hooks):
        self.moto_app = moto_app
        self.gate = gate
        self.hooks = hooks

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_keyward/"):
            return self.hook(environ, start_response, path, environ.get("REQUEST_METHOD", "GET"))
        remember_form_body(_form_body(environ))
        if query_operation(environ, "sns") == "Publish" and (error := FAULTS.take("sns:Publish")):
            LOG.info("sns Publish: injected %s", error)
            request_id = str(uuid.uuid4())
            body = SNS_ERROR_XML.format(code=error, request_id=request_id).encode("utf-8")
            return _xml_error(start_response, SNS_ERROR_STATUS.get(error, HTTPStatus.BAD_REQUEST), body, request_id)
        if (key := s3_put_object_key(environ)) is not None and (error := FAULTS.take("s3:PutObject", key.encode())):
            LOG.info("s3 PutObject %s: injected %s", key, error)
            request_id = str(uuid.uuid4())
            body = S3_ERROR_XML.format(code=error, request_id=request_id).encode("utf-8")
            status = S3_ERROR_STATUS.get(error, HTTPStatus.INTERNAL_SERVER_ERROR)
            return _xml_error(start_response, status, body, request_id)
        operation = query_operation(environ, "iam")
        if operation is not None and not self.gate.admit(operation):
            request_id = str(uuid.uuid4())
            body = THROTTLING_XML.format(request_id=request_id).encode("utf-8")
            return _xml_error(start_response, HTTPStatus.BAD_REQUEST, body, request_id)
        return self.moto_app(environ, start_response)

    def hook(self, environ: WSGIEnvironment, start_response: StartResponse, path: str, method: str) -> Iterable[bytes]:
        """Answers one /_keyward/ request with JSON."""
        status: int
        document: object
        try:
            status, document = self.hooks.route(environ, path, method)
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


def parse_timeouts(text: str) -> dict[str, float]:
    """`name=seconds,...` as a map."""
    timeouts: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, seconds = item.partition("=")
        timeouts[name] = float(seconds)
    return timeouts


def main(argv: list[str] | None = None) -> int:
    """Serves the emulator on 127.0.0.1 until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="The local stack's AWS emulator (keyward_local.emulator).")
    parser.add_argument("--port", type=int, required=True, help="moto's port (MOTO_PORT)")
    parser.add_argument("--lambda-port", type=int, required=True, help="the Function URL front's port (LAMBDA_PORT)")
    parser.add_argument("--watch-port", type=int, required=True, help="cargo lambda watch's port (LAMBDA_PORT+1)")
    parser.add_argument("--function-urls", default="", help="function,...: those with a Function URL")
    parser.add_argument("--iam-throttle-rps", type=float, default=None, help="throttle IAM beyond N requests/s")
    parser.add_argument("--iam-read-lag-seconds", type=float, default=0.0, help="reads lag UpdateAccessKey by N s")
    parser.add_argument("--credential-report-delay-seconds", type=float, default=0.0, help="report takes N s")
    parser.add_argument("--iam-page-items", type=int, default=0, help="IAM pages hold at most N items (0: MaxItems)")
    parser.add_argument("--function-timeouts", default="", help="name=seconds,... (template.yaml Timeout)")
    parser.add_argument("--default-timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    # moto's Step Functions engine calls Lambda and S3 back through http://localhost:$MOTO_PORT
    # (moto/stepfunctions/parser/asl/utils/boto_client.py reads it at each call).
    os.environ["MOTO_PORT"] = str(args.port)

    # The same as POST /moto-api/config: run state machines for real, and no docker for Lambda.
    moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    timeouts = parse_timeouts(args.function_timeouts)
    forwarder = LambdaForwarder(args.watch_port, timeouts, args.default_timeout)
    patch_moto_lambda(forwarder)
    patch_credential_report()
    enforce_policies()
    patch_sns_confirmation()
    strict = IamStrict(args.iam_read_lag_seconds, args.credential_report_delay_seconds, args.iam_page_items)
    strict.install()
    install_organizations()

    gate = IamGate(args.iam_throttle_rps)
    info: dict[str, object] = {
        "service": "keyward-local-stack",
        "pid": os.getpid(),
        "moto_port": args.port,
        "lambda_port": args.lambda_port,
        "watch_port": args.watch_port,
    }
    app = KeywardApp(DomainDispatcherApplication(create_backend_app), gate, Hooks(gate, strict, info))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    # An Invoke API call through the front may last as long as the slowest function.
    proxy_timeout = max(timeouts.values(), default=args.default_timeout) + FORWARD_GRACE_SECONDS
    functions = filter(None, args.function_urls.split(","))
    front_app = FunctionUrlFront(forwarder, args.watch_port, functions, proxy_timeout)
    front = make_server("127.0.0.1", args.lambda_port, front_app, threaded=True)
    threading.Thread(
        target=front.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="function-urls", daemon=True
    ).start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        """Stops serving (from another thread: shutdown waits for serve_forever)."""
        LOG.info("signal %s: stopping", signum)
        threading.Thread(target=front.shutdown, daemon=True).start()
        threading.Thread(target=server.shutdown, daemon=True).start()

    # moto imports its Step Functions engine at the first Step Functions request (over a second):
    # imported now, beside the requests of `up` before it creates the state machine, it is not waited for.
    threading.Thread(target=importlib.import_module, args=(STEP_FUNCTIONS_ENGINE,), name="warm-up", daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info(
        "moto %s on http://127.0.0.1:%s, Function URLs on http://127.0.0.1:%s, Lambda invoke → http://127.0.0.1:%s,"
        " IAM throttle %s, %s",
        moto.__version__,
        args.port,
        args.lambda_port,
        args.watch_port,
        f"{args.iam_throttle_rps}/s" if args.iam_throttle_rps else "off",
        strict.settings(),
    )
    server.serve_forever(poll_interval=SHUTDOWN_POLL_SECONDS)
    return 0


if __name__ == "__main__":
    code = main()
    # The emulator's state lives in memory only and ends with it: the interpreter's teardown of moto's
    # modules (most of a second of CPU, which `down` waits for) has nothing to save. The logs are.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
