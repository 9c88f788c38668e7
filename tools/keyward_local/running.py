"""`scripts/local-stack down` and `status`: the running stack as target/local-stack/ records it.
Standard library only, so both work even without .venv/ (`python3 -m keyward_local.running`, run
from tools/)."""

from __future__ import annotations

import json
import sys

from keyward_local.console import LocalStackError, answers_http, http_json, say
from keyward_local.oidc import ACCOUNTS, SECRET_FILE, discovery, local_issuer
from keyward_local.paths import CONFIG_FILE, ENV_FILE, ROOT
from keyward_local.processes import CORE_PROCESSES, LABELS, PROCESSES, is_alive, read_record, state_lock, stop_all
from keyward_local.settings import Recorded, StackConfig, watch_port


def moto_health(config: StackConfig) -> dict[str, object] | None:
    """The emulator's GET /_keyward/health, or None when no local-stack emulator answers."""
    try:
        health = http_json("GET", f"http://127.0.0.1:{config['moto_port']}/_keyward/health", timeout=2.0)
    except LocalStackError:
        return None
    if isinstance(health, dict) and health.get("service") == "keyward-local-stack":
        return {str(k): v for k, v in health.items()}
    return None


def read_recorded() -> Recorded | None:
    """target/local-stack/config.json, or None."""
    try:
        recorded: Recorded = json.loads(CONFIG_FILE.read_text())
    except (OSError, ValueError):
        return None
    return recorded


def down() -> int:
    """Stops exactly the processes `up` recorded, and forgets the stack's environment."""
    with state_lock():
        if not any(read_record(name) for name in PROCESSES):
            say("the local stack is not running (nothing recorded in target/local-stack/)")
        else:
            say("stopping the local stack")
            stop_all()
        ENV_FILE.unlink(missing_ok=True)
        CONFIG_FILE.unlink(missing_ok=True)
        SECRET_FILE.unlink(missing_ok=True)
    return 0


def status() -> int:
    """Prints what is running: exit 0 up and answering, 3 down, 1 partly up."""
    records = {name: read_record(name) for name in PROCESSES}
    alive = {name: is_alive(record) for name, record in records.items()}
    recorded = read_recorded()
    oidc_port = recorded.get("oidc_port") if recorded is not None else None
    # The OpenID provider is part of the stack only when `up` started one (APPROVER_AUTH=oidc).
    expected = [*CORE_PROCESSES, *(["oidc"] if oidc_port is not None or records["oidc"] else [])]
    for name in expected:
        record = records[name]
        label = LABELS[name]
        if record is None:
            print(f"{label:20} not running")
        else:
            print(f"{label:20} {'running' if alive[name] else 'NOT running'} (pid {record['pid']})")
    if recorded is not None and all(alive[name] for name in expected):
        healthy = moto_health(recorded) is not None and answers_http(f"http://127.0.0.1:{watch_port(recorded)}/")
        if oidc_port is not None:
            healthy = healthy and discovery(local_issuer(oidc_port)) is not None
        answering = "answering" if healthy else "NOT answering"
        ports = f"moto and Function URLs {recorded['moto_port']}, {recorded['lambda_port']}"
        print(f"{'ports':20} {ports}, cargo lambda watch {watch_port(recorded)} ({answering})")
        if oidc_port is not None:
            print(f"{'OpenID issuer':20} {local_issuer(oidc_port)} (accounts {', '.join(ACCOUNTS)})")
        print(f"{'state machine':20} {recorded.get('state_machine_arn')}")
        members = recorded.get("org_accounts") or []
        scope = f"{recorded.get('scope')}" + (
            f" ({recorded.get('organization_id')}: members {', '.join(members)})" if members else ""
        )
        print(f"{'scope':20} {scope}")
        print(f"{'environment':20} {ENV_FILE.relative_to(ROOT)}")
        return 0 if healthy else 1
    if not any(records.values()):
        return 3
    return 1


def main(argv: list[str]) -> int:
    """`down` or `status`."""
    command = argv[1] if len(argv) > 1 else ""
    try:
        if command == "down":
            return down()
        if command == "status":
            return status()
    except LocalStackError as error:
        print(f"local-stack {command}: {error}", file=sys.stderr)
        return 1
    print("usage: scripts/local-stack up|down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
