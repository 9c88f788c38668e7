"""The emulator's Function URL front (keyward_local.emulator.function_url): the event it builds is the
one AWS's "Invoking Lambda function URLs" page describes (payload format 2.0), the function's result
becomes the HTTP response AWS makes of it, and the rest of LAMBDA_PORT reaches cargo lambda unchanged.
The front is served by a real werkzeug server on a free port, so the request is read as the local
stack reads it; the function is a stand-in that records its event and answers what the test says."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from keyward_local.emulator.forward import LambdaForwarder, LambdaServiceError
from keyward_local.emulator.function_url import (
    BAD_GATEWAY,
    MAX_PAYLOAD_BYTES,
    REQUESTS,
    FunctionUrlFront,
    HttpRequest,
    function_url_event,
    http_response,
    url_id,
)
from werkzeug.serving import BaseWSGIServer, make_server

NOW = dt.datetime(2026, 11, 21, 7, 10, 0, 123000, tzinfo=dt.timezone.utc)


def request(
    target: str, method: str = "GET", headers: list[tuple[str, str]] | None = None, body: bytes = b""
) -> HttpRequest:
    return HttpRequest(method, target, headers or [], body, "127.0.0.1", "HTTP/1.1", "9000")


# -- the event -------------------------------------------------------------------------------------


def test_the_event_has_payload_format_2_0_with_the_path_as_typed() -> None:
    event = function_url_event("approval", request("//approvals/a%2Fb/./x?z=1"), NOW, "req-1")

    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "//approvals/a%2Fb/./x", "no normalisation, no decoding"
    assert event["rawQueryString"] == "z=1"
    context = event["requestContext"]
    assert isinstance(context, dict)
    identifier = url_id("approval")
    assert len(identifier) == 32 and identifier.isalnum() and identifier == identifier.lower()
    assert context == {
        "accountId": "anonymous",
        "apiId": identifier,
        "domainName": f"{identifier}.lambda-url.us-east-1.on.aws",
        "domainPrefix": identifier,
        "http": {
            "method": "GET",
            "path": "//approvals/a%2Fb/./x",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "",
        },
        "requestId": "req-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "21/Nov/2026:07:10:00 +0000",
        "timeEpoch": 1795245000123,
    }


def test_the_root_of_the_url_is_slash_and_a_request_without_query_or_body_has_none() -> None:
    event = function_url_event("approval", request(""), NOW, "r")

    assert event["rawPath"] == "/"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert function_url_event("approval", request("?a=1"), NOW, "r")["rawPath"] == "/"


def test_headers_are_lower_cased_repeated_ones_joined_and_cookies_become_an_array() -> None:
    headers = [
        ("User-Agent", "curl/8.5.0"),
        ("Accept", "text/html"),
        ("accept", "application/json"),
        ("Cookie", "a=1; b=2"),
        ("Connection", "keep-alive"),
    ]

    event = function_url_event("approval", request("/x", headers=headers), NOW, "r")

    sent = event["headers"]
    assert isinstance(sent, dict)
    assert sent["accept"] == "text/html,application/json"
    assert sent["user-agent"] == "curl/8.5.0"
    assert "cookie" not in sent and "connection" not in sent
    assert event["cookies"] == ["a=1", "b=2"]
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-amzn-trace-id"].startswith("Root=1-")
    assert event["requestContext"]["http"]["userAgent"] == "curl/8.5.0"  # type: ignore[index]


def test_query_parameters_are_decoded_with_repeated_keys_comma_joined() -> None:
    event = function_url_event("approval", request("/x?key=A&key=B&name=J%C3%BCrg+X&empty="), NOW, "r")

    assert event["rawQueryString"] == "key=A&key=B&name=J%C3%BCrg+X&empty="
    assert event["queryStringParameters"] == {"key": "A,B", "name": "Jürg X", "empty": ""}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain; charset=utf-8", "application/xml", "application/problem+json", "TEXT/HTML"],
)
def test_a_text_body_arrives_as_it_was_sent(content_type: str) -> None:
    event = function_url_event(
        "f", request("/", "POST", [("Content-Type", content_type)], b'{"a": "\xc3\xa9"}'), NOW, "r"
    )

    assert event["body"] == '{"a": "é"}'
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream", None],
)
def test_a_form_post_and_any_other_body_that_is_not_text_arrives_base64_encoded(content_type: str | None) -> None:
    headers = [("Content-Type", content_type)] if content_type else []

    event = function_url_event("f", request("/", "POST", headers, b"token=t&decision=approve"), NOW, "r")

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(str(event["body"])) == b"token=t&decision=approve"


def test_a_text_content_type_with_bytes_that_are_not_utf8_is_base64_encoded() -> None:
    event = function_url_event("f", request("/", "POST", [("content-type", "text/plain")], b"\xff\xfe"), NOW, "r")

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(str(event["body"])) == b"\xff\xfe"


# -- the response ----------------------------------------------------------------------------------


def test_a_structured_response_gives_its_status_headers_cookies_and_body() -> None:
    payload = {
        "statusCode": 201,
        "headers": {"content-type": "text/html", "x-frame-options": "DENY", "content-length": "999"},
        "cookies": ["a=1; Secure", "b=2"],
        "body": "<p>hi</p>",
        "isBase64Encoded": False,
    }

    response = http_response(json.dumps(payload).encode())

    assert response.status == 201
    assert response.headers == [
        ("content-type", "text/html"),
        ("x-frame-options", "DENY"),
        ("set-cookie", "a=1; Secure"),
        ("set-cookie", "b=2"),
    ], "Lambda sets content-length itself"
    assert response.body == b"<p>hi</p>"


def test_a_base64_body_is_decoded_and_a_missing_body_is_empty() -> None:
    encoded = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    assert http_response(json.dumps(encoded).encode()).body == b"\x00\x01"
    assert http_response(b'{"statusCode": 204}').body == b""


@pytest.mark.parametrize("payload", [b'"Hello, world!"', b'{"message": "Hello, world!"}', b"[1, 2]", b"3"])
def test_json_without_a_status_code_is_the_body_of_a_200_json_answer(payload: bytes) -> None:
    response = http_response(payload)

    assert (response.status, response.headers, response.body) == (200, [("content-type", "application/json")], payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"statusCode": "200"}',
        b'{"statusCode": 42}',
        b'{"statusCode": true}',
        b'{"statusCode": 200, "body": {"a": 1}}',
        b'{"statusCode": 200, "body": "***", "isBase64Encoded": true}',
        b'{"statusCode": 200, "headers": ["x"]}',
        b'{"statusCode": 200, "cookies": [1]}',
        b'{"statusCode": 200, "headers": {"x": "a\\r\\nset-cookie: evil"}}',
    ],
)
def test_a_result_lambda_cannot_turn_into_a_response_is_a_502(payload: bytes) -> None:
    assert http_response(payload) is BAD_GATEWAY


# -- the front, served ----------------------------------------------------------------------------


class StandIn(LambdaForwarder):
    """The function behind the front: records each payload and answers `answer`."""

    def __init__(self, answer: bytes, error: str | None = None, fails: bool = False):
        super().__init__(1, {}, 1.0)
        self.answer, self.error, self.fails = answer, error, fails
        self.payloads: list[dict[str, object]] = []

    def invoke(
        self,
        function_name: str,
        body: object,
        headers: Mapping[str, str] | None,
        response_headers: MutableMapping[str, str],
    ) -> bytes:
        assert isinstance(body, bytes)
        self.payloads.append(json.loads(body))
        if self.fails:
            raise LambdaServiceError("cargo lambda watch does not answer")
        if self.error:
            response_headers["x-amz-function-error"] = self.error
        return self.answer


class Echo(BaseHTTPRequestHandler):
    """cargo lambda watch as far as the proxy can tell: answers with what it received."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        document = {"method": self.command, "path": self.path, "body": body.decode(), "host": self.headers["host"]}
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("lambda-runtime-aws-request-id", "abc")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def serve(server: BaseWSGIServer | HTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def watch() -> Iterator[int]:
    yield from serve(HTTPServer(("127.0.0.1", 0), Echo))


def front(stand_in: StandIn, watch_port: int = 1) -> Iterator[int]:
    REQUESTS.clear()
    app = FunctionUrlFront(stand_in, watch_port, ["approval"], proxy_timeout=5)
    yield from serve(make_server("127.0.0.1", 0, app, threaded=True))


def send(
    port: int, method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers or []:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


PAGE = json.dumps({"statusCode": 200, "headers": {"content-type": "text/html"}, "cookies": ["s=1"], "body": "ok"})


def test_a_request_on_the_wire_reaches_the_function_as_aws_builds_it() -> None:
    stand_in = StandIn(PAGE.encode())
    for port in front(stand_in):
        headers = [
            ("Accept", "a"),
            ("Accept", "b"),
            ("Cookie", "x=1; y=2"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        answer = send(port, "POST", "/lambda-url/approval//approvals/id%2F1?key=A&key=B", headers, b"decision=reject")

        assert answer.status == 200
        assert answer.getheader("content-type") == "text/html"
        assert answer.getheader("set-cookie") == "s=1"
        assert answer.getheader("x-amzn-RequestId")
        event = stand_in.payloads[0]
        assert event["rawPath"] == "//approvals/id%2F1"
        assert event["rawQueryString"] == "key=A&key=B"
        assert event["queryStringParameters"] == {"key": "A,B"}
        assert event["cookies"] == ["x=1", "y=2"]
        sent = event["headers"]
        assert isinstance(sent, dict)
        assert sent["accept"] == "a,b" and "cookie" not in sent
        assert sent["content-type"] == "application/x-www-form-urlencoded"
        assert all(name == name.lower() for name in sent)
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(str(event["body"])) == b"decision=reject"
        assert REQUESTS.snapshot() == [{"function": "approval", "event": event}]


def test_a_function_without_a_function_url_is_refused_and_not_invoked() -> None:
    stand_in = StandIn(PAGE.encode())
    for port in front(stand_in):
        assert send(port, "GET", "/lambda-url/check-user/").status == 403
        assert send(port, "GET", "/lambda-url/approvalx/approvals/1").status == 403
    assert stand_in.payloads == []


def test_a_request_over_six_megabytes_is_413_and_not_invoked() -> None:
    stand_in = StandIn(PAGE.encode())
    for port in front(stand_in):
        answer = send(
            port, "POST", "/lambda-url/approval/x", [("Content-Type", "text/plain")], b"x" * MAX_PAYLOAD_BYTES
        )
        assert answer.status == 413
        # Base64 makes the event larger than the body: a 5 MB form post does not fit either.
        answer = send(
            port, "POST", "/lambda-url/approval/x", [("Content-Type", "application/octet-stream")], b"x" * (5 << 20)
        )
        assert answer.status == 413
    assert stand_in.payloads == []


@pytest.mark.parametrize("stand_in", [StandIn(b"{}", error="Unhandled"), StandIn(b"", fails=True), StandIn(b"<html>")])
def test_a_failed_function_or_an_unreadable_result_is_a_502(stand_in: StandIn) -> None:
    for port in front(stand_in):
        assert send(port, "GET", "/lambda-url/approval/approvals/1").status == 502


def test_everything_else_reaches_cargo_lambda_unchanged(watch: int) -> None:
    for port in front(StandIn(PAGE.encode()), watch):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/2015-03-31/functions/list-users/invocations", body=b'{"a": 1}')
        answer = connection.getresponse()
        document = json.loads(answer.read())
        connection.close()

    assert answer.status == 200
    assert answer.getheader("lambda-runtime-aws-request-id") == "abc"
    assert document == {
        "method": "POST",
        "path": "/2015-03-31/functions/list-users/invocations",
        "body": '{"a": 1}',
        "host": f"127.0.0.1:{port}",
    }


def test_without_cargo_lambda_the_invoke_api_answers_502() -> None:
    for port in front(StandIn(PAGE.encode()), watch_port=1):
        assert send(port, "POST", "/2015-03-31/functions/list-users/invocations", body=b"{}").status == 502
