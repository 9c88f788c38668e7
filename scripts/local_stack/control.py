#!/usr/bin/env python3
"""scripts/local-stack's engine: `up`, `down`, `status` of the local stack (DESIGN.md section 6).

`up` (after scripts/local-stack has installed .venv/ and built the functions) starts, on 127.0.0.1
only, the emulator (launcher.py: moto + Lambda forward + test hooks) on MOTO_PORT and
`cargo lambda watch` on LAMBDA_PORT, creates the stack's resources in moto with the same
substitutions as template.yaml, and writes target/local-stack/env. Every wait is bounded.
`down` stops exactly the processes `up` recorded (their process groups), never anything by name.
`down` and `status` use only the standard library.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / "target" / "local-stack"
ENV_FILE = STATE_DIR / "env"
CONFIG_FILE = STATE_DIR / "config.json"
LOCK_FILE = STATE_DIR / "lock"
VENV_BIN = ROOT / ".venv" / "bin"
ASL_FILE = ROOT / "statemachine" / "keyward.asl.json"
TEMPLATE_FILE = ROOT / "template.yaml"
BINARY_DIR = ROOT / "target" / "debug"

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
DEFAULT_MOTO_PORT = 5055
DEFAULT_LAMBDA_PORT = 9000

#: The stack's resource names. CloudFormation generates them in AWS; these are the local ones.
BUCKET = f"keyward-reports-{ACCOUNT_ID}"
TOPIC = "keyward"
TABLE = "keyward-approvals"
STATE_MACHINE = "keyward"
ROLE = "keyward-local-stack"

FUNCTIONS = ("list-users", "check-user", "validate-keys", "notify", "deactivate", "approval")

#: Configuration read from the environment at `up` and given to every function (keyward_core::config::vars).
CONFIG_VARS = (
    "KEYWARD_MODE",
    "SLACK_WEBHOOK_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_APPROVER_IDS",
    "MAX_KEY_AGE_DAYS",
    "UNUSED_KEY_DAYS",
    "WARN_DAYS",
    "MFA_SCOPE",
    "NO_MFA_ACTION",
    "EXEMPT_USERS",
    "MAX_DEACTIVATIONS_PER_RUN",
    "APPROVAL_TIMEOUT_SECONDS",
    "SCREENING",
    "BATCH_SIZE",
    "MAX_CONCURRENCY",
    "IAM_MAX_RPS",
)
SECRET_VARS = ("SLACK_WEBHOOK_URL", "SLACK_SIGNING_SECRET")
#: Local stack only: the emulator throttles IAM beyond this many requests per second.
THROTTLE_VAR = "IAM_THROTTLE_RPS"

#: Upper bound on cargo lambda's instances per function (--concurrency).
MAX_INSTANCES = 10

LAUNCHER_READY_SECONDS = 30
WATCH_READY_SECONDS = 120
CONFIG_CHECK_SECONDS = 20
STOP_SECONDS = 10
LOCK_SECONDS = 600


class StackError(Exception):
    """A failure `up` reports and exits 1 on."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# Process records: target/local-stack/<name>.pid holds the pid (as usual), <name>.json the pid, its
# start time and command line: a pid alone could name another process after a reuse.


PROCESSES = ("moto", "lambda")


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


def read_record(name: str) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(name).read_text())
    except (OSError, ValueError):
        return None


def forget_record(name: str) -> None:
    _record_path(name).unlink(missing_ok=True)
    _pid_path(name).unlink(missing_ok=True)


def is_alive(record: dict[str, Any] | None) -> bool:
    return bool(record) and _start_time(int(record["pid"])) == record.get("start_time")


def write_record(name: str, process: subprocess.Popen, command: list[str]) -> None:
    start = _start_time(process.pid)
    record = {"pid": process.pid, "pgid": process.pid, "start_time": start, "cmd": command}
    _record_path(name).write_text(json.dumps(record) + "\n")
    _pid_path(name).write_text(f"{process.pid}\n")


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
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _orphans_of(record: dict[str, Any]) -> list[int]:
    """What a recorded process that has exited may have left running: members of its process group
    and function instances (cargo lambda starts each in a session of its own) whose parent is gone,
    started after it from this checkout's binaries."""
    pgid, since = int(record.get("pgid", record["pid"])), int(record.get("start_time") or 0)
    binaries = {str(BINARY_DIR / function) for function in FUNCTIONS}
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


