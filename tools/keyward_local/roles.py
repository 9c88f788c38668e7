"""Each function calls AWS as its own template role, and the emulator enforces it
(emulator/iam_auth.py).

`up` reads every function's and the state machine's `Policies` from template.yaml, resolves them
against the local stack (keyward_local.cfn), creates one IAM role per function and one for the state
machine with exactly those statements, and assumes each function's role through STS. A function's role
is named as SAM names the one it generates (`<stack>-<Function>Role`, without SAM's random suffix), so
it is never one of the member roles the management account also holds under KEYWARD_SCOPE=organization
(`keyward-read`, `keyward-deactivate`). The temporary credentials go to `target/local-stack/credentials`
(mode 0600), one profile per function (`role_name`); the workspace Cargo.toml gives each binary
`AWS_PROFILE` = that profile for `cargo lambda watch` only
(`[workspace.metadata.lambda.bin.<binary>.env]`), and the functions' environment has no static key,
so the SDK's default chain reads the profile: a function can only do what its template role allows,
and a permission the template forgot fails the end-to-end tests."""

from __future__ import annotations

import configparser
import json
import os
import tomllib
from collections.abc import Mapping

from mypy_boto3_iam import IAMClient
from mypy_boto3_sts import STSClient

from keyward_local.cfn import LocalResource, Resolver
from keyward_local.console import LocalStackError
from keyward_local.emulator.iam_auth import STATE_MACHINE_ROLE
from keyward_local.paths import ACCOUNT_ID, CREDENTIALS_FILE, REGION, ROOT
from keyward_local.settings import BUCKET, STATE_MACHINE, TABLES, TOPIC
from keyward_local.template import Template

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            # Lambda and Step Functions assume these roles in AWS; here `up` assumes them in their
            # place, as the account's root user (emulator/iam_auth.py), so the trust names both.
            "Effect": "Allow",
            "Principal": {
                "AWS": f"arn:aws:iam::{ACCOUNT_ID}:root",
                "Service": ["lambda.amazonaws.com", "states.amazonaws.com"],
            },
            "Action": "sts:AssumeRole",
        }
    ],
}


#: Statement elements moto's access control does not evaluate as AWS does: an Allow with a Condition
#: denies, a Deny with one always denies (moto has no request context to test it against), and a
#: statement with NotResource matches every resource.
_NOT_EVALUATED = {"Condition", "NotResource", "NotPrincipal"}


def role_name(binary: str) -> str:
    """The profile a function's role credentials are under (Cargo.toml's AWS_PROFILE)."""
    return f"keyward-{binary}"


def iam_role_name(binary: str) -> str:
    """A function's IAM role in the local stack: `keyward-ListUsersFunctionRole` for list-users, as SAM
    names the role of `ListUsersFunction` in a stack named keyward."""
    pascal = "".join(part.capitalize() for part in binary.split("-"))
    return f"{STATE_MACHINE}-{pascal}FunctionRole"


def function_arn(binary: str) -> str:
    """A function's ARN in the local stack (moto names the functions after their binaries)."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{binary}"


def state_machine_arn() -> str:
    """The state machine's ARN in the local stack."""
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{STATE_MACHINE}"


