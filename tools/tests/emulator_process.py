"""The emulator as `scripts/local-stack up` starts it (`python -m keyward_local.emulator.app`), in a
child process on free ports, for the tests of what it enforces on every request: its access control
is process-wide, so it cannot run inside pytest's own process. Nothing but the emulator is started
(no cargo lambda watch): STS, IAM and Organizations need nothing else."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

TOOLS = Path(__file__).resolve().parents[1]
#: The account of the emulator's root key `test` (moto's default account): the management account.
MANAGEMENT = "123456789012"
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def hook(endpoint: str, method: str, path: str, document: object = None) -> tuple[int, Any]:
    """One request to an emulator's own endpoints (`/_keyward/…`, `/moto-api/…`) at `endpoint`:
    (status, JSON or None), an error status included; 0 when nothing answers."""
    data = json.dumps(document).encode() if document is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    except OSError:
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


class EmulatorProcess:
    """One emulator child process; its log is kept to be read by the tests."""

    def __init__(self) -> None:
        port, lambda_port, watch_port = free_port(), free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix="emulator-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keyward_local.emulator.app",
                f"--port={port}",
                f"--lambda-port={lambda_port}",
                f"--watch-port={watch_port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(TOOLS)},
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while self.hook("GET", "/_keyward/health")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stops the child and removes its log."""
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def log_text(self) -> str:
        """What the emulator logged so far."""
        return Path(self.log.name).read_text(errors="replace")

    def hook(self, method: str, path: str, document: object = None) -> tuple[int, Any]:
        """One request to the emulator's own endpoints: (status, JSON or None); 0 when unreachable."""
        return hook(self.endpoint, method, path, document)

    def reset(self) -> None:
        """Every backend empty, no principal recorded."""
        self.hook("POST", "/moto-api/reset")
        self.hook("DELETE", "/_keyward/principals")

    def client(self, service: str, credentials: dict[str, str] | None = None, validate: bool = True) -> Any:
        """A boto3 client of `service` signed with `credentials` (an AssumeRole or CreateAccessKey
        answer's), or as the management account's root."""
        credentials = credentials or {"AccessKeyId": "test", "SecretAccessKey": "test"}
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials.get("SessionToken"),
            config=Config(parameter_validation=validate, proxies={}, retries={"max_attempts": 1}),
        )