def stop_record(name: str) -> str:
    """Stops the recorded process, its process group and any descendant that left the group."""
    record = read_record(name)
    if record is None:
        return "not recorded"
    pid, pgid = int(record["pid"]), int(record.get("pgid", record["pid"]))
    if not is_alive(record):
        # The leader is gone; processes it started may not be (cargo lambda's function instances).
        orphans = _orphans_of(record)
        for p in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)
        forget_record(name)
        return f"already stopped{f' (killed {len(orphans)} left-over child processes)' if orphans else ''}"
    descendants = [(p, _start_time(p)) for p in _descendants(pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    for p, start in descendants:
        if start is not None and _start_time(p) == start:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGTERM)
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
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
        time.sleep(0.2)
    # Reap it if it is our child (it is not: `up` exited long ago; this only matters within one `up`).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    forget_record(name)
    left = [p for p, s in descendants if s is not None and _start_time(p) == s]
    return f"stopped (pid {pid}{', ' + str(len(descendants)) + ' child processes' if descendants else ''})" + (
        f"; still running: {left}" if left else ""
    )


@contextlib.contextmanager
def state_lock():
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
                    raise StackError(held) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------------
# Configuration


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise StackError(f"{variable}={raw!r} is not valid: expected a port number from 1024 to 65535")
    return int(raw)


def wanted_config() -> dict[str, Any]:
    moto_port = _port("MOTO_PORT", DEFAULT_MOTO_PORT)
    lambda_port = _port("LAMBDA_PORT", DEFAULT_LAMBDA_PORT)
    if moto_port == lambda_port:
        raise StackError(f"MOTO_PORT and LAMBDA_PORT are both {moto_port}: give them different ports")
    throttle = os.environ.get(THROTTLE_VAR, "").strip() or None
    if throttle is not None:
        try:
            if not 0 < float(throttle) <= 100000:
                raise ValueError
        except ValueError:
            raise StackError(
                f"{THROTTLE_VAR}={throttle!r} is not valid: expected a number of requests per second above 0"
            ) from None
    settings = {name: os.environ[name] for name in CONFIG_VARS if os.environ.get(name, "").strip()}
    return {"moto_port": moto_port, "lambda_port": lambda_port, "iam_throttle_rps": throttle, "settings": settings}


def _fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """What `up` compares: secrets by hash only (config.json is readable by tests)."""
    shown = dict(config)
    shown["settings"] = {
        name: ("sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16] if name in SECRET_VARS else value)
        for name, value in config["settings"].items()
    }
    return shown


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    names = {
        "moto_port": "MOTO_PORT",
        "lambda_port": "LAMBDA_PORT",
        "iam_throttle_rps": THROTTLE_VAR,
    }
    found = [f"{label} {old.get(key)} → {new.get(key)}" for key, label in names.items() if old.get(key) != new.get(key)]
    old_settings, new_settings = old.get("settings", {}), new.get("settings", {})
    for name in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(name) != new_settings.get(name):
            if name in SECRET_VARS:
                found.append(f"{name} changed")
            else:
                found.append(f"{name} {old_settings.get(name, '(unset)')} → {new_settings.get(name, '(unset)')}")
    return found


# --------------------------------------------------------------------------------------------------
# template.yaml: the constants the local stack mirrors


def load_template() -> dict[str, Any]:
    import yaml

    class CfnLoader(yaml.SafeLoader):
        pass

    def cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    CfnLoader.add_multi_constructor("!", cfn_tag)
    try:
        return yaml.load(TEMPLATE_FILE.read_text(), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
    except OSError as error:
        raise StackError(f"cannot read {TEMPLATE_FILE}: {error}") from None
    except yaml.YAMLError as error:
        raise StackError(f"{TEMPLATE_FILE} is not valid YAML: {error}") from None


class Template:
    """The parts of template.yaml the local stack mirrors: function timeouts, the state machine's
    DefinitionSubstitutions, parameter defaults and their environment names, the table's TTL."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.parameters = document.get("Parameters", {})
        self.resources = document.get("Resources", {})
        globals_fn = document.get("Globals", {}).get("Function", {})
        self.default_timeout = int(globals_fn.get("Timeout", 3))
        # Parameter → environment variable, from the variables every function gets (KEYWARD_MODE: !Ref Mode).
        self.env_of_parameter = {
            value["Ref"]: name
            for name, value in globals_fn.get("Environment", {}).get("Variables", {}).items()
            if isinstance(value, dict) and "Ref" in value
        }
        self.binary_of_resource = {}
        self.timeouts = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if binary:
                self.binary_of_resource[logical_id] = binary
                self.timeouts[binary] = int(resource.get("Properties", {}).get("Timeout", self.default_timeout))

    def state_machine(self) -> dict[str, Any]:
        for resource in self.resources.values():
            if resource.get("Type") == "AWS::Serverless::StateMachine":
                return resource.get("Properties", {})
        raise StackError(f"{TEMPLATE_FILE} has no AWS::Serverless::StateMachine")

    def ttl_attribute(self) -> str | None:
        for resource in self.resources.values():
            if resource.get("Type") == "AWS::DynamoDB::Table":
                spec = resource.get("Properties", {}).get("TimeToLiveSpecification", {})
                if spec.get("Enabled") in (True, "true"):
                    return spec.get("AttributeName")
        return None

    def substitutions(self, function_arns: dict[str, str]) -> dict[str, str]:
        values = {}
        for name, value in self.state_machine().get("DefinitionSubstitutions", {}).items():
            values[name] = self._resolve(name, value, function_arns)
        return values

    def parameter(self, parameter: str) -> str:
        """A template parameter as the local stack sets it: from its environment variable when that is
        set at `up` (MaxConcurrency ← MAX_CONCURRENCY), else the parameter's Default."""
        variable = self.env_of_parameter.get(parameter)
        if variable and os.environ.get(variable, "").strip():
            return os.environ[variable].strip()
        if parameter in self.parameters and "Default" in self.parameters[parameter]:
            return str(self.parameters[parameter]["Default"])
        raise StackError(f"template.yaml has no parameter {parameter} with a Default")

    def _resolve(self, name: str, value: Any, function_arns: dict[str, str]) -> str:
        if isinstance(value, (str, int, float)):
            return str(value)
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            binary = self.binary_of_resource.get(logical_id)
            if attribute == "Arn" and binary in function_arns:
                return function_arns[binary]
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in self.parameters:
            return self.parameter(value["Ref"])
        raise StackError(f"template.yaml: the local stack cannot resolve DefinitionSubstitutions {name}: {value!r}")


def substitute(definition: str, values: dict[str, str]) -> str:
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition))
    missing = sorted(used - set(values))
    if missing:
        raise StackError(
            f"{ASL_FILE.name} uses ${{{', '.join(missing)}}} but template.yaml's DefinitionSubstitutions"
            " does not define it"
        )
    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values[m.group(1)], definition)
    try:
        json.loads(text)
    except ValueError as error:
        raise StackError(f"{ASL_FILE.name} is not JSON after substitution: {error}") from None
    return text


