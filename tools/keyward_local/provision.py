"""The local stack's resources in moto, as template.yaml declares them: the roles of the functions and
the state machine (keyward_local.roles), the report bucket, the topic with a confirmed e-mail
subscriber, the DynamoDB tables (the approvals table with its TTL, the decisions table), the six
functions (placeholders: their invocations go to cargo lambda watch) and the state machine with its
substitutions resolved; and keyward's secret (`create_secret`), holding the Slack values and the
OpenID client secret given at `up`, which the functions read from the emulated Secrets Manager as
they would in AWS."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable

import boto3
from botocore.config import Config
from mypy_boto3_stepfunctions import SFNClient

from keyward_local.console import LocalStackError, http_json, say
from keyward_local.emulator.iam_auth import STATE_MACHINE_ROLE
from keyward_local.paths import ASL_FILE, REGION, ROOT
from keyward_local.roles import create_roles, iam_role_name, role_name, role_policies
from keyward_local.settings import BUCKET, STATE_MACHINE, TABLES, TOPIC, StackConfig, stack_env
from keyward_local.template import Template

#: The variables `up` writes into keyward's secret, and the key of each (keyward_core::secrets::keys).
SECRET_KEYS = {
    "SLACK_WEBHOOK_URL": "slack_webhook_url",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "OIDC_CLIENT_SECRET": "oidc_client_secret",
}
#: keyward's secret in the emulated Secrets Manager.
SECRET_NAME = "keyward"
#: The topic's subscriber, confirmed at `up` as a person confirms the mail (README, "Deploy").
APPROVER_EMAIL = "approver@example.com"

#: moto answers quickly, but the first requests race its start: retry them.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, proxies={})


def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")


def _endpoint(config: StackConfig) -> str:
    return f"http://127.0.0.1:{config['moto_port']}"


def sha256(text: str) -> str:
    """The hex sha256 of `text` (how `up` recognises a changed definition)."""
    return hashlib.sha256(text.encode()).hexdigest()


def create_secret(config: StackConfig, oidc_client_secret: str | None) -> str | None:
    """Writes the secret values given at `up` (Slack's, the OpenID client's) into keyward's secret, with
    `oidc_client_secret` (the one `up` generated for the local provider) when given, and returns its
    ARN (the functions' KEYWARD_SECRET_ARN); None, and no secret, when there is no value."""
    values = {key: config["settings"][var] for var, key in SECRET_KEYS.items() if var in config["settings"]}
    if oidc_client_secret is not None:
        values[SECRET_KEYS["OIDC_CLIENT_SECRET"]] = oidc_client_secret
    if not values:
        return None
    secrets = _session().client("secretsmanager", endpoint_url=_endpoint(config), config=_CLIENT_CONFIG)
    return str(secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps(values))["ARN"])


