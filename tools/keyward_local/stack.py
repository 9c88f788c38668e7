"""`scripts/local-stack up` (after scripts/local-stack has installed .venv/ and built the functions):
starts, on 127.0.0.1 only, the emulator (`keyward_local.emulator`) on MOTO_PORT with the Function URL
front on LAMBDA_PORT, `cargo lambda watch` behind it on LAMBDA_PORT+1 and, under APPROVER_AUTH=oidc,
the local OpenID provider on OIDC_PORT (`keyward_local.oidc`), creates the stack's
resources in moto as template.yaml declares them (under KEYWARD_SCOPE=organization, an organisation
around them: `keyward_local.org`), and writes target/local-stack/env. Idempotent: a
stack already up with the same configuration is kept (cargo lambda watch restarted when the functions
were rebuilt, the state machine updated when its definition changed). Every wait is bounded."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import time

from keyward_local.console import LocalStackError, answers_http, http_json, say, wait_until
from keyward_local.oidc import (
    ACCOUNTS,
    APPROVER_AUTH_VAR,
    CLIENT_ID_VAR,
    LOG_FILE,
    SECRET_FILE,
    client_secret,
    discovery,
    local_issuer,
    redirect_uri,
    start_provider,
    wait_for_provider,
)
from keyward_local.org import create_organization
from keyward_local.paths import (
    ACCOUNT_ID,
    ASL_FILE,
    BINARY_DIR,
    CONFIG_FILE,
    ENV_FILE,
    PAGE_ITEMS_VAR,
    READ_LAG_VAR,
    REPORT_DELAY_VAR,
    ROOT,
    SCOPE_VAR,
    SECRET_VARS,
    STATE_DIR,
    VENV_BIN,
)
from keyward_local.processes import (
    PROCESSES,
    STOP_SECONDS,
    is_alive,
    port_in_use,
    read_record,
    spawn,
    state_lock,
    stop_all,
    stop_record,
    who_listens,
)
from keyward_local.provision import create_function_roles, create_secret, provision, update_state_machine_if_changed
from keyward_local.roles import check_profiles, role_name
from keyward_local.running import moto_health, read_recorded
from keyward_local.settings import (
    Recorded,
    StackConfig,
    differences,
    fingerprint,
    function_env,
    no_proxy,
    stack_env,
    wanted_config,
    watch_port,
)
from keyward_local.template import Template

#: The emulator's sources: a stack started from other sources is restarted, not reused.
EMULATOR_DIR = ROOT / "tools" / "keyward_local" / "emulator"
#: The `cargo` cargo lambda watch starts the function instances with: the built binary, at once.
WATCH_CARGO = ROOT / "tools" / "keyward_local" / "watch_bin" / "cargo"
#: Upper bound on cargo lambda's instances per function (--concurrency).
MAX_INSTANCES = 10

LAUNCHER_READY_SECONDS = 30
WATCH_READY_SECONDS = 120
CONFIG_CHECK_SECONDS = 20


# --------------------------------------------------------------------------------------------------
# The emulator and cargo lambda watch (the OpenID provider: keyward_local.oidc)


def start_emulator(config: StackConfig, template: Template) -> subprocess.Popen[bytes]:
    """Starts the emulator on MOTO_PORT and its Function URL front on LAMBDA_PORT, forwarding Lambda to
    cargo lambda watch with the template's timeouts."""
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "keyward_local.emulator.app",
        "--port",
        str(config["moto_port"]),
        "--lambda-port",
        str(config["lambda_port"]),
        "--watch-port",
        str(watch_port(config)),
        "--function-urls",
        ",".join(template.function_urls),
        "--function-timeouts",
        ",".join(f"{name}={seconds}" for name, seconds in sorted(template.timeouts.items())),
        "--default-timeout",
        str(template.default_timeout),
    ]
    if config["iam_throttle_rps"]:
        command += ["--iam-throttle-rps", str(config["iam_throttle_rps"])]
    command += ["--iam-read-lag-seconds", config["strict"][READ_LAG_VAR]]
    command += ["--credential-report-delay-seconds", config["strict"][REPORT_DELAY_VAR]]
    command += ["--iam-page-items", config["strict"][PAGE_ITEMS_VAR]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(no_proxy())
    env["PYTHONUNBUFFERED"] = "1"
    return spawn("moto", command, env, STATE_DIR / "moto.log")


def start_watch(
    config: StackConfig, template: Template, concurrency: int, secret_arn: str | None
) -> subprocess.Popen[bytes]:
    """Starts cargo lambda watch on LAMBDA_PORT+1 (behind the emulator's front), serving the functions with
    the stack's environment."""
    timeout = max(template.timeouts.values(), default=template.default_timeout)
    command = [
        str(VENV_BIN / "cargo-lambda"),
        "lambda",
        "watch",
        "--ignore-changes",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        str(watch_port(config)),
        "--timeout",
        str(timeout),
        "--concurrency",
        str(concurrency),
    ]
    env = function_env(config, secret_arn)
    # Its `cargo run` of each instance runs the binary `up` built (WATCH_CARGO).
    env["PATH"] = f"{WATCH_CARGO.parent}{os.pathsep}{env['PATH']}"
    return spawn("lambda", command, env, STATE_DIR / "lambda.log", template.functions)


def _wait_for_watch(config: StackConfig, watch: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    wait_until(
        "cargo lambda watch",
        lambda: answers_http(f"http://127.0.0.1:{watch_port(config)}/"),
        WATCH_READY_SECONDS,
        poll=0.1,
        process=watch,
        log=STATE_DIR / "lambda.log",
    )
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------------
# What `up` records


def emulator_sha256() -> str:
    """A digest of the emulator's sources."""
    digest = hashlib.sha256()
    for source in sorted(EMULATOR_DIR.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def binaries_stamp(template: Template) -> dict[str, float]:
    """The modification time of each built function."""
    return {f: (BINARY_DIR / f).stat().st_mtime if (BINARY_DIR / f).exists() else 0.0 for f in template.functions}


def write_env(config: StackConfig, state_machine_arn: str, org_accounts: list[str]) -> None:
    """Writes target/local-stack/env at once (a reader never sees half of it)."""
    env = stack_env(config, state_machine_arn=state_machine_arn, org_accounts=org_accounts)
    text = "".join(f"{key}={value}\n" for key, value in env.items())
    temporary = ENV_FILE.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(ENV_FILE)


def _reset_iam_counts(config: StackConfig) -> None:
    """Provisioning's own IAM calls do not count: the tests count keyward's."""
    http_json("DELETE", f"http://127.0.0.1:{config['moto_port']}/_keyward/iam-calls", timeout=5)


# --------------------------------------------------------------------------------------------------
# The configuration, checked by the functions themselves


def check_function_config(config: StackConfig, template: Template, secret_arn: str | None) -> None:
    """Runs each built function outside the Lambda runtime: it reads its configuration (and keyward's
    secret, from the running emulator) first and then stops (no runtime API). A configuration error
    fails `up` now, instead of an invocation hanging in cargo lambda watch (a function that exits at
    start-up never answers)."""
    env = function_env(config, secret_arn)
    env["RUST_BACKTRACE"] = "0"
    for name in [k for k in env if k.startswith("AWS_LAMBDA_")]:
        del env[name]
    running = {}
    for function in template.functions:
        binary = BINARY_DIR / function
        if not binary.exists():
            raise LocalStackError(f"{binary} is missing: the build did not produce it")
        # As its role, as under cargo lambda watch (Cargo.toml's metadata gives each its AWS_PROFILE).
        own = {**env, "AWS_PROFILE": role_name(function)}
        running[function] = subprocess.Popen(
            [str(binary)], env=own, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
        raise LocalStackError("the functions refuse this configuration:\n  " + "\n  ".join(unique))


# --------------------------------------------------------------------------------------------------
# up


def up() -> int:
    """Brings the stack up, or keeps the one already up with this configuration."""
    started = time.monotonic()
    config = wanted_config()
    template = Template.load()
    if not ASL_FILE.exists():
        raise LocalStackError(f"{ASL_FILE} does not exist")
    check_profiles(template)
    with state_lock():
        records = {name: read_record(name) for name in PROCESSES}
        alive = {name: is_alive(record) for name, record in records.items()}
        moto_record = records["moto"]
        if alive["moto"] and alive["lambda"] and moto_record is not None:
            recorded = read_recorded()
            health = moto_health(recorded) if recorded is not None else None
            if (
                recorded is not None
                and health is not None
                and health.get("pid") == moto_record["pid"]
                and answers_http(f"http://127.0.0.1:{watch_port(recorded)}/")
                and _provider_answers(recorded, alive["oidc"])
            ):
                return already_up(config, recorded, template, started)
        if any(alive.values()) or any(records.values()):
            say("found a partial or stale local stack: stopping what is left of it")
            stop_all()
        ENV_FILE.unlink(missing_ok=True)
        CONFIG_FILE.unlink(missing_ok=True)
        SECRET_FILE.unlink(missing_ok=True)

        ports: list[tuple[str, int]] = [
            ("MOTO_PORT", config["moto_port"]),
            ("LAMBDA_PORT", config["lambda_port"]),
            ("LAMBDA_PORT+1, cargo lambda watch's", watch_port(config)),
        ]
        if config["oidc_port"] is not None:
            ports.append(("OIDC_PORT", config["oidc_port"]))
        for variable, port in ports:
            if port_in_use(port):
                owner = who_listens(port)
                raise LocalStackError(
                    f"port {port} ({variable}) on 127.0.0.1 is in use by another process"
                    f"{': ' + owner if owner else ''}, not started by scripts/local-stack. "
                    f"Stop it, or choose another port: {variable.split('+')[0]}=<port> scripts/local-stack up"
                )

        # cargo lambda starts up to this many instances of a function (each a process) and queues
        # the calls beyond; the Map's children share IAM_MAX_RPS anyway.
        concurrency = min(int(template.parameter("MaxConcurrency")), MAX_INSTANCES)
        try:
            return start_stack(config, template, concurrency, started)
        except BaseException:
            say("up failed: stopping what it started (logs stay in target/local-stack/)")
            stop_all()
            raise


def _provider_answers(recorded: Recorded, alive: bool) -> bool:
    """Whether the stack's OpenID provider serves its discovery document (true when it runs none)."""
    port = recorded.get("oidc_port")
    return port is None or (alive and discovery(local_issuer(port)) is not None)


def start_provider_of(config: StackConfig) -> tuple[str, subprocess.Popen[bytes], str] | None:
    """Starts the local OpenID provider when the configuration asks for it (`wait_for_provider` waits
    for it). Returns the client secret it was given, its process and its issuer (None when no provider
    runs)."""
    port = config["oidc_port"]
    if port is None:
        return None
    settings = config["settings"]
    secret = client_secret(settings)
    callback = redirect_uri(stack_env(config)["KEYWARD_APPROVAL_BASE_URL"])
    say(f"starting the OpenID provider (oidc-provider) on 127.0.0.1:{port}, client {settings[CLIENT_ID_VAR]}")
    return secret, start_provider(port, settings[CLIENT_ID_VAR], secret, callback), local_issuer(port)


def start_stack(config: StackConfig, template: Template, concurrency: int, started: float) -> int:
    """Starts the servers, creates the resources, records them and writes the environment. What does
    not depend on another step runs beside it: the state machine's substitution from the start, the
    OpenID provider's start-up with the emulator's, the resources in moto and the organisation with the
    functions' check and cargo lambda watch's start-up; each is still waited for (bounded) before what
    needs it."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="up") as beside:
        definition = beside.submit(template.state_machine_definition)
        say(
            f"starting the emulator (moto + Lambda forward) on 127.0.0.1:{config['moto_port']},"
            f" its Function URLs on 127.0.0.1:{config['lambda_port']}"
        )
        emulator = start_emulator(config, template)
        provider = start_provider_of(config)
        waiting = time.monotonic()
        wait_until(
            "the emulator",
            lambda: moto_health(config) is not None,
            LAUNCHER_READY_SECONDS,
            poll=0.1,
            process=emulator,
            log=STATE_DIR / "moto.log",
        )
        print(f"    emulator ready in {time.monotonic() - waiting:.1f} s")
        # The functions read keyward's secret at start-up: it exists before they are first started.
        try:
            secret_arn = create_secret(config, provider[0] if provider else None)
            role_arns = create_function_roles(config, template, secret_arn)
        except LocalStackError:
            raise
        except Exception as error:  # boto errors: say which call failed
            raise LocalStackError(
                f"creating keyward's secret and the functions' roles failed: {type(error).__name__}: {error}"
            ) from None
        say(
            f"creating the stack's resources in moto (bucket, topic, table, {len(template.functions)} functions,"
            " state machine), beside the next steps"
        )
        resources = beside.submit(provision, config, template, role_arns, definition.result)
        organization, members = config["organization"], None
        if organization is not None:
            say(f"creating the organisation: {organization['members']} member accounts with their roles, beside")
            members = beside.submit(create_organization, config, role_arns)
        if provider is not None:
            # keyward's approval function reads the provider's discovery document at start-up.
            _, process, issuer = provider
            print(f"    OpenID provider ready in {wait_for_provider(issuer, process):.1f} s")
        say("checking the configuration with the built functions")
        check_function_config(config, template, secret_arn)
        say(
            f"starting cargo lambda watch on 127.0.0.1:{watch_port(config)}"
            f" (up to {concurrency} instances per function)"
        )
        watch = start_watch(config, template, concurrency, secret_arn)
        print(f"    ready in {_wait_for_watch(config, watch):.1f} s")
        try:
            state_machine_arn, asl_sha256 = resources.result()
        except LocalStackError:
            raise
        except Exception as error:  # boto errors: say which call failed
            raise LocalStackError(f"creating the resources failed: {type(error).__name__}: {error}") from None
        try:
            organization_id, org_accounts = members.result() if members is not None else (None, [])
        except LocalStackError:
            raise
        except Exception as error:  # boto errors: say which call failed
            raise LocalStackError(f"creating the organisation failed: {type(error).__name__}: {error}") from None
    _reset_iam_counts(config)
    recorded: Recorded = {
        **fingerprint(config),
        "emulator_sha256": emulator_sha256(),
        "state_machine_arn": state_machine_arn,
        "secret_arn": secret_arn,
        "asl_sha256": asl_sha256,
        "binaries": binaries_stamp(template),
        "max_concurrency": concurrency,
        "organization_id": organization_id,
        "org_accounts": org_accounts,
    }
    CONFIG_FILE.write_text(json.dumps(recorded, indent=2) + "\n")
    write_env(config, state_machine_arn, org_accounts)
    summary(config, state_machine_arn, time.monotonic() - started, fresh=True, org_accounts=org_accounts)
    return 0


def already_up(config: StackConfig, recorded: Recorded, template: Template, started: float) -> int:
    """Keeps the running stack: refreshes cargo lambda watch and the state machine when they changed."""
    found = differences(recorded, fingerprint(config))
    if recorded.get("emulator_sha256") != emulator_sha256():
        found.append(f"{EMULATOR_DIR.relative_to(ROOT)} changed")
    if found:
        raise LocalStackError(
            "the local stack is already up with a different configuration ("
            + "; ".join(found)
            + "). Run scripts/local-stack down first, then up again with the configuration you want."
        )
    if recorded.get("binaries") != binaries_stamp(template):
        say("the functions were rebuilt since up: restarting cargo lambda watch (moto keeps its state)")
        check_function_config(config, template, recorded.get("secret_arn"))
        print(f"    lambda: {stop_record('lambda')}")
        wait_until(
            f"port {watch_port(config)} to be free",
            lambda: not port_in_use(watch_port(config)),
            STOP_SECONDS,
            poll=0.2,
            log=STATE_DIR / "lambda.log",
        )
        concurrency = int(recorded.get("max_concurrency", 5))
        _wait_for_watch(config, start_watch(config, template, concurrency, recorded.get("secret_arn")))
        recorded["binaries"] = binaries_stamp(template)
    try:
        asl_now = update_state_machine_if_changed(
            config, template, recorded["state_machine_arn"], recorded["asl_sha256"]
        )
    except LocalStackError:
        raise
    except Exception as error:
        raise LocalStackError(f"updating the state machine failed: {type(error).__name__}: {error}") from None
    if asl_now:
        recorded["asl_sha256"] = asl_now
    CONFIG_FILE.write_text(json.dumps(recorded, indent=2) + "\n")
    org_accounts = recorded.get("org_accounts", [])
    write_env(config, recorded["state_machine_arn"], org_accounts)
    summary(config, recorded["state_machine_arn"], time.monotonic() - started, fresh=False, org_accounts=org_accounts)
    return 0


def summary(config: StackConfig, state_machine_arn: str, seconds: float, fresh: bool, org_accounts: list[str]) -> None:
    """What is running where, and how to use it."""
    settings = config["settings"]
    shown = (
        ", ".join(f"{k}={'***' if k in SECRET_VARS else v}" for k, v in sorted(settings.items()))
        or "all defaults (KEYWARD_MODE=approve)"
    )
    state = "up" if fresh else "already up"
    say(f"local stack {state} in {seconds:.1f} s")
    logs = STATE_DIR.relative_to(ROOT)
    print(f"    emulator (moto)     http://127.0.0.1:{config['moto_port']}   log {logs}/moto.log")
    print(f"    Function URLs       http://127.0.0.1:{config['lambda_port']}   (the emulator's front)")
    print(f"    functions           http://127.0.0.1:{watch_port(config)}   log {logs}/lambda.log")
    if config["oidc_port"] is not None:
        issuer = local_issuer(config["oidc_port"])
        print(f"    OpenID provider     {issuer}   log {LOG_FILE.relative_to(ROOT)}")
        print(f"    accounts            {', '.join(ACCOUNTS)} (sign in by name, any password)")
    print(f"    approver sign-in    {APPROVER_AUTH_VAR}={settings[APPROVER_AUTH_VAR]}")
    print(f"    state machine       {state_machine_arn}")
    members = f": members {', '.join(org_accounts)} (management account {ACCOUNT_ID})" if org_accounts else ""
    print(f"    scope               {SCOPE_VAR}={config['scope']}{members}")
    print(f"    approval pages      http://127.0.0.1:{config['lambda_port']}/lambda-url/approval/approvals/<id>")
    print(f"    configuration       {shown}")
    if config["iam_throttle_rps"]:
        print(f"    IAM throttle        {config['iam_throttle_rps']} requests/s")
    strict = config["strict"]
    print(f"    IAM read lag        {strict[READ_LAG_VAR]} s; credential report takes {strict[REPORT_DELAY_VAR]} s")
    pages = f"at most {strict[PAGE_ITEMS_VAR]} items" if int(strict[PAGE_ITEMS_VAR]) else "MaxItems items"
    print(f"    IAM pages           {pages}")
    print(f"    environment         set -a; . {ENV_FILE.relative_to(ROOT)}; set +a")


def main(argv: list[str]) -> int:
    """`up`."""
    try:
        if argv[1:] == ["up"]:
            return up()
    except LocalStackError as error:
        print(f"local-stack up: {error}", file=sys.stderr)
        return 1
    print("usage: scripts/local-stack up|down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
