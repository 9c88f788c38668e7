"""Lambda Function URLs in front of `cargo lambda watch`. The emulator serves LAMBDA_PORT: a request to
`/lambda-url/<function><path>` becomes the event AWS builds for a Function URL request (payload format
2.0, AWS's "Invoking Lambda function URLs" page; docs/local-stack.md, "Function URL requests"), goes
to the function through the Lambda forward, and is answered with the HTTP response AWS makes of the
function's result. Every other request on the port (cargo lambda's Invoke API, which `cargo lambda
invoke -P $LAMBDA_PORT` calls) is passed to cargo lambda watch unchanged. The events of the last
requests are kept for the test hook GET /_keyward/function-url-requests.

Nothing here logs an event or a path: approval paths carry approval ids, form bodies form tokens.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import hashlib
import http.client
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIEnvironment

from keyward_local.emulator.forward import LambdaForwarder, LambdaServiceError
from keyward_local.paths import ACCOUNT_ID, REGION

LOG = logging.getLogger("keyward.local-stack")

#: `/lambda-url/<function>` then the path as the client typed it (possibly empty) and the query.
_FUNCTION_URL = re.compile(r"/lambda-url/([^/?]+)(.*)", re.DOTALL)
#: Lambda's limit on a synchronous invocation's payload: the event, base64 body included.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: How many requests GET /_keyward/function-url-requests shows.
KEPT_REQUESTS = 50
#: Hop-by-hop headers (RFC 9110, 7.6.1) concern one connection: neither passed on nor put in the event.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
#: requestContext.time's month names, independent of the process's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the client sent it."""

    method: str
    #: The request target after `/lambda-url/<function>`: path and query exactly as sent, undecoded.
    target: str
    #: Header names and values in the order received; a repeated header appears once per value.
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str
    port: str


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response: status, headers (repeated ones repeated), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


#: What AWS answers when the function fails or returns what it cannot turn into a response.
BAD_GATEWAY = HttpResponse(HTTPStatus.BAD_GATEWAY, [("content-type", "text/plain")], b"Internal Server Error")


def _json_response(status: HTTPStatus, document: object, *extra: tuple[str, str]) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), *extra], json.dumps(document).encode())


TOO_LARGE = _json_response(
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    {"Message": f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"},
)
NO_FUNCTION_URL = _json_response(
    HTTPStatus.FORBIDDEN, {"Message": "Forbidden"}, ("x-amzn-ErrorType", "AccessDeniedException")
)


def url_id(function: str) -> str:
    """The function's `<url-id>` (32 lower-case letters and digits), stable for the account and name."""
    return hashlib.sha256(f"{ACCOUNT_ID}:{function}".encode()).hexdigest()[:32]


def body_is_text(content_type: str, body: bytes) -> bool:
    """Whether AWS passes `body` as text: its media type is text/*, JSON, XML or JavaScript, and it is
    UTF-8. Everything else, form posts (application/x-www-form-urlencoded) and a body without a
    content type included, arrives base64-encoded."""
    media = content_type.split(";", 1)[0].strip().lower()
    textual = media.startswith("text/") or any(media.endswith(kind) for kind in ("json", "xml", "javascript"))
    if not textual:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status the function chose that has no name
        return "Unknown"


def _request_time(now: dt.datetime) -> str:
    utc = now.astimezone(dt.timezone.utc)
    return f"{utc:%d}/{_MONTHS[utc.month - 1]}/{utc:%Y:%H:%M:%S} +0000"


def function_url_event(function: str, request: HttpRequest, now: dt.datetime, request_id: str) -> dict[str, object]:
    """The event Lambda hands `function` for `request` at `now` (payload format 2.0): the path as typed,
    headers lower-cased with repeated ones comma-joined, cookies as an array and not as a header, the
    query parsed with repeated keys comma-joined, and a body that is not text base64-encoded."""
    raw_path, _, raw_query = request.target.partition("?")
    raw_path = raw_path if raw_path.startswith("/") else "/" + raw_path
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name in HOP_BY_HOP:
            continue
        if name == "cookie":
            cookies += [cookie.strip() for cookie in value.split(";") if cookie.strip()]
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded},{request.source_ip}" if forwarded else request.source_ip
    # The scheme and port this request really came in on (AWS: https, 443; there is no TLS here).
    headers["x-forwarded-proto"] = "http"
    headers["x-forwarded-port"] = request.port
    headers["x-amzn-trace-id"] = f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}"
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    identifier = url_id(function)
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": "anonymous",  # AuthType NONE: no caller identity
        "apiId": identifier,
        "domainName": f"{identifier}.lambda-url.{REGION}.on.aws",
        "domainPrefix": identifier,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if request.body and body_is_text(headers.get("content-type", ""), request.body):
        event["body"] = request.body.decode("utf-8")
        event["isBase64Encoded"] = False
    elif request.body:
        event["body"] = base64.b64encode(request.body).decode("ascii")
        event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def http_response(payload: bytes) -> HttpResponse:
    """The HTTP response AWS makes of a function's result: a JSON object with `statusCode` is a
    structured response (headers, cookies as set-cookie, body, base64 decoded when `isBase64Encoded`);
    any other JSON is the body of a 200 application/json answer; what is not JSON, or a structured
    response that does not hold together, is a 502."""
    try:
        result = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return BAD_GATEWAY
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(HTTPStatus.OK, [("content-type", "application/json")], payload)
    return _structured(result) or BAD_GATEWAY


