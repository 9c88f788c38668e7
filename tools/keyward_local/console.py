"""What the local stack's commands share to talk to the user and to the stack: the `==>` lines they
print, JSON over HTTP to 127.0.0.1 (never through a proxy the environment may name), and bounded
waits. Standard library only: `scripts/local-stack down` and `status` work without .venv/."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

#: Every request of the local stack goes to this machine: no proxy.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalStackError(Exception):
    """The local stack is not there, or answered something a caller cannot go on with."""


def say(message: str) -> None:
    """One step of a command, as `==> message`."""
    print(f"==> {message}", flush=True)


def http_json(method: str, url: str, body: object = None, timeout: float = 10) -> object:
    """Sends `body` as JSON and returns the decoded answer (None for an empty one)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with HTTP.open(request, timeout=timeout) as response:
            answer: object = json.loads(response.read() or b"null")
            return answer
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise LocalStackError(f"{method} {url}: HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise LocalStackError(f"{method} {url}: {reason} (is the local stack up?)") from None


def answers_http(url: str, timeout: float = 2.0) -> bool:
    """Whether anything answers HTTP at `url` (any status counts: it is listening)."""
    try:
        with HTTP.open(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_until(
    what: str,
    check: Callable[[], T | None],
    seconds: float,
    poll: float = 1.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """Polls `check` until it returns something truthy, and returns that. Raises LocalStackError after
    `seconds`, or as soon as `process` (the server being waited for) exits; with a `log`, the error
    shows its last lines and a note is printed every 10 s of waiting."""
    started = time.monotonic()
    next_note = started + 10
    while True:
        result = check()
        if result:
            return result
        tail = f"; last lines of {log}:\n{_tail(log)}" if log is not None else ""
        if process is not None and process.poll() is not None:
            raise LocalStackError(f"{what} exited with code {process.returncode}{tail}")
        now = time.monotonic()
        if now - started > seconds:
            raise LocalStackError(f"timed out after {seconds:.0f} s waiting for {what}{tail}")
        if log is not None and now >= next_note:
            print(f"    … still waiting for {what} ({now - started:.0f} s of {seconds:.0f} s)", flush=True)
            next_note = now + 10
        time.sleep(poll)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