def subscribe_confirmed(moto_endpoint: str, topic_arn: str, email: str) -> str:
    """Subscribes `email` to the topic and confirms it as its owner would: with the token of the
    confirmation mail (read from GET /_keyward/sns-confirmations) and AuthenticateOnUnsubscribe, so
    that unsubscribing needs AWS credentials. Returns the subscription's ARN."""
    sns = _session().client("sns", endpoint_url=moto_endpoint, config=_CLIENT_CONFIG)
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=email)
    pending = http_json("GET", f"{moto_endpoint}/_keyward/sns-confirmations", timeout=5)
    if not isinstance(pending, list):
        raise LocalStackError(f"GET /_keyward/sns-confirmations answered {pending!r}, not a list")
    token = next((p["token"] for p in pending if p["topic_arn"] == topic_arn and p["endpoint"] == email), None)
    if token is None:
        raise LocalStackError(f"the subscription of {email} to {topic_arn} has no confirmation pending")
    confirmed = sns.confirm_subscription(TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true")
    return str(confirmed["SubscriptionArn"])


def create_function_roles(config: StackConfig, template: Template, secret_arn: str | None) -> dict[str, str]:
    """Creates the functions' and the state machine's roles (keyward_local.roles), with the secret's
    ARN as KeywardSecretArn, and writes the functions' credentials; returns each role's ARN. Before
    any function starts: a function without its credentials could not read keyward's secret."""
    session, endpoint = _session(), _endpoint(config)
    iam = session.client("iam", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    sts = session.client("sts", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    profiles = {iam_role_name(function): role_name(function) for function in template.functions}
    return create_roles(iam, sts, role_policies(template, {"KeywardSecretArn": secret_arn or ""}), profiles)


def provision(
    config: StackConfig, template: Template, role_arns: dict[str, str], definition_of: Callable[[], str]
) -> tuple[str, str]:
    """Creates the stack's resources in a fresh emulator, the functions with the roles `role_arns`
    names and the state machine with the definition `definition_of` gives (the template's substituted
    one: `up` computes it beside the other steps); returns the state machine's ARN and the sha256 of
    its definition."""
    session, endpoint = _session(), _endpoint(config)
    s3 = session.client("s3", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    sns = session.client("sns", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    lam = session.client("lambda", endpoint_url=endpoint, config=_CLIENT_CONFIG)
    sfn = session.client("stepfunctions", endpoint_url=endpoint, config=_CLIENT_CONFIG)

    s3.create_bucket(Bucket=BUCKET)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    subscribe_confirmed(endpoint, topic_arn, APPROVER_EMAIL)
    for logical_id, schema in template.tables().items():
        if logical_id not in TABLES:
            raise LocalStackError(
                f"template.yaml's table {logical_id} has no local name (keyward_local.settings.TABLES)"
            )
        table = TABLES[logical_id]
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": schema.hash_key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": schema.hash_key, "KeyType": "HASH"}],
        )
        if schema.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute}
            )

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("bootstrap", "#!/bin/sh\n# served by cargo lambda watch, see keyward_local.emulator\n")
    function_arns = []
    for function in template.functions:
        created = lam.create_function(
            FunctionName=function,
            Runtime="provided.al2023",
            Role=role_arns[iam_role_name(function)],
            Handler="bootstrap",
            Code={"ZipFile": archive.getvalue()},
            Timeout=template.timeouts.get(function, template.default_timeout),
            MemorySize=256,
            Description=f"keyward {function} (local stack: served by cargo lambda watch)",
        )
        function_arns.append(created["FunctionArn"])

    definition = definition_of()
    # substituted-asl names each function's ARN after its binary; moto must have named them so too.
    unknown = sorted(set(re.findall(r"arn:aws:lambda:[^\"]+", definition)) - set(function_arns))
    if unknown:
        raise LocalStackError(f"the state machine calls functions moto did not create: {unknown}")
    state_machine_arn = sfn.create_state_machine(
        name=STATE_MACHINE, definition=definition, roleArn=role_arns[STATE_MACHINE_ROLE], type="STANDARD"
    )["stateMachineArn"]
    expected = stack_env(config)
    if topic_arn != expected["KEYWARD_TOPIC_ARN"]:
        raise LocalStackError(f"moto named the topic {topic_arn}, expected {expected['KEYWARD_TOPIC_ARN']}")
    return state_machine_arn, sha256(definition)


def _sfn(config: StackConfig) -> SFNClient:
    return _session().client("stepfunctions", endpoint_url=_endpoint(config))


def update_state_machine_if_changed(
    config: StackConfig, template: Template, state_machine_arn: str, asl_sha256: str
) -> str | None:
    """Updates the running state machine when its substituted definition changed since `up`; returns
    the new definition's sha256, or None when nothing changed."""
    definition = template.state_machine_definition()
    if sha256(definition) == asl_sha256:
        return None
    say(f"{ASL_FILE.relative_to(ROOT)} changed since up: updating the state machine")
    _sfn(config).update_state_machine(stateMachineArn=state_machine_arn, definition=definition)
    return sha256(definition)