def _structured(result: dict[str, object]) -> HttpResponse | None:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    given = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(given, dict) or not isinstance(cookies, list):
        return None
    headers = [(str(name), value if isinstance(value, str) else json.dumps(value)) for name, value in given.items()]
    if not all(isinstance(cookie, str) for cookie in cookies):
        return None
    # Lambda sets the length itself; a header that would end the header block is not one.
    headers = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP | {"content-length"}]
    headers += [("set-cookie", cookie) for cookie in cookies]
    if any("\r" in text or "\n" in text for header in headers for text in header):
        return None
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        return None
    elif result.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    else:
        data = body.encode("utf-8")
    return HttpResponse(status, headers, data)


class RecentRequests:
    """The events of the last KEPT_REQUESTS Function URL requests, oldest first (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: collections.deque[dict[str, object]] = collections.deque(maxlen=KEPT_REQUESTS)

    def add(self, function: str, event: dict[str, object]) -> None:
        """Keeps one request's event."""
        with self._lock:
            self._events.append({"function": function, "event": event})

    def snapshot(self) -> list[dict[str, object]]:
        """{"function", "event"} of each kept request, oldest first."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forgets every kept request."""
        with self._lock:
            self._events.clear()


#: The emulator's kept requests (one front per process).
REQUESTS = RecentRequests()


def request_target(environ: WSGIEnvironment) -> str:
    """The request target exactly as sent. werkzeug's server gives it as RAW_URI, decoded byte for byte
    as latin-1 and then put through WSGI's UTF-8-as-latin-1 encoding: both are undone here."""
    raw = str(environ.get("RAW_URI") or environ.get("PATH_INFO", "/"))
    return raw.encode("latin-1").decode("utf-8", "replace").encode("latin-1", "replace").decode("utf-8", "replace")


def request_headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    """The request's headers, names lower-cased (werkzeug has comma-joined repeated ones already)."""
    found = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key
        else:
            continue
        # http.server read the header as latin-1: its bytes are UTF-8.
        text = str(value).encode("latin-1", "replace").decode("utf-8", "replace")
        found.append((name.lower().replace("_", "-"), text))
    return found


def read_body(environ: WSGIEnvironment, limit: int | None) -> bytes | None:
    """The request body, or None when it is longer than `limit`. A body over the limit is read to its
    end all the same (and dropped), so the client, still sending, gets the answer."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: no length to check first
        data: bytes = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:
            while stream.read(1 << 20):
                pass
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if limit is not None and length > limit:
            while length > 0 and (chunk := stream.read(min(length, 1 << 20))):
                length -= len(chunk)
            return None
        data = stream.read(length) if length > 0 else b""
    return None if limit is not None and len(data) > limit else data


class FunctionUrlFront:
    """WSGI on LAMBDA_PORT: the Function URLs of `functions`; everything else to cargo lambda watch."""

    def __init__(self, forwarder: LambdaForwarder, watch_port: int, functions: Iterable[str], proxy_timeout: float):
        self.forwarder = forwarder
        self.watch_port = watch_port
        self.functions = frozenset(functions)
        self.proxy_timeout = proxy_timeout

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = request_target(environ)
        match = _FUNCTION_URL.fullmatch(target)
        response = self.function_url(environ, match.group(1), match.group(2)) if match else self.proxy(environ, target)
        headers = [*response.headers, ("content-length", str(len(response.body)))]
        start_response(f"{response.status} {_phrase(response.status)}", headers)
        return [response.body]

    def function_url(self, environ: WSGIEnvironment, function: str, target: str) -> HttpResponse:
        """One Function URL request to `function`, `target` being what follows `/lambda-url/<function>`."""
        if function not in self.functions:
            return NO_FUNCTION_URL
        body = read_body(environ, MAX_PAYLOAD_BYTES)
        if body is None:
            return TOO_LARGE
        request = HttpRequest(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            target=target,
            headers=request_headers(environ),
            body=body,
            source_ip=str(environ.get("REMOTE_ADDR", "")),
            protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            port=str(environ.get("SERVER_PORT", "")),
        )
        request_id = str(uuid.uuid4())
        event = function_url_event(function, request, dt.datetime.now(dt.timezone.utc), request_id)
        payload = json.dumps(event).encode("utf-8")
        if len(payload) > MAX_PAYLOAD_BYTES:
            return TOO_LARGE
        REQUESTS.add(function, event)
        flags: dict[str, str] = {}
        try:
            result = self.forwarder.invoke(function, payload, None, flags)
        except LambdaServiceError as error:
            LOG.warning("function URL of %s: %s", function, error)
            return BAD_GATEWAY
        if "x-amz-function-error" in flags:
            LOG.info("function URL of %s: the function failed, answering 502", function)
            return BAD_GATEWAY
        response = http_response(result)
        if response is BAD_GATEWAY:
            LOG.warning("function URL of %s: the function's result is not a response Lambda can send", function)
            return response
        return HttpResponse(response.status, [*response.headers, ("x-amzn-RequestId", request_id)], response.body)

    def proxy(self, environ: WSGIEnvironment, target: str) -> HttpResponse:
        """Passes the request to cargo lambda watch and its answer back, unchanged."""
        body = read_body(environ, None) or b""
        headers = {n: v for n, v in request_headers(environ) if n not in HOP_BY_HOP and n != "content-length"}
        connection = http.client.HTTPConnection("127.0.0.1", self.watch_port, timeout=self.proxy_timeout)
        try:
            connection.request(str(environ.get("REQUEST_METHOD", "GET")), target, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as error:
            message = f"cargo lambda watch does not answer on 127.0.0.1:{self.watch_port}: {error}\n"
            return HttpResponse(
                HTTPStatus.BAD_GATEWAY, [("content-type", "text/plain; charset=utf-8")], message.encode()
            )
        finally:
            connection.close()
        kept = [(n, v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP and n.lower() != "content-length"]
        return HttpResponse(answer.status, kept, data)
