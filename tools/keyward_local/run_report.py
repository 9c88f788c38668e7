"""The run report (runs/<execution>/report.json, keyward_core::run_report::RunReport) as the local
stack's Python reads it: the fields the demo, the bench and the end-to-end tests look at, typed. The
Rust types are the definition; these only describe the JSON they write."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class KeyRef(TypedDict):
    """One access key of one user in one account (keyward_core::model::KeyRef)."""

    #: The 12-digit account the user is in (since schema version 2).
    account_id: str
    user_name: str
    access_key_id: str


class Finding(TypedDict):
    """One finding (keyward_core::policy::Finding)."""

    rule: str
    account_id: str
    user_name: str
    #: None for a finding about the user (no-mfa).
    access_key_id: str | None


class PlanStatus(TypedDict):
    """The plan's status: {"kind": "awaiting-approval" | "automatic" | "cap-exceeded" | "account-cap-exceeded" | …}."""

    kind: str


class Plan(TypedDict):
    """The keys planned for deactivation, and whether they may be acted on."""

    keys: list[KeyRef]
    status: PlanStatus


class ExemptionSource(TypedDict):
    """Why a user is exempt: {"kind": "config-name", "name": …}, {"kind": "config-path", "prefix": …},
    or {"kind": "tag", "until": "YYYY-MM-DD", "reason": … | None} (keyward_core::exemption)."""

    kind: str
    name: NotRequired[str]
    prefix: NotRequired[str]
    until: NotRequired[str]
    reason: NotRequired[str | None]


class Exemption(TypedDict):
    """An exemption honoured, and the rules it held back (keyward_core::policy::Exemption)."""

    #: The account the user is in (absent in a report written before it was recorded).
    account_id: NotRequired[str]
    user_name: str
    source: ExemptionSource
    suppressed: list[str]


class ExemptionProblemKind(TypedDict):
    """What is wrong with an exemption tag: {"kind": "malformed-date" | "reason-without-until" |
    "old-format"}, {"kind": "expired", "until": …}, or {"kind": "too-far-ahead", "until": …,
    "latest": …, "max_exemption_days": …}."""

    kind: str
    until: NotRequired[str]
    latest: NotRequired[str]
    max_exemption_days: NotRequired[int]


class ExemptionProblem(TypedDict):
    """An exemption tag that does not exempt (keyward_core::exemption::ExemptionProblem)."""

    #: The account the user is in (absent in a report written before it was recorded).
    account_id: NotRequired[str]
    user_name: str
    #: The tag's key: keyward:exempt-until, keyward:exempt-reason or the old keyward:exempt.
    tag: str
    tag_value: str
    problem: ExemptionProblemKind


class Evaluation(TypedDict):
    """What the policy found in the account."""

    findings: list[Finding]
    warnings: list[KeyRef]
    exemptions: list[Exemption]
    exemption_problems: list[ExemptionProblem]
    inactive_keys: list[KeyRef]
    plan: Plan


class Decision(TypedDict):
    """The recorded decision on the plan."""

    approved: list[KeyRef]
    #: The approver: {"kind": "link-holder", "source_ip": …, "user_agent": …}, {"kind": "automatic"}, …
    decided_by: dict[str, str | None]
    decided_at: str


class Outcome(TypedDict):
    """What happened to one planned key: {"kind": "deactivated"}, {"kind": "skipped", "reason": {…}},
    {"kind": "failed", "error": …}."""

    kind: str
    reason: NotRequired[dict[str, str]]
    error: NotRequired[str]


class Action(TypedDict):
    """What the run did with one planned key."""

    account_id: str
    user_name: str
    access_key_id: str
    outcome: Outcome


class RunReport(TypedDict):
    """runs/<execution>/report.json."""

    #: 2 since every key carries its account_id (keyward_core::run_report::REPORT_SCHEMA_VERSION).
    schema_version: int
    execution_name: str
    #: The account swept (from the execution's ARN); absent when list-users was invoked by hand.
    account_id: NotRequired[str]
    #: The policy configuration of the run (mode, mfa_scope, …).
    config: dict[str, object]
    users_listed: int
    users_checked: int
    users_not_evaluated: list[str]
    #: Why the credential report could not be used (every user was then checked live); absent otherwise.
    report_unavailable: NotRequired[str]
    evaluation: Evaluation
    #: null until a decision is recorded.
    decision: Decision | None
    actions: list[Action]