# --------------------------------------------------------------------------------------------------
# Ports and HTTP


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def who_listens(port: int) -> str:
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.findall(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return ", ".join(f"{name} (pid {pid})" for name, pid in found)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(url: str, timeout: float = 2.0) -> Any:
    with _NO_PROXY.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def answers_http(url: str, timeout: float = 2.0) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: it is listening
    except (urllib.error.URLError, OSError):
        return False


def moto_health(config: dict[str, Any]) -> dict[str, Any] | None:
    try:
        health = http_json(f"http://127.0.0.1:{config['moto_port']}/_keyward/health")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return health if isinstance(health, dict) and health.get("service") == "keyward-local-stack" else None


def wait_until(what: str, check, seconds: float, process: subprocess.Popen | None, log: Path) -> float:
    started = time.monotonic()
    next_note = started + 10
    while True:
        if check():
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode}; last lines of {log}:\n{_tail(log)}")
        now = time.monotonic()
        if now - started > seconds:
            raise StackError(f"{what} did not answer within {seconds} s; last lines of {log}:\n{_tail(log)}")
        if now >= next_note:
            print(f"    … still waiting for {what} ({now - started:.0f} s of {seconds} s)", flush=True)
            next_note = now + 10
        time.sleep(0.2)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------------
# The functions' environment


