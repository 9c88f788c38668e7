"""IAM policy evaluation in the emulator: every request to moto is authenticated (SigV4 with a key moto
knows) and authorised against the caller's identity policies, as AWS does, instead of moto's default
of allowing anything. This is moto's own access control (`INITIAL_NO_AUTH_ACTION_COUNT`, here 0:
from the first request on), with these corrections that make it usable and faithful:

- **The account's root user.** The stack's own tooling (`up`, the demo, the tests, the bench) signs
  with the access key of `target/local-stack/env` (`test`), which stands for the account's root user:
  AWS does not evaluate identity policies for the root user, so neither does the emulator. moto has no
  root user and would refuse that key.
- **The resource of each request.** moto authorises every request except S3's against the resource
  `*`, so a statement scoped to an ARN (`arn:aws:iam::…:user/*`, a topic, a table, a secret) never
  matches and the function is denied what its template role allows. Here the resource is the ARN AWS
  evaluates for that action (the Service Authorization Reference's resource types): the IAM user for
  user actions, the topic for SNS, the table for DynamoDB, the state machine or execution for Step
  Functions, the secret for Secrets Manager, the function for Lambda (whose Invoke API moto calls
  `lambda:Invoke`; IAM's name is `lambda:InvokeFunction`); `*` for actions without resource-level permissions
  (ListUsers, GenerateCredentialReport, GetCredentialReport, SendTaskSuccess).
- **DynamoDB transactions.** AWS authorises each action of a TransactWriteItems (or TransactGetItems)
  as its underlying operation on its own table: Put as `dynamodb:PutItem`, Update as `UpdateItem`,
  Delete as `DeleteItem`, ConditionCheck as `ConditionCheckItem`, Get as `GetItem` (DynamoDB
  Developer Guide, "Using IAM with DynamoDB transactions"); the transaction is allowed only if every
  one is. moto would check one action `dynamodb:TransactWriteItems` on `*`, which no policy names.
- **How a refusal reads.** moto answers every refusal in its XML form, which the JSON-protocol
  services' clients cannot parse (boto3 sees the error code `403`, the Rust SDK an unhandled error).
  DynamoDB, Step Functions and Secrets Manager answer as AWS does: HTTP 400, a JSON
  `AccessDeniedException` with the same message.
- **Who called what.** Each authorised or refused request is recorded with the caller's ARN and its
  session's source identity, so the end-to-end tests can prove every function called AWS as its own
  role, and that a member account's changes name their approver as its CloudTrail would
  (`GET /_keyward/principals`).
- **AssumeRole.** moto checks a trust policy only for a role of the caller's own account, and wrongly
  (see `sts_strict`); here every AssumeRole is authorised by `sts_strict`: the role exists, its trust
  allows the caller, and the caller's identity policies allow it where AWS requires them to.
- **Organizations.** Its listings of a parent are authorised against the parent's ARN and
  DescribeAccount against the account's (`org_strict.resource`); a refusal is JSON, as AWS answers it.

What moto does not evaluate is listed in docs/local-stack.md (resource-based policies other than a
role's trust, conditions of identity policies, Lambda's own API)."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote

from botocore.credentials import Credentials
from moto import settings
from moto.awslambda.responses import LambdaResponse
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.iam import access_control
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.organizations.responses import OrganizationsResponse
from moto.secretsmanager.models import secretsmanager_backends
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.sns.responses import SNSResponse
from moto.stepfunctions.responses import StepFunctionResponse

from keyward_local.emulator import org_strict, sts_strict

LOG = logging.getLogger("keyward.local-stack")

#: The access key of the account's root user: the one `target/local-stack/env` gives the tooling.
ROOT_ACCESS_KEY_ID = "test"
ROOT_SECRET_ACCESS_KEY = "test"
#: The key moto's Step Functions engine signs its own S3 and Lambda calls with
#: (moto/stepfunctions/parser/asl/utils/boto_client.py): the engine acting for a state machine.
ENGINE_ACCESS_KEY_ID = "ak"
#: The role `up` creates from the template's state machine policies; the engine's calls are
#: authorised against it, as AWS authorises a state machine's calls against its execution role.
STATE_MACHINE_ROLE = "keyward-state-machine"

_ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


_REQUEST = threading.local()


def remember_form_body(body: bytes) -> None:
    """Keeps the raw body of the form-encoded (Query protocol: IAM, SNS, STS) request this thread
    serves: werkzeug hands moto the parsed form only, and moto re-encodes it with botocore's rules to
    check the signature, so a client that percent-encodes differently (the Rust SDK) fails a
    signature AWS accepts."""
    _REQUEST.form_body = body


class RootAccessKey:
    """The account's root user in moto's access control: identity policies do not apply to it."""

    def __init__(self, account_id: str, partition: str):
        self.account_id = account_id
        self.partition = partition

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"

    def create_credentials(self) -> Any:
        return Credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)

    def collect_policies(self) -> list[str]:
        return [_ALLOW_ALL]


class EngineAccessKey(access_control.AssumedRoleAccessKey):
    """moto's Step Functions engine, calling as the state machine's execution role."""

    def __init__(self, account_id: str, partition: str):  # noqa: D107 (no STS session behind it)
        self.account_id = account_id
        self.partition = partition
        self._access_key_id = ENGINE_ACCESS_KEY_ID
        self._secret_access_key = "sk"
        self._session_token = ""
        self._owner_role_name = STATE_MACHINE_ROLE
        self._session_name = "states"

    def create_credentials(self) -> Any:
        return Credentials(ENGINE_ACCESS_KEY_ID, "sk")


class Principals:
    """(caller ARN, action, allowed, source identity) of every request the emulator authorised or
    refused: the source identity of the caller's role session, as CloudTrail records it with each
    request the session makes (`sts_strict`), or None."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str, bool, str]] = Counter()

    def record(self, principal: str, action: str, allowed: bool, source_identity: str | None = None) -> None:
        with self._lock:
            self._calls[(principal, action, allowed, source_identity or "")] += 1

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {
                    "principal": principal,
                    "action": action,
                    "allowed": allowed,
                    "source_identity": source_identity or None,
                    "count": count,
                }
                for (principal, action, allowed, source_identity), count in sorted(self._calls.items())
            ]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


