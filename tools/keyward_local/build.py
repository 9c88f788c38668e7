"""`make build`: the release build of the six functions with the very command `sam build` runs.

`sam build` builds each function of template.yaml (`BuildMethod: rust-cargolambda`) with the Rust
workflow of aws-lambda-builders: `cargo lambda build --release --arm64 --bin <Binary>` in the
function's CodeUri (aws_lambda_builders/workflows/rust_cargo/actions.py, `build_command`). Rather
than copy that command, this module asks the same workflow, from the aws-lambda-builders that the
pinned SAM CLI brings into .venv/, for each function's command and runs it; so a SAM upgrade that
changes the command changes `make build` with it. cargo-lambda cross-links with the zig that
pyproject.toml pins.

Where the arm64 Rust standard library is not installed (`rustup target add aarch64-unknown-linux-gnu`
downloads from the Rust project's servers, which CI cannot reach), the command is SAM's with
`--arm64` replaced by `--x86-64`: the same cargo-lambda, zig, flags, profile and sources, another
instruction set. The binaries' sizes then differ a little from the deployed ones (docs/testing.md).

SAM runs one command per function; `make build` runs them as one cargo invocation, SAM's command
with every function's `--bin` (`one_invocation`, which refuses commands that differ in anything
else). The artifacts are the same: with no `-p`, cargo resolves the workspace's features the same
way whichever of its binaries are asked for, and each binary is still linked on its own under the
release profile (LTO, one codegen unit). What changes is the time: cargo runs the six final
link-time optimisations, each on one core, side by side instead of one after another.

`python -m keyward_local.build` builds, prints each function's size and fails when the template names
no function, a build fails, or a bootstrap is over the budget."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

# aws-lambda-builders ships no type information; these are the two names this module uses.
from aws_lambda_builders.architecture import ARM64, X86_64  # type: ignore[import-untyped]
from aws_lambda_builders.workflow import BuildMode  # type: ignore[import-untyped]
from aws_lambda_builders.workflows.rust_cargo.actions import (  # type: ignore[import-untyped]
    RustCargoLambdaBuildAction,
)

from keyward_local.console import LocalStackError, say
from keyward_local.paths import ROOT
from keyward_local.template import Template

#: The size budget of each release binary (issue #6): 10 MB.
MAX_BINARY_BYTES = 10_000_000
ARM64_TARGET = "aarch64-unknown-linux-gnu"


@dataclass(frozen=True)
class _Cargo:
    """What aws-lambda-builders' action reads of its resolved `cargo` binary."""

    binary_path: str = "cargo"


def sam_command(binary: str, architecture: str, runtime: str) -> list[str]:
    """The command `sam build` runs for the function whose `BuildProperties.Binary` is `binary`."""
    action = RustCargoLambdaBuildAction(
        str(ROOT),
        {"cargo": _Cargo()},
        BuildMode.RELEASE,
        None,
        runtime=runtime,
        architecture=architecture,
        handler=binary,
    )
    command: list[str] = action.build_command()
    return command


def arm64_target_installed() -> bool:
    """Whether rustup has the arm64 standard library that `--arm64` links against."""
    done = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True, check=False)
    return ARM64_TARGET in done.stdout.split()


def build_commands(template: Template, arm64_available: bool) -> dict[str, list[str]]:
    """Each function's build command: SAM's, for x86_64 where arm64 cannot be built here."""
    architecture = ARM64 if template.architecture == "arm64" else X86_64
    commands = {}
    for binary in template.functions:
        command = sam_command(binary, architecture, template.runtime)
        if architecture == ARM64 and not arm64_available:
            command = ["--x86-64" if part == "--arm64" else part for part in command]
        commands[binary] = command
    return commands


def one_invocation(commands: dict[str, list[str]]) -> list[str]:
    """The commands of `commands` (binary → SAM's command for it) as one: the same command with
    every binary's `--bin`. Commands that differ in anything but their `--bin <binary>` cannot be
    merged and are refused."""
    common: list[str] | None = None
    for binary, command in commands.items():
        rest = list(command)
        at = next((i for i in range(len(rest) - 1) if rest[i] == "--bin" and rest[i + 1] == binary), None)
        if at is None:
            raise LocalStackError(f"the build command of {binary} has no --bin {binary}: {' '.join(command)}")
        del rest[at : at + 2]
        if common is None:
            common = rest
        elif rest != common:
            raise LocalStackError(f"the build commands differ beyond --bin: {' '.join(command)}")
    if common is None:
        raise LocalStackError("no build command")
    return common + [part for binary in commands for part in ("--bin", binary)]


def main() -> int:
    """Builds the six functions and checks their sizes."""
    try:
        template = Template.load()
        if not template.functions:
            raise LocalStackError("template.yaml names no function")
        arm64 = arm64_target_installed()
        if template.architecture == "arm64" and not arm64:
            say(f"{ARM64_TARGET} is not installed: building for x86_64 with SAM's command otherwise unchanged")
        # sam build does not pass --locked; the lock is checked once here instead, so a stale
        # Cargo.lock fails the build rather than being rewritten.
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        # cargo-lambda and zig (python-zig) are the pinned ones of .venv/, as `make deploy` gives SAM.
        env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        command = one_invocation(build_commands(template, arm64))
        say(" ".join(command))
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        say(f"built in {time.monotonic() - started:.0f} s:")
        too_big = []
        for binary in template.functions:
            bootstrap = ROOT / "target" / "lambda" / binary / "bootstrap"
            if not bootstrap.is_file():
                raise LocalStackError(f"missing {bootstrap}")
            size = bootstrap.stat().st_size
            print(f"{binary:<14} {size:>9} bytes")
            if size >= MAX_BINARY_BYTES:
                too_big.append(f"{bootstrap} is over the budget of {MAX_BINARY_BYTES} bytes")
        if too_big:
            raise LocalStackError("; ".join(too_big))
    except subprocess.CalledProcessError as error:
        print(f"build: {' '.join(map(str, error.cmd))} failed ({error.returncode})", file=sys.stderr)
        return 1
    except LocalStackError as error:
        print(f"build: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
