"""The `cargo` that `cargo lambda watch` finds first (tools/keyward_local/watch_bin/cargo): a function
instance's `cargo run --bin <function>` runs the built binary at once, and everything else reaches
the real cargo unchanged. Checked on a copy of the script in a scratch checkout, with a stand-in
binary and a stand-in for the real cargo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from keyward_local.stack import WATCH_CARGO

#: How cargo lambda watch starts an instance (its log shows the command).
INSTANCE = ["run", "--color", "auto", "--manifest-path", "Cargo.toml", "--bin", "notify"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch checkout: the script, a built `notify` and, on PATH after it, a `cargo` that says so."""
    shim = tmp_path / "tools" / "keyward_local" / "watch_bin" / "cargo"
    shim.parent.mkdir(parents=True)
    shutil.copy2(WATCH_CARGO, shim)
    for path, says in (
        (tmp_path / "target" / "debug" / "notify", "built notify"),
        (tmp_path / "bin" / "cargo", "real cargo"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\necho "{says} $* profile=$AWS_PROFILE"\n')
        path.chmod(0o755)
    return tmp_path


def run(checkout: Path, *arguments: str) -> str:
    shim = checkout / "tools" / "keyward_local" / "watch_bin"
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{checkout / 'bin'}{os.pathsep}/usr/bin:/bin", "AWS_PROFILE": "p"}
    done = subprocess.run([str(shim / "cargo"), *arguments], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_an_instance_runs_the_built_binary_with_its_environment(checkout: Path) -> None:
    assert run(checkout, *INSTANCE) == "built notify  profile=p"


def test_anything_else_goes_to_the_real_cargo_unchanged(checkout: Path) -> None:
    assert run(checkout, "build", "--bin", "notify") == "real cargo build --bin notify profile=p"
    assert run(checkout, *INSTANCE, "--", "x") == f"real cargo {' '.join(INSTANCE)} -- x profile=p"
    assert run(checkout, "run", "--bin", "missing") == "real cargo run --bin missing profile=p"