PRINCIPALS = Principals()


def _param(response: BaseResponse, name: str) -> str | None:
    """A Query-protocol parameter (IAM, SNS) of the request being authorised."""
    values = response.querystring.get(name)
    return str(values[0]) if values else None


def _json_param(response: BaseResponse, name: str) -> str | None:
    """A JSON-protocol parameter (DynamoDB, Step Functions, Secrets Manager) of the request."""
    # DynamoDB's handler has replaced its body with the parsed parameters by now.
    body = response.body
    if not isinstance(body, dict):
        try:
            body = json.loads(body or "{}")
        except (TypeError, ValueError):
            return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _source_identity(request: access_control.IAMRequestBase) -> str | None:
    """The source identity of the role session that signed `request`, if any."""
    return sts_strict.SESSIONS.source_identity(getattr(request._access_key, "_access_key_id", None))


def _key_ids(keys: list[Any]) -> set[str]:
    return {str(key.access_key_id) for key in keys}


def _iam_resource(self: IamResponse) -> str:
    """The IAM user an action is about (its ARN includes its path), else the role, else `*`."""
    backend = iam_backends[self.current_account][self.partition]
    user_name = _param(self, "UserName")
    access_key_id = _param(self, "AccessKeyId")
    if user_name is None and access_key_id is not None:
        # GetAccessKeyLastUsed names only the key; AWS authorises it against the key's user.
        owners = (
            user.name
            for user in backend.users.values()
            if any(k.access_key_id == access_key_id for k in user.access_keys)
        )
        user_name = next(owners, None)
    if user_name is not None:
        user = backend.users.get(user_name)
        path = user.path if user is not None else "/"
        return f"arn:{self.partition}:iam::{self.current_account}:user{path}{user_name}"
    role_name = _param(self, "RoleName")
    if role_name is not None:
        role = next((r for r in backend.roles.values() if r.name == role_name), None)
        return role.arn if role is not None else "*"
    return "*"


def _sns_resource(self: SNSResponse) -> str:
    return _param(self, "TopicArn") or _param(self, "TargetArn") or "*"


def _dynamodb_resource(self: DynamoHandler) -> str:
    table = _json_param(self, "TableName")
    return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}" if table else "*"


#: The action each item of a DynamoDB transaction is authorised as, by the item's kind.
_TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_TRANSACTIONS = {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}


def transaction_items(action: str, body: bytes | str | None, region: str, account: str) -> list[tuple[str, str]] | None:
    """(IAM action, table ARN) for each item of a DynamoDB transaction, as AWS authorises them; `None`
    for any other action. An empty list for a transaction that names no item, or an item of an
    unknown kind or without a table: the caller refuses it."""
    if action not in _TRANSACTIONS:
        return None
    try:
        document = json.loads(body or "{}")
    except (TypeError, ValueError):
        return []
    items = document.get("TransactItems") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        return []
    checks: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            return []
        ((kind, detail),) = item.items()
        table = detail.get("TableName") if isinstance(detail, dict) else None
        item_action = _TRANSACTION_ITEM_ACTIONS.get(kind)
        if item_action is None or not isinstance(table, str) or not table:
            return []
        checks.append((item_action, f"arn:aws:dynamodb:{region}:{account}:table/{table}"))
    return checks


def _sfn_resource(self: StepFunctionResponse) -> str:
    return _json_param(self, "stateMachineArn") or _json_param(self, "executionArn") or "*"


def _secretsmanager_resource(self: SecretsManagerResponse) -> str:
    """The secret's full ARN, as AWS authorises it, whatever the caller named it by (its name, a
    partial ARN without the 6-character suffix, or the full ARN)."""
    secret_id = _json_param(self, "SecretId")
    if secret_id is None:
        return "*"
    try:
        return str(secretsmanager_backends[self.current_account][self.region].describe_secret(secret_id).arn)
    except Exception:  # noqa: BLE001 (an unknown secret: the call fails with ResourceNotFound anyway)
        return secret_id if secret_id.startswith("arn:") else "*"


