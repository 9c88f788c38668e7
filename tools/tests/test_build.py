"""`make build` runs the command `sam build` runs (keyward_local.build): pinned here against the
aws-lambda-builders of the lock, so a SAM upgrade that changes the command is seen, not copied."""

from __future__ import annotations

import pytest
from aws_lambda_builders.architecture import ARM64  # type: ignore[import-untyped]
from keyward_local.build import build_commands, one_invocation, sam_command
from keyward_local.console import LocalStackError
from keyward_local.template import Template


def test_sam_builds_each_function_with_cargo_lambda_for_arm64_by_its_binary() -> None:
    assert sam_command("approval", ARM64, "provided.al2023") == [
        "cargo",
        "lambda",
        "build",
        "--release",
        "--arm64",
        "--bin",
        "approval",
    ]


def test_make_build_runs_sams_command_for_each_of_the_templates_functions() -> None:
    template = Template.load()
    assert (template.runtime, template.architecture) == ("provided.al2023", "arm64")
    commands = build_commands(template, arm64_available=True)
    assert list(commands) == template.functions
    assert len(commands) == 6
    for binary, command in commands.items():
        assert command == sam_command(binary, ARM64, template.runtime)


def test_without_the_arm64_target_only_the_instruction_set_changes() -> None:
    template = Template.load()
    arm64 = build_commands(template, arm64_available=True)
    x86_64 = build_commands(template, arm64_available=False)
    for binary, command in x86_64.items():
        assert command == ["--x86-64" if part == "--arm64" else part for part in arm64[binary]]
        assert "--arm64" not in command


def test_the_six_commands_run_as_one_invocation_with_every_bin() -> None:
    commands = build_commands(Template.load(), arm64_available=True)
    merged = one_invocation(commands)
    assert merged[:5] == ["cargo", "lambda", "build", "--release", "--arm64"]
    assert merged[5:] == [part for binary in commands for part in ("--bin", binary)]


def test_commands_that_differ_beyond_their_bin_are_not_merged() -> None:
    commands = {
        "approval": ["cargo", "lambda", "build", "--release", "--arm64", "--bin", "approval"],
        "notify": ["cargo", "lambda", "build", "--arm64", "--bin", "notify"],
    }
    with pytest.raises(LocalStackError, match="differ beyond --bin"):
        one_invocation(commands)
    with pytest.raises(LocalStackError, match="has no --bin notify"):
        one_invocation({"notify": ["cargo", "lambda", "build", "--bin", "approval"]})