def local_resources(template: Template) -> dict[str, LocalResource]:
    """What each template resource a policy may name is in the local stack (`Ref`, attributes)."""
    resources: dict[str, LocalResource] = {}
    for name, resource in template.resources.items():
        kind = resource.get("Type")
        if kind == "AWS::S3::Bucket":
            resources[name] = (BUCKET, {"Arn": f"arn:aws:s3:::{BUCKET}"})
        elif kind == "AWS::SNS::Topic":
            topic = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}"
            resources[name] = (topic, {"TopicArn": topic, "TopicName": TOPIC})
        elif kind == "AWS::DynamoDB::Table":
            if name not in TABLES:
                raise LocalStackError(f"template.yaml's table {name} has no local name (keyward_local.settings.TABLES)")
            table = TABLES[name]
            resources[name] = (table, {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"})
        elif kind == "AWS::Serverless::StateMachine":
            resources[name] = (state_machine_arn(), {"Arn": state_machine_arn(), "Name": STATE_MACHINE})
    for binary, logical_id in template.function_resources.items():
        resources[logical_id] = (binary, {"Arn": function_arn(binary)})
    return resources


def resolver(template: Template, overrides: Mapping[str, str]) -> Resolver:
    """Resolves the template as the local stack deploys it: parameters from `up`'s environment (or
    their defaults), then `overrides` (the parameters the stack sets itself)."""
    parameters = {name: template.parameter_or_empty(name) for name in template.parameters}
    parameters.update(overrides)
    pseudo = {
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::StackName": STATE_MACHINE,
        "AWS::URLSuffix": "amazonaws.com",
    }
    return Resolver(parameters, local_resources(template), template.conditions, pseudo)


def role_policies(template: Template, overrides: Mapping[str, str]) -> dict[str, list[dict[str, object]]]:
    """Each role's inline policy documents, resolved, by IAM role name: the functions' roles and the
    state machine's."""
    resolve = resolver(template, overrides)
    owners = {logical_id: iam_role_name(binary) for binary, logical_id in template.function_resources.items()}
    owners.update(
        {
            name: STATE_MACHINE_ROLE
            for name, resource in template.resources.items()
            if resource.get("Type") == "AWS::Serverless::StateMachine"
        }
    )
    roles: dict[str, list[dict[str, object]]] = {}
    for logical_id, role in owners.items():
        policies = template.resources[logical_id].get("Properties", {})
        documents = []
        inline = policies.get("Policies", []) if isinstance(policies, dict) else []
        for policy in [*inline, *_attached_policies(template, f"{logical_id}Role")]:
            if not (isinstance(policy, dict) and "Statement" in policy):
                # A SAM policy template or a managed policy name: its statements live in SAM, not here.
                raise LocalStackError(
                    f"template.yaml: {logical_id} has a policy the local stack cannot mirror ({policy!r}): "
                    "give its statements inline"
                )
            document = resolve.resolve({"Version": "2012-10-17", "Statement": policy["Statement"]})
            if not isinstance(document, dict):
                raise LocalStackError(f"template.yaml: {logical_id}'s policy did not resolve to a document")
            check_evaluated(document, f"template.yaml: {logical_id}")
            documents.append(document)
        roles[role] = documents
    return roles


def check_evaluated(document: Mapping[str, object], owner: str) -> None:
    """Refuses an identity policy with a statement moto's policy evaluation gets wrong (_NOT_EVALUATED):
    the local stack would not enforce the role as AWS does. `owner` names the role in the error."""
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        unevaluated = sorted(set(statement) & _NOT_EVALUATED)
        if unevaluated:
            raise LocalStackError(
                f"{owner}'s statement {statement.get('Sid', '')} uses {unevaluated}, which moto's policy"
                " evaluation gets wrong (docs/local-stack.md): the local stack would not enforce the role as"
                " AWS does"
            )


def _attached_policies(template: Template, role: str) -> list[object]:
    """The documents of the `AWS::IAM::Policy` resources attached to `role`, the role SAM generates
    for a function (`<logical id>Role`): how a function's role names the function itself."""
    found: list[object] = []
    for resource in template.resources.values():
        properties = resource.get("Properties")
        if resource.get("Type") != "AWS::IAM::Policy" or not isinstance(properties, dict):
            continue
        if {"Ref": role} in (properties.get("Roles") or []):
            found.append(properties.get("PolicyDocument"))
    return found


def create_roles(
    iam: IAMClient, sts: STSClient, roles: Mapping[str, list[dict[str, object]]], profiles: Mapping[str, str]
) -> dict[str, str]:
    """Creates the roles in moto, assumes each role `profiles` names (the functions': IAM role name →
    profile) and writes their credentials to CREDENTIALS_FILE under those profiles; returns each
    role's ARN by IAM role name."""
    arns: dict[str, str] = {}
    written = configparser.ConfigParser(interpolation=None)
    for role, documents in roles.items():
        arns[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"]
        for index, document in enumerate(documents):
            iam.put_role_policy(RoleName=role, PolicyName=f"template-{index}", PolicyDocument=json.dumps(document))
        if role not in profiles:
            continue
        credentials = sts.assume_role(RoleArn=arns[role], RoleSessionName=role, DurationSeconds=43200)["Credentials"]
        written[profiles[role]] = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        written.write(out)
    return arns


def profiles_in_cargo_metadata() -> dict[str, str]:
    """`AWS_PROFILE` of each binary in the workspace Cargo.toml's cargo lambda metadata."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    binaries = manifest.get("workspace", {}).get("metadata", {}).get("lambda", {}).get("bin", {})
    return {str(binary): str(meta.get("env", {}).get("AWS_PROFILE", "")) for binary, meta in binaries.items()}


def check_profiles(template: Template) -> None:
    """Refuses to start when a function would not get its role's profile from cargo lambda watch."""
    wanted = {binary: role_name(binary) for binary in template.functions}
    found = profiles_in_cargo_metadata()
    if found != wanted:
        raise LocalStackError(
            "Cargo.toml [workspace.metadata.lambda.bin.<binary>.env] must give each function AWS_PROFILE = "
            f"its role's profile: expected {wanted}, found {found}"
        )