def _lambda_resource(self: LambdaResponse) -> str:
    """The function of `/2015-03-31/functions/<name or ARN>/…`."""
    parts = self.path.split("/")
    if len(parts) > 3 and parts[2] == "functions" and parts[3]:
        name = unquote(parts[3])
        return (
            name if name.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.current_account}:function:{name}"
        )
    return "*"


#: The services of the JSON protocol (awsJson1_0/1_1, by their signing name), whose refusal is a JSON
#: `AccessDeniedException` (HTTP 400) in AWS.
_JSON_SERVICES = {"dynamodb", "states", "secretsmanager", "organizations"}


class JsonAccessDenied(JsonRESTError):
    """AccessDeniedException as a JSON-protocol service answers it."""

    code = 400

    def __init__(self, message: str):
        super().__init__("AccessDeniedException", message)


#: moto names an action after its API operation; where the IAM action differs, the IAM name is what
#: policies say (Lambda's Invoke API is authorised as lambda:InvokeFunction).
_IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}


def enforce_policies() -> None:
    """Switches moto's access control on for every request, with the corrections above."""
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    moto_create_access_key = access_control.create_access_key

    def create_access_key(account_id: str, partition: str, access_key_id: str, headers: dict[str, str]) -> Any:
        if access_key_id == ROOT_ACCESS_KEY_ID:
            return RootAccessKey(account_id, partition)
        if access_key_id == ENGINE_ACCESS_KEY_ID:
            return EngineAccessKey(account_id, partition)
        return moto_create_access_key(account_id, partition, access_key_id, headers)

    access_control.create_access_key = create_access_key

    moto_check = access_control.IAMRequestBase.check_action_permitted
    moto_check_signature = access_control.IAMRequestBase.check_signature

    def check_signature(self: access_control.IAMRequestBase) -> None:
        form_body = getattr(_REQUEST, "form_body", None)
        if not self._body and form_body:
            self._body = form_body
        try:
            moto_check_signature(self)
        except Exception:
            LOG.warning("refused %s from %s: the signature does not match", self._action, self._access_key.arn)
            PRINCIPALS.record(str(self._access_key.arn), self._action, False, _source_identity(self))
            raise

    access_control.IAMRequestBase.check_signature = check_signature  # type: ignore[method-assign]

    def check_one(self: access_control.IAMRequestBase, resource: str) -> None:
        principal = str(self._access_key.arn)
        try:
            moto_check(self, resource)
        except Exception as refusal:
            LOG.warning("refused %s on %s to %s: not allowed by its policies", self._action, resource, principal)
            PRINCIPALS.record(principal, self._action, False, _source_identity(self))
            if isinstance(refusal, AccessDeniedError) and self._service in _JSON_SERVICES:
                raise JsonAccessDenied(refusal.message) from refusal
            raise
        PRINCIPALS.record(principal, self._action, True, _source_identity(self))

    def check_assume_role(self: access_control.IAMRequestBase) -> None:
        """AssumeRole as AWS authorises it (`sts_strict`), in place of moto's same-account trust check."""
        principal, source_identity = str(self._access_key.arn), _source_identity(self)
        try:
            refusal = sts_strict.assume_role_refusal(self._access_key, self.account_id, self._data)
        except sts_strict.StsValidationError as invalid:
            LOG.warning("refused sts:AssumeRole to %s: %s", principal, invalid.message)
            PRINCIPALS.record(principal, self._action, False, source_identity)
            raise
        if refusal is not None:
            role_arn, reason = refusal
            LOG.warning("refused sts:AssumeRole of %s to %s: %s", role_arn, principal, reason)
            PRINCIPALS.record(principal, self._action, False, source_identity)
            raise sts_strict.AssumeRoleDenied(principal, role_arn)
        PRINCIPALS.record(principal, self._action, True, source_identity)

    # moto's own trust check (a role in the caller's account only) gives way to check_assume_role.
    access_control.IAMRequestBase._is_assuming_role_operation = lambda self, resource_arn: False  # type: ignore[method-assign]

    def check_action_permitted(self: access_control.IAMRequestBase, resource: str) -> None:
        self._action = _IAM_ACTION.get(self._action, self._action)
        if self._action == sts_strict.ASSUME_ROLE:
            check_assume_role(self)
            return
        items = transaction_items(self._action, self._body, self._region, self.account_id)
        if items is None:
            check_one(self, resource)
            return
        if not items:
            # Not a transaction DynamoDB would run: checked as itself, on `*`, which no role allows.
            check_one(self, "*")
            return
        for action, table_arn in items:
            self._action = action
            check_one(self, table_arn)

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]

    IamResponse._determine_resource = _iam_resource  # type: ignore[method-assign]
    SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]
    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    StepFunctionResponse._determine_resource = _sfn_resource  # type: ignore[attr-defined]
    SecretsManagerResponse._determine_resource = _secretsmanager_resource  # type: ignore[attr-defined]
    LambdaResponse._determine_resource = _lambda_resource  # type: ignore[attr-defined]
    OrganizationsResponse._determine_resource = org_strict.resource  # type: ignore[attr-defined]
    sts_strict.install()