def function_env(config: dict[str, Any]) -> dict[str, str]:
    """The environment of cargo lambda watch, inherited by every function it starts: the stack's
    resources, moto's endpoint and test credentials, and the configuration given at `up`. AWS_*
    variables of the caller's shell (profiles, real credentials) are dropped."""
    dropped = set(CONFIG_VARS) | {THROTTLE_VAR}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in dropped}
    env.update(stack_env(config, include_ports=False))
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.update(config["settings"])
    env.update(_no_proxy())
    return env


def _no_proxy() -> dict[str, str]:
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    value = ",".join(filter(None, [current, "127.0.0.1", "localhost"]))
    return {"NO_PROXY": value, "no_proxy": value}


def stack_env(
    config: dict[str, Any], include_ports: bool = True, state_machine_arn: str | None = None
) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{config['moto_port']}",
        "AWS_REGION": REGION,
        # boto3 and the AWS CLI read the region from AWS_DEFAULT_REGION only.
        "AWS_DEFAULT_REGION": REGION,
        **CREDENTIALS,
    }
    if state_machine_arn:
        env["KEYWARD_STATE_MACHINE_ARN"] = state_machine_arn
    env.update(
        {
            "KEYWARD_REPORT_BUCKET": BUCKET,
            "KEYWARD_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}",
            "KEYWARD_APPROVALS_TABLE": TABLE,
            "KEYWARD_APPROVAL_BASE_URL": f"http://127.0.0.1:{config['lambda_port']}/lambda-url/approval",
        }
    )
    if include_ports:
        env["MOTO_PORT"] = str(config["moto_port"])
        env["LAMBDA_PORT"] = str(config["lambda_port"])
    return env


