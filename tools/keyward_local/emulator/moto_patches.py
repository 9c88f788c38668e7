"""moto patched in three places, at the emulator's start, never on disk (the IAM strictness of
`iam_strict` is patched in too, by its own module):

- LambdaBackend.invoke / LambdaSimpleBackend.invoke / LambdaFunction.invoke: the forward to cargo lambda
  watch (`forward`);
- User.to_csv: the credential report's last-used region and service, which moto leaves `not_supported`;
- LambdaFunction.docker_client: raises AttributeError instead of trying Docker, so GET /moto-api/data.json
  works without Docker.

Each assignment replaces a method of moto's classes, which mypy rightly calls a method assignment: the
`# type: ignore[method-assign]` (or `[assignment]`) next to each says exactly that."""

from __future__ import annotations

from typing import Any, NoReturn

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple import models as simple_models
from moto.iam import models as iam_models

from keyward_local.emulator.forward import LambdaForwarder, LambdaServiceError


class ServiceException(LambdaClientError):
    """Lambda's own HTTP 500: the state machine sees Lambda.ServiceException."""

    code = 500

    def __init__(self, message: str):
        super().__init__("ServiceException", message)


def patch_moto_lambda(forwarder: LambdaForwarder) -> None:
    """Replaces moto's Lambda invoke (docker, or the 'simple' echo backend) with the forward.

    moto/awslambda/models.py: LambdaBackend.invoke (looks the function up, then LambdaFunction.invoke,
    which would start a docker container); moto/awslambda_simple/models.py: LambdaSimpleBackend.invoke
    (used when lambda.use_docker is false: echoes the payload). Both now forward; LambdaFunction.invoke
    (InvokeAsync, event sources) too. moto types the headers as Any: they are its request's headers.
    """

    def backend_invoke(
        self: lambda_models.LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        """LambdaBackend.invoke: the function must exist; its invocation is forwarded."""
        fn = self.get_function(function_name, qualifier)  # raises ResourceNotFoundException
        try:
            payload = forwarder.invoke(fn.function_name, body, headers, response_headers)
        except LambdaServiceError as error:
            raise ServiceException(str(error)) from None
        response_headers["Content-Length"] = str(len(payload))
        return payload

    def function_invoke(
        self: lambda_models.LambdaFunction, body: str, request_headers: Any, response_headers: Any
    ) -> bytes:
        """LambdaFunction.invoke: forwarded."""
        try:
            return forwarder.invoke(self.function_name, body, request_headers, response_headers)
        except LambdaServiceError as error:
            raise ServiceException(str(error)) from None

    def no_docker(self: lambda_models.LambdaFunction) -> NoReturn:
        """LambdaFunction.docker_client: there is no Docker."""
        raise AttributeError("the local stack has no Docker: Lambda invocations go to cargo lambda watch")

    lambda_models.LambdaBackend.invoke = backend_invoke  # type: ignore[method-assign]
    simple_models.LambdaSimpleBackend.invoke = backend_invoke  # type: ignore[method-assign]
    lambda_models.LambdaFunction.invoke = function_invoke  # type: ignore[method-assign]
    # GET /moto-api/data.json reads every public attribute of every model (moto/moto_api/_internal/
    # responses.py, model_data) and skips only TypeError/AttributeError/ValueError; a function's
    # `docker_client` (moto/utilities/docker_utilities.py, DockerModel) connects to Docker and raises
    # DockerException without one, failing the whole dump with HTTP 500.
    lambda_models.LambdaFunction.docker_client = property(no_docker)  # type: ignore[method-assign,assignment]


def patch_credential_report() -> None:
    """moto writes `not_supported` in access_key_N_last_used_region/_service of the credential report
    (moto/iam/models.py, User.to_csv); AWS writes the region and service of the last use, or N/A.
    Fill them from the key's own last-use record so the report agrees with GetAccessKeyLastUsed.
    (GetCredentialReport itself, with its GeneratedTime, is `iam_strict`'s.)"""
    original = iam_models.User.to_csv
    # Negative indexes: a user name may contain a comma, the 20 columns after name and arn are fixed.
    slots = ((-11, -10), (-6, -5))  # (last_used_region, last_used_service) of key 1 and key 2

    def to_csv(self: iam_models.User) -> str:
        """User.to_csv with the last-used region and service of each key."""
        fields = original(self).rstrip("\n").split(",")
        for index, (region_at, service_at) in enumerate(slots):
            key = self.access_keys[index] if index < len(self.access_keys) else None
            last_used = key.last_used if key is not None else None
            if last_used is None:
                fields[region_at], fields[service_at] = "N/A", "N/A"
            else:
                fields[region_at], fields[service_at] = last_used.region, last_used.service
        return ",".join(fields) + "\n"

    iam_models.User.to_csv = to_csv  # type: ignore[method-assign]
