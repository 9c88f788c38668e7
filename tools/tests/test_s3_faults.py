"""The emulator's S3 PutObject fault (keyward_local.emulator): which requests are a PutObject and of
which object key, and a fault that fails only the writes whose key contains its `match`, from the
`after`+1-th on."""

from __future__ import annotations

from keyward_local.emulator.app import s3_put_object_key
from keyward_local.emulator.faults import Faults

SIGNED_S3 = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261201/us-east-1/s3/aws4_request, SignedHeaders=host"
SIGNED_IAM = SIGNED_S3.replace("/s3/", "/iam/")


def environ(method: str, path: str, query: str = "", authorization: str = SIGNED_S3) -> dict[str, str]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "HTTP_AUTHORIZATION": authorization}


def test_a_path_style_put_signed_for_s3_is_a_put_object_of_its_key() -> None:
    key = "runs/e2e-x/deactivation/journal/0001-AKIAB-result.json"
    assert s3_put_object_key(environ("PUT", f"/keyward-reports/{key}", "x-id=PutObject")) == key
    assert s3_put_object_key(environ("PUT", f"/keyward-reports/{key}")) == key


def test_anything_else_is_not_a_put_object() -> None:
    assert s3_put_object_key(environ("GET", "/keyward-reports/runs/a.json", "x-id=GetObject")) is None
    assert s3_put_object_key(environ("PUT", "/keyward-reports")) is None, "CreateBucket"
    assert s3_put_object_key(environ("PUT", "/keyward-reports/a.json", "tagging")) is None
    assert s3_put_object_key(environ("PUT", "/keyward-reports/a.json", authorization=SIGNED_IAM)) is None
    assert s3_put_object_key(environ("PUT", "/keyward-reports/a.json", authorization="")) is None


def test_an_s3_fault_fails_only_matching_keys_after_the_first_ones() -> None:
    faults = Faults()
    fault = faults.add({"target": "s3:PutObject", "match": "-result.json", "after": 1, "error": "AccessDenied"})
    assert fault["error"] == "AccessDenied"
    assert faults.take("s3:PutObject", b"runs/x/deactivation/claim.json") is None
    assert faults.take("s3:PutObject", b"runs/x/deactivation/journal/0000-A-result.json") is None, "after 1"
    assert faults.take("s3:PutObject", b"runs/x/deactivation/journal/0001-B-result.json") == "AccessDenied"
    assert faults.take("sns:Publish") is None


def test_an_s3_fault_without_an_error_answers_internal_error() -> None:
    assert Faults().add({"target": "s3:PutObject"})["error"] == "InternalError"
