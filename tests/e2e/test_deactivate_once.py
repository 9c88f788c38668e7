"""A deactivation happens once and is recorded even when it fails half-way (issue 12), on the local
stack. `KEYWARD_MODE=auto`, so no approval step stands between the sweep and deactivate.

- Invoked again after its run (a retry, a redrive, anyone allowed to invoke it), deactivate acts on
  nothing: a key re-enabled since stays Active, and no UpdateAccessKey is called.
- Killed half-way (the emulator refuses the journal's result entry of the second key, as if the
  function died right after that key's UpdateAccessKey), the journal under
  `runs/<exec>/deactivation/` names exactly the keys changed, the "deactivation failed part-way"
  message says so, and the execution ends FAILED.
"""

from __future__ import annotations

import functools
import json

import boto3
from helpers import LocalStack
from keyward_local.client import Seeder
from keyward_local.console import wait_until

SETTINGS = {"KEYWARD_MODE": "auto", "IAM_MAX_RPS": "200"}


def old_keys(s: Seeder, names: list[str]) -> dict[str, str]:
    """One key 200 days old (key-too-old) per user: user name -> key id, in the plan's order (users
    sorted by name, one key each)."""
    return {(u := s.user(name)): s.key(u, age_days=200, used_days_ago=1) for name in names}


def invoke_deactivate(stack: LocalStack, execution_name: str) -> dict[str, object]:
    """Invokes the deactivate function directly (the Lambda Invoke API the emulator serves) with the
    run's event, as a retry or a redrive would; its answer."""
    lam = boto3.session.Session().client("lambda")
    event = {"run": {"bucket": stack.env["KEYWARD_REPORT_BUCKET"], "execution_name": execution_name}}
    answer = lam.invoke(FunctionName="deactivate", Payload=json.dumps(event).encode())
    payload: dict[str, object] = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return payload


def journal_objects(stack: LocalStack, execution_name: str) -> list[str]:
    """The object names under the run's `deactivation/`, relative to it, sorted."""
    prefix = f"runs/{execution_name}/deactivation/"
    listed = stack.s3.list_objects_v2(Bucket=stack.env["KEYWARD_REPORT_BUCKET"], Prefix=prefix)
    return sorted(o["Key"].removeprefix(prefix) for o in listed.get("Contents", []))


def key_reads(stack: LocalStack, user: str, key: str, status: str) -> bool:
    """Whether `key` of `user` reads `status` now."""
    return stack.key_status(user, key) == status


def section(text: str, title: str) -> str:
    """The list titled `title` in a plain-text message, up to the next blank line."""
    start = text.index(title)
    return text[start:].split("\n\n", 1)[0]


def test_invoked_again_after_its_run_a_re_enabled_key_stays_active(stack: LocalStack, account: Seeder) -> None:
    keys = old_keys(account, ["a"])
    ((user, key),) = keys.items()
    sweep = stack.sweep("once")
    sweep.succeeds()
    assert stack.key_status(user, key) == "Inactive"

    # Someone re-enables the key (IAM shows it after its read lag); then deactivate is invoked
    # again with the run's event.
    stack.iam.update_access_key(UserName=user, AccessKeyId=key, Status="Active")
    wait_until("the re-enabled key to read Active", functools.partial(key_reads, stack, user, key, "Active"), 30)
    updates = stack.iam_calls().get("UpdateAccessKey", 0)
    answer = invoke_deactivate(stack, sweep.name)

    assert answer["already_executed"] is True, answer
    assert (answer["deactivated"], answer["skipped"], answer["failed"]) == (1, 0, 0), answer
    assert stack.key_status(user, key) == "Active", "the re-enabled key stays Active"
    assert stack.iam_calls().get("UpdateAccessKey", 0) == updates, "no UpdateAccessKey call"
    # The first run's journal, untouched by the second invoke; `settled` when the emulator's IAM read
    # lag made the first read-back see the key still Active.
    written = journal_objects(stack, sweep.name)
    entry = f"journal/0000-{key}"
    assert [o for o in written if o != f"{entry}-settled.json"] == [
        "claim.json",
        "done.json",
        f"{entry}-intent.json",
        f"{entry}-result.json",
    ], written


def test_killed_half_way_the_journal_names_the_changed_keys_and_the_run_fails_saying_so(
    stack: LocalStack, account: Seeder
) -> None:
    keys = old_keys(account, ["a", "b", "c"])
    (a, key_a), (b, key_b), (c, key_c) = keys.items()
    # The second key's result entry cannot be written: deactivate stops right after its
    # UpdateAccessKey, the journal holding its intent and no result.
    stack.inject("s3:PutObject", match=f"0001-{key_b}-result", count=None, error="AccessDenied")

    sweep = stack.sweep("half-way")
    status = sweep.finish()

    assert status == "FAILED", f"the run ended {status}\n{sweep.diagnosis()}"
    described = stack.sfn.describe_execution(executionArn=sweep.arn)
    assert described.get("error") == "DeactivationFailed", described
    assert "Notify Deactivation Failed" in sweep.states(), sweep.states()
    assert [f["injected"] for f in stack.faults()] == [1]
    # The journal: a changed, b called without a result (possibly changed), c never reached.
    assert journal_objects(stack, sweep.name) == [
        "claim.json",
        f"journal/0000-{key_a}-intent.json",
        f"journal/0000-{key_a}-result.json",
        f"journal/0001-{key_b}-intent.json",
    ]
    # And IAM agrees (once past its read lag): what the journal says changed or may have changed did;
    # nothing else did.
    for user, key in ((a, key_a), (b, key_b)):
        reads_inactive = functools.partial(key_reads, stack, user, key, "Inactive")
        wait_until(f"{key} to read Inactive", reads_inactive, 30)
    assert stack.key_status(c, key_c) == "Active"

    failed = [m for m in sweep.messages() if "deactivation FAILED part-way" in (m.get("subject") or "")]
    assert len(failed) == 1, sweep.subjects()
    expected = "keyward: deactivation FAILED part-way: 1 key changed, 1 possibly changed, 1 not touched"
    assert failed[0]["subject"] == expected
    text = failed[0]["message"]
    assert key_a in section(text, "Changed (deactivated) (1)"), text
    assert key_b in section(text, "Possibly changed (1)"), text
    assert key_c in section(text, "Not touched (1)"), text
    assert "AwsCallFailed" in text, text
