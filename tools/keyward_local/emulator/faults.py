"""Failures the emulator injects on purpose (PUT /_keyward/faults), for the fault tests: a function
error or Lambda.ServiceException for an invocation, an error code for SNS Publish, and an S3 error
code for a PutObject whose object key contains `match` (a run-state write that fails part-way)."""

from __future__ import annotations

import logging
import re
import threading
from typing import TypedDict

LOG = logging.getLogger("keyward.local-stack")


class HookError(Exception):
    """A test hook's refusal: answered with `status` and {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Fault(TypedDict):
    """One injected failure, with how many matching requests it has seen and failed."""

    target: str
    count: int | None
    after: int
    error: str
    match: str | None
    seen: int
    injected: int


class Faults:
    """Each fault fails the matching requests from the `after`+1-th on, `count` times (None: until
    cleared)."""

    TARGETS = re.compile(r"^(lambda:[A-Za-z0-9_-]+|sns:Publish|s3:PutObject)$")

    #: The error a fault answers with when it names none.
    DEFAULT_ERRORS = {"sns:Publish": "InternalError", "s3:PutObject": "InternalError"}

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(self, document: object) -> Fault:
        """Adds the fault a PUT /_keyward/faults body describes."""
        if not isinstance(document, dict) or not self.TARGETS.match(str(document.get("target", ""))):
            raise HookError(
                400,
                'target must be "lambda:<function>", "sns:Publish" or "s3:PutObject": '
                '{"target": "lambda:check-user", "count": 2, "error": "AwsCallFailed"}',
            )
        count, after = document.get("count"), document.get("after", 0)
        for name, value in (("count", count), ("after", after)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise HookError(400, f"{name} must be a whole number (or null for count: until cleared)")
        error = document.get("error") or self.DEFAULT_ERRORS.get(str(document["target"]), "AwsCallFailed")
        match = document.get("match")
        fault: Fault = {
            "target": str(document["target"]),
            "count": count if isinstance(count, int) else None,
            "after": after if isinstance(after, int) else 0,
            "error": str(error),
            "match": str(match) if match else None,
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

    def snapshot(self) -> list[Fault]:
        """Every fault, with its counts."""
        with self.lock:
            return [Fault(**f) for f in self.faults]

    def clear(self) -> None:
        """Removes every fault."""
        with self.lock:
            self.faults.clear()


#: The emulator's faults: the forward and the SNS gate consult them, the hook sets them.
FAULTS = Faults()
