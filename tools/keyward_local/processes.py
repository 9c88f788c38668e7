"""The local stack's servers as processes: starting one in a session of its own, recording it, and
stopping exactly what was recorded (its process group and any descendant that left it), never anything
by name; whether a port is taken and by whom; plus the lock that keeps one `up`/`down` at a time.
Standard library only.

target/local-stack/<name>.pid holds the pid (as usual), <name>.json the pid, its start time and
command line: a pid alone could name another process after a reuse."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, NotRequired, TypedDict

from keyward_local.console import LocalStackError
from keyward_local.paths import BINARY_DIR, LOCK_FILE, ROOT, STATE_DIR, VENV_BIN

#: The servers of the stack: the emulator, cargo lambda watch and, under APPROVER_AUTH=oidc, the local
#: OpenID provider.
PROCESSES = ("moto", "lambda", "oidc")
#: The servers every stack runs.
CORE_PROCESSES = ("moto", "lambda")
#: What `status` calls each server.
LABELS = {"moto": "emulator (moto)", "lambda": "cargo lambda watch", "oidc": "OpenID provider"}

STOP_SECONDS = 10
LOCK_SECONDS = 600


class ProcessRecord(TypedDict):
    """target/local-stack/<name>.json."""

    pid: int
    pgid: int
    #: Field 22 of /proc/<pid>/stat: with the pid, it names one process.
    start_time: str | None
    cmd: list[str]
    #: The functions the process serves (cargo lambda watch): their instances are stopped with it.
    functions: NotRequired[list[str]]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid,
    it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None  # a zombie is gone for our purposes
    return fields[19]


def _record_path(name: str) -> Path:
    return STATE_DIR / f"{name}.json"


def _pid_path(name: str) -> Path:
    return STATE_DIR / f"{name}.pid"


def read_record(name: str) -> ProcessRecord | None:
    """The record of server `name`, or None when none was written (or it is unreadable)."""
    try:
        record: ProcessRecord = json.loads(_record_path(name).read_text())
    except (OSError, ValueError):
        return None
    return record


def forget_record(name: str) -> None:
    """Removes server `name`'s record files."""
    _record_path(name).unlink(missing_ok=True)
    _pid_path(name).unlink(missing_ok=True)


def is_alive(record: ProcessRecord | None) -> bool:
    """Whether the recorded process still runs (the same process, not a reuse of its pid)."""
    return record is not None and _start_time(int(record["pid"])) == record.get("start_time")


def spawn(
    name: str, command: list[str], env: dict[str, str], log: Path, functions: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Starts one of the stack's servers in a session of its own (so `down` can stop its whole
    process group), output to `log`, and records it under `name`; `functions` are the binaries it
    starts instances of."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record: ProcessRecord = {
        "pid": process.pid,
        "pgid": process.pid,
        "start_time": _start_time(process.pid),
        "cmd": command,
    }
    if functions is not None:
        record["functions"] = functions
    _record_path(name).write_text(json.dumps(record) + "\n")
    _pid_path(name).write_text(f"{process.pid}\n")
    return process


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    children = _children_map()
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _orphans_of(record: ProcessRecord) -> list[int]:
    """What a recorded process that has exited may have left running: members of its process group
    and function instances (cargo lambda starts each in a session of its own) whose parent is gone,
    started after it from this checkout's binaries."""
    pgid, since = int(record.get("pgid", record["pid"])), int(record.get("start_time") or 0)
    binaries = {str(BINARY_DIR / function) for function in record.get("functions", [])}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            exe = os.readlink(entry / "exe")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid, group, started = fields[0], int(fields[1]), int(fields[2]), int(fields[19])
        if state == "Z" or started < since or Path(cwd) != ROOT:
            continue
        in_group = group == pgid and int(fields[3]) == pgid
        orphan_instance = exe in binaries and not _is_cargo_lambda(ppid)
        if in_group or orphan_instance:
            found.append(int(entry.name))
    return found


def _is_cargo_lambda(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe") == str(VENV_BIN / "cargo-lambda")
    except OSError:
        return False


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop_record(name: str) -> str:
    """Stops the recorded process, its process group and any descendant that left the group; says
    what it did."""
    record = read_record(name)
    if record is None:
        return "not recorded"
    pid, pgid = int(record["pid"]), int(record.get("pgid", record["pid"]))
    if not is_alive(record):
        # The leader is gone; processes it started may not be (cargo lambda's function instances).
        orphans = _orphans_of(record)
        for p in orphans:
            _kill(p, signal.SIGKILL)
        forget_record(name)
        return f"already stopped{f' (killed {len(orphans)} left-over child processes)' if orphans else ''}"
    descendants = [(p, _start_time(p)) for p in _descendants(pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    for p, start in descendants:
        if start is not None and _start_time(p) == start:
            _kill(p, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        if not is_alive(record) and not any(s is not None and _start_time(p) == s for p, s in descendants):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        for p, start in descendants:
            if start is not None and _start_time(p) == start:
                _kill(p, signal.SIGKILL)
        time.sleep(0.2)
    # Reap it if it is our child (it is not: `up` exited long ago; this only matters within one `up`).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    forget_record(name)
    left = [p for p, s in descendants if s is not None and _start_time(p) == s]
    return f"stopped (pid {pid}{', ' + str(len(descendants)) + ' child processes' if descendants else ''})" + (
        f"; still running: {left}" if left else ""
    )


def stop_all() -> None:
    """Stops every recorded server, all at once (each stop is bounded), printing what happened to each
    (and that a core one was not recorded)."""
    names = [name for name in PROCESSES if name in CORE_PROCESSES or read_record(name) is not None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names) or 1) as stopping:
        outcomes = list(stopping.map(stop_record, names))
    for name, outcome in zip(names, outcomes, strict=True):
        print(f"    {name}: {outcome}")


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    """One `up`/`down` at a time (tests may call `up` concurrently)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    held = f"another scripts/local-stack holds {LOCK_FILE} for over {LOCK_SECONDS} s"
                    raise LocalStackError(held) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def who_listens(port: int) -> str:
    """The processes listening on `port` ("name (pid n)"), as far as ss can tell."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.findall(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return ", ".join(f"{name} (pid {pid})" for name, pid in found)
