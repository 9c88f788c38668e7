"""Where the local stack lives and the names every part of it shares: the checkout's files, the state
directory `scripts/local-stack up` writes (target/local-stack/: env, config.json, logs, process
records), the emulated account and region, and the configuration variables `up` reads."""

from __future__ import annotations

from pathlib import Path

#: The checkout: this package is tools/keyward_local/ in it.
ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / "target" / "local-stack"
#: The stack's environment (AWS_ENDPOINT_URL, KEYWARD_*), for `set -a; . target/local-stack/env`.
ENV_FILE = STATE_DIR / "env"
#: The configuration the running stack was brought up with (secrets by hash only).
CONFIG_FILE = STATE_DIR / "config.json"
LOCK_FILE = STATE_DIR / "lock"
#: The functions' role credentials, one profile per function (keyward_local.roles).
CREDENTIALS_FILE = STATE_DIR / "credentials"
VENV_BIN = ROOT / ".venv" / "bin"
ASL_FILE = ROOT / "statemachine" / "keyward.asl.json"
TEMPLATE_FILE = ROOT / "template.yaml"
#: Where `cargo build` puts the functions that `cargo lambda watch` serves.
BINARY_DIR = ROOT / "target" / "debug"

#: The account every local-stack request lands in (moto's default; the stack's test credentials map to it).
ACCOUNT_ID = "123456789012"
#: The stack's only region.
REGION = "us-east-1"

#: Configuration read from the environment at `up` and given to every function (keyward_core::config::vars),
#: except the secrets (SECRET_VARS), which `up` writes into keyward's secret instead.
CONFIG_VARS = (
    "KEYWARD_MODE",
    "SLACK_WEBHOOK_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_APPROVER_IDS",
    "SLACK_TEAM_ID",
    "PROTECTED_USERS",
    # Local stack only: lets a button's response_url point at a listener on 127.0.0.1 (template.yaml never sets it).
    "SLACK_RESPONSE_URL_PREFIX",
    "MAX_KEY_AGE_DAYS",
    "UNUSED_KEY_DAYS",
    "WARN_DAYS",
    "MFA_SCOPE",
    "NO_MFA_ACTION",
    "EXEMPT_USERS",
    "MAX_EXEMPTION_DAYS",
    "MAX_DEACTIVATIONS_PER_RUN",
    "MAX_DEACTIVATIONS_PER_ACCOUNT",
    "APPROVAL_TIMEOUT_SECONDS",
    "SCREENING",
    "BATCH_SIZE",
    "MAX_CONCURRENCY",
    "IAM_MAX_RPS",
    "APPROVER_AUTH",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "APPROVERS",
    # The organisation run: also read by `up` for the emulated organisation's shape (settings._organization).
    "KEYWARD_SCOPE",
    "ORG_INCLUDE",
    "ORG_EXCLUDE",
    "MEMBER_READ_ROLE",
    "MEMBER_WRITE_ROLE",
    "MAX_ACCOUNT_CONCURRENCY",
)
#: The variables `up` writes into keyward's secret (provision.SECRET_KEYS), never into an environment.
SECRET_VARS = ("SLACK_WEBHOOK_URL", "SLACK_SIGNING_SECRET", "OIDC_CLIENT_SECRET")
#: Local stack only: the emulator throttles IAM beyond this many requests per second.
THROTTLE_VAR = "IAM_THROTTLE_RPS"
#: Local stack only: reads show a key's old status this long after UpdateAccessKey (0: off).
READ_LAG_VAR = "IAM_READ_LAG_SECONDS"
#: Local stack only: the credential report takes this long to generate (0: at once).
REPORT_DELAY_VAR = "CREDENTIAL_REPORT_DELAY_SECONDS"
#: Local stack only: a page of an IAM listing holds at most this many items, even when MaxItems asks
#: for more, as IAM may answer (0: MaxItems alone).
PAGE_ITEMS_VAR = "IAM_PAGE_ITEMS"
#: The emulator's knobs `up` reads besides the throttle, with their defaults (seconds; items for
#: PAGE_ITEMS_VAR).
STRICT_VARS = {READ_LAG_VAR: "2", REPORT_DELAY_VAR: "5", PAGE_ITEMS_VAR: "100"}

#: member/keyward-member.yaml: the roles a StackSet deploys into each member account (keyward_local.org).
MEMBER_TEMPLATE_FILE = ROOT / "member" / "keyward-member.yaml"
#: Whether `up` emulates one account (`account`) or an organisation around it (`organization`).
SCOPE_VAR = "KEYWARD_SCOPE"
SCOPES = ("account", "organization")
#: Under `organization`: how many member accounts `up` creates.
ORG_MEMBERS_VAR = "ORG_MEMBER_ACCOUNTS"
#: The names of the member roles `up` creates in each member account (the member template's
#: ReadRoleName and WriteRoleName), with their defaults.
MEMBER_READ_ROLE_VAR = "MEMBER_READ_ROLE"
MEMBER_WRITE_ROLE_VAR = "MEMBER_WRITE_ROLE"
MEMBER_ROLE_DEFAULTS = {MEMBER_READ_ROLE_VAR: "keyward-read", MEMBER_WRITE_ROLE_VAR: "keyward-deactivate"}
#: The variables that shape the emulated organisation without being function configuration: the
#: member accounts are the local stack's own (KEYWARD_SCOPE and the member roles' names, which shape
#: it too, are in CONFIG_VARS: the functions read them).
ORG_VARS = (ORG_MEMBERS_VAR,)
#: The environment variable of target/local-stack/env listing the member accounts' ids.
ORG_ACCOUNTS_VAR = "KEYWARD_ORG_ACCOUNTS"