def check_function_config(config: dict[str, Any]) -> None:
    """Runs each built function outside the Lambda runtime: it reads its configuration first and then
    stops (no runtime API). A configuration error fails `up` now, instead of an invocation hanging in
    cargo lambda watch (a function that exits at start-up never answers)."""
    env = function_env(config)
    env["RUST_BACKTRACE"] = "0"
    for name in [k for k in env if k.startswith("AWS_LAMBDA_")]:
        del env[name]
    running = {}
    for function in FUNCTIONS:
        binary = BINARY_DIR / function
        if not binary.exists():
            raise StackError(f"{binary} is missing: the build did not produce it")
        running[function] = subprocess.Popen(
            [str(binary)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    problems = []
    for function, process in running.items():
        try:
            output, _ = process.communicate(timeout=CONFIG_CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        for line in output.splitlines():
            if '"InvalidConfig"' in line:
                try:
                    problems.append(f"{function}: {json.loads(line).get('error', line)}")
                except ValueError:
                    problems.append(f"{function}: {line}")
                break
    if problems:
        unique = sorted(set(p.split(": ", 1)[1] for p in problems))
        raise StackError("the functions refuse this configuration:\n  " + "\n  ".join(unique))


# --------------------------------------------------------------------------------------------------
# Resources in moto


def provision(config: dict[str, Any], template: Template) -> dict[str, str]:
    import io
    import zipfile

    import boto3

    session = boto3.session.Session(region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    endpoint = f"http://127.0.0.1:{config['moto_port']}"
    from botocore.config import Config

    client_config = Config(retries={"mode": "standard", "max_attempts": 10}, proxies={})

    def client(service: str):
        return session.client(service, endpoint_url=endpoint, config=client_config)

    iam, s3, sns, dynamodb, lam, sfn = (client(s) for s in ("iam", "s3", "sns", "dynamodb", "lambda", "stepfunctions"))

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id_hash", "KeyType": "HASH"}],
    )
    ttl = template.ttl_attribute()
    if ttl:
        dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("bootstrap", "#!/bin/sh\n# served by cargo lambda watch, see scripts/local_stack/launcher.py\n")
    function_arns = {}
    for function in FUNCTIONS:
        created = lam.create_function(
            FunctionName=function,
            Runtime="provided.al2023",
            Role=role_arn,
            Handler="bootstrap",
            Code={"ZipFile": archive.getvalue()},
            Timeout=template.timeouts.get(function, template.default_timeout),
            MemorySize=256,
            Description=f"keyward {function} (local stack: served by cargo lambda watch)",
        )
        function_arns[function] = created["FunctionArn"]

    definition = substitute(ASL_FILE.read_text(), template.substitutions(function_arns))
    state_machine_arn = sfn.create_state_machine(
        name=STATE_MACHINE, definition=definition, roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    expected = stack_env(config)
    if topic_arn != expected["KEYWARD_TOPIC_ARN"]:
        raise StackError(f"moto named the topic {topic_arn}, expected {expected['KEYWARD_TOPIC_ARN']}")
    return {"state_machine_arn": state_machine_arn, "asl_sha256": _sha256(definition)}


def _launcher_sha256() -> str:
    return hashlib.sha256((ROOT / "scripts" / "local_stack" / "launcher.py").read_bytes()).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def binaries_stamp() -> dict[str, float]:
    return {f: (BINARY_DIR / f).stat().st_mtime if (BINARY_DIR / f).exists() else 0.0 for f in FUNCTIONS}


# --------------------------------------------------------------------------------------------------
# Commands


def start_launcher(config: dict[str, Any], template: Template) -> subprocess.Popen:
    log = STATE_DIR / "moto.log"
    command = [
        str(VENV_BIN / "python"),
        str(ROOT / "scripts" / "local_stack" / "launcher.py"),
        "--port",
        str(config["moto_port"]),
        "--lambda-port",
        str(config["lambda_port"]),
        "--function-timeouts",
        ",".join(f"{name}={seconds}" for name, seconds in sorted(template.timeouts.items())),
        "--default-timeout",
        str(template.default_timeout),
    ]
    if config["iam_throttle_rps"]:
        command += ["--iam-throttle-rps", str(config["iam_throttle_rps"])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(_no_proxy())
    env["PYTHONUNBUFFERED"] = "1"
    return spawn("moto", command, env, log)


def start_watch(config: dict[str, Any], template: Template, concurrency: int) -> subprocess.Popen:
    log = STATE_DIR / "lambda.log"
    timeout = max(template.timeouts.values(), default=template.default_timeout)
    command = [
        str(VENV_BIN / "cargo-lambda"),
        "lambda",
        "watch",
        "--ignore-changes",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        str(config["lambda_port"]),
        "--timeout",
        str(timeout),
        "--concurrency",
        str(concurrency),
    ]
    return spawn("lambda", command, function_env(config), log)


def spawn(name: str, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Starts one of the stack's servers in a session of its own (so `down` can stop its whole
    process group), output to `log`, and records it under `name`."""
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
    write_record(name, process, command)
    return process


def write_env(config: dict[str, Any], state_machine_arn: str) -> None:
    env = stack_env(config, state_machine_arn=state_machine_arn)
    text = "".join(f"{key}={value}\n" for key, value in env.items())
    temporary = ENV_FILE.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(ENV_FILE)


def up() -> int:
    started = time.monotonic()
    config = wanted_config()
    template = Template(load_template())
    if not ASL_FILE.exists():
        raise StackError(f"{ASL_FILE} does not exist")
    with state_lock():
        records = {name: read_record(name) for name in PROCESSES}
        alive = {name: is_alive(record) for name, record in records.items()}
        if all(alive.values()):
            try:
                recorded = json.loads(CONFIG_FILE.read_text())
            except (OSError, ValueError):
                recorded = None
            health = moto_health(recorded) if recorded is not None else None
            if (
                health is not None
                and health.get("pid") == records["moto"]["pid"]
                and answers_http(f"http://127.0.0.1:{recorded['lambda_port']}/")
            ):
                return already_up(config, recorded, template, started)
        if any(alive.values()) or any(records.values()):
            say("found a partial or stale local stack: stopping what is left of it")
            for name in PROCESSES:
                print(f"    {name}: {stop_record(name)}")
        ENV_FILE.unlink(missing_ok=True)
        CONFIG_FILE.unlink(missing_ok=True)

        for variable, port in (("MOTO_PORT", config["moto_port"]), ("LAMBDA_PORT", config["lambda_port"])):
            if port_in_use(port):
                owner = who_listens(port)
                raise StackError(
                    f"port {port} ({variable}) on 127.0.0.1 is in use by another process"
                    f"{': ' + owner if owner else ''}, not started by scripts/local-stack. "
                    f"Stop it, or choose another port: {variable}=<port> scripts/local-stack up"
                )

        say("checking the configuration with the built functions")
        check_function_config(config)

        # cargo lambda starts up to this many instances of a function (each a process) and queues
        # the calls beyond; the Map's children share IAM_MAX_RPS anyway.
        concurrency = min(int(template.parameter("MaxConcurrency")), MAX_INSTANCES)
        try:
            return start_stack(config, template, concurrency, started)
        except BaseException:
            say("up failed: stopping what it started (logs stay in target/local-stack/)")
            for name in PROCESSES:
                print(f"    {name}: {stop_record(name)}")
            raise


def start_stack(config: dict[str, Any], template: Template, concurrency: int, started: float) -> int:
    say(f"starting the emulator (moto + Lambda forward) on 127.0.0.1:{config['moto_port']}")
    launcher = start_launcher(config, template)
    waited = wait_until(
        "the emulator",
        lambda: moto_health(config) is not None,
        LAUNCHER_READY_SECONDS,
        launcher,
        STATE_DIR / "moto.log",
    )
    print(f"    ready in {waited:.1f} s")
    say(
        f"starting cargo lambda watch on 127.0.0.1:{config['lambda_port']} (up to {concurrency} instances per function)"
    )
    watch = start_watch(config, template, concurrency)
    waited = wait_until(
        "cargo lambda watch",
        lambda: answers_http(f"http://127.0.0.1:{config['lambda_port']}/"),
        WATCH_READY_SECONDS,
        watch,
        STATE_DIR / "lambda.log",
    )
    print(f"    ready in {waited:.1f} s")

    say("creating the stack's resources in moto (role, bucket, topic, table, 6 functions, state machine)")
    try:
        created = provision(config, template)
    except StackError:
        raise
    except Exception as error:  # boto errors: say which call failed
        raise StackError(f"creating the resources failed: {type(error).__name__}: {error}") from None
    _reset_iam_counts(config)
    recorded = {
        **_fingerprint(config),
        "launcher_sha256": _launcher_sha256(),
        "state_machine_arn": created["state_machine_arn"],
        "asl_sha256": created["asl_sha256"],
        "binaries": binaries_stamp(),
        "max_concurrency": concurrency,
    }
    CONFIG_FILE.write_text(json.dumps(recorded, indent=2) + "\n")
    write_env(config, created["state_machine_arn"])
    summary(config, created["state_machine_arn"], time.monotonic() - started, fresh=True)
    return 0


def already_up(config: dict[str, Any], recorded: dict[str, Any], template: Template, started: float) -> int:
    differences = _differences(recorded, _fingerprint(config))
    if recorded.get("launcher_sha256") != _launcher_sha256():
        differences.append("scripts/local_stack/launcher.py changed")
    if differences:
        raise StackError(
            "the local stack is already up with a different configuration ("
            + "; ".join(differences)
            + "). Run scripts/local-stack down first, then up again with the configuration you want."
        )
    if recorded.get("binaries") != binaries_stamp():
        say("the functions were rebuilt since up: restarting cargo lambda watch (moto keeps its state)")
        check_function_config(config)
        print(f"    lambda: {stop_record('lambda')}")
        wait_until(
            f"port {config['lambda_port']} to be free",
            lambda: not port_in_use(config["lambda_port"]),
            STOP_SECONDS,
            None,
            STATE_DIR / "lambda.log",
        )
        watch = start_watch(config, template, int(recorded.get("max_concurrency", 5)))
        wait_until(
            "cargo lambda watch",
            lambda: answers_http(f"http://127.0.0.1:{config['lambda_port']}/"),
            WATCH_READY_SECONDS,
            watch,
            STATE_DIR / "lambda.log",
        )
        recorded["binaries"] = binaries_stamp()
    asl_now = None
    try:
        asl_now = update_state_machine_if_changed(config, template, recorded)
    except StackError:
        raise
    except Exception as error:
        raise StackError(f"updating the state machine failed: {type(error).__name__}: {error}") from None
    if asl_now:
        recorded["asl_sha256"] = asl_now
    CONFIG_FILE.write_text(json.dumps(recorded, indent=2) + "\n")
    write_env(config, recorded["state_machine_arn"])
    summary(config, recorded["state_machine_arn"], time.monotonic() - started, fresh=False)
    return 0


def update_state_machine_if_changed(config: dict[str, Any], template: Template, recorded: dict[str, Any]) -> str | None:
    import boto3

    session = boto3.session.Session(region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    sfn = session.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{config['moto_port']}")
    lam = session.client("lambda", endpoint_url=f"http://127.0.0.1:{config['moto_port']}")
    arns = {f: lam.get_function(FunctionName=f)["Configuration"]["FunctionArn"] for f in FUNCTIONS}
    definition = substitute(ASL_FILE.read_text(), template.substitutions(arns))
    if _sha256(definition) == recorded.get("asl_sha256"):
        return None
    say(f"{ASL_FILE.relative_to(ROOT)} changed since up: updating the state machine")
    sfn.update_state_machine(stateMachineArn=recorded["state_machine_arn"], definition=definition)
    return _sha256(definition)


def _reset_iam_counts(config: dict[str, Any]) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{config['moto_port']}/_keyward/iam-calls", method="DELETE")
    with _NO_PROXY.open(request, timeout=5):
        pass


def summary(config: dict[str, Any], state_machine_arn: str, seconds: float, fresh: bool) -> None:
    settings = config["settings"]
    shown = (
        ", ".join(f"{k}={'***' if k in SECRET_VARS else v}" for k, v in sorted(settings.items()))
        or "all defaults (KEYWARD_MODE=approve)"
    )
    state = "up" if fresh else "already up"
    say(f"local stack {state} in {seconds:.1f} s")
    logs = STATE_DIR.relative_to(ROOT)
    print(f"    emulator (moto)     http://127.0.0.1:{config['moto_port']}   log {logs}/moto.log")
    print(f"    functions           http://127.0.0.1:{config['lambda_port']}   log {logs}/lambda.log")
    print(f"    state machine       {state_machine_arn}")
    print(f"    approval pages      http://127.0.0.1:{config['lambda_port']}/lambda-url/approval/approvals/<id>")
    print(f"    configuration       {shown}")
    if config["iam_throttle_rps"]:
        print(f"    IAM throttle        {config['iam_throttle_rps']} requests/s")
    print(f"    environment         set -a; . {ENV_FILE.relative_to(ROOT)}; set +a")


def down() -> int:
    with state_lock():
        records = {name: read_record(name) for name in PROCESSES}
        if not any(records.values()):
            say("the local stack is not running (nothing recorded in target/local-stack/)")
        else:
            say("stopping the local stack")
            for name in PROCESSES:
                print(f"    {name}: {stop_record(name)}")
        ENV_FILE.unlink(missing_ok=True)
        CONFIG_FILE.unlink(missing_ok=True)
    return 0


def status() -> int:
    records = {name: read_record(name) for name in PROCESSES}
    alive = {name: is_alive(record) for name, record in records.items()}
    try:
        recorded = json.loads(CONFIG_FILE.read_text())
    except (OSError, ValueError):
        recorded = None
    for name in PROCESSES:
        record = records[name]
        label = {"moto": "emulator (moto)", "lambda": "cargo lambda watch"}[name]
        if record is None:
            print(f"{label:20} not running")
        else:
            print(f"{label:20} {'running' if alive[name] else 'NOT running'} (pid {record['pid']})")
    if recorded is not None and all(alive.values()):
        healthy = moto_health(recorded) is not None and answers_http(f"http://127.0.0.1:{recorded['lambda_port']}/")
        answering = "answering" if healthy else "NOT answering"
        print(f"{'ports':20} moto {recorded['moto_port']}, lambda {recorded['lambda_port']} ({answering})")
        print(f"{'state machine':20} {recorded.get('state_machine_arn')}")
        print(f"{'environment':20} {ENV_FILE.relative_to(ROOT)}")
        return 0 if healthy else 1
    if not any(records.values()):
        return 3
    return 1


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    try:
        if command == "up":
            return up()
        if command == "down":
            return down()
        if command == "status":
            return status()
    except StackError as error:
        print(f"local-stack {command}: {error}", file=sys.stderr)
        return 1
    print("usage: scripts/local-stack up|down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
