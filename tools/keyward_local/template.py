"""What the local stack takes from template.yaml, so that it mirrors the deployed stack: the functions
(their binaries, in the template's order), their timeouts and which have a Function URL, the
parameters' defaults and the environment variables that set them, and the DynamoDB tables' hash keys
and TTL attributes. The state machine's definition with its DefinitionSubstitutions resolved comes from the one
implementation of that, the Rust crate keyward-tests (`substituted-asl`), given the parameters set at
`up`.

`python -m keyward_local.template` prints the functions' binaries, one per line (the Makefile's list)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import yaml

from keyward_local.console import LocalStackError
from keyward_local.paths import ROOT, TEMPLATE_FILE


class _CfnLoader(yaml.SafeLoader):
    """PyYAML's safe loader with CloudFormation's short-form tags (!Ref X, !GetAtt X.Y, !Sub …) read
    as their long form ({"Ref": X}, {"Fn::GetAtt": [X, Y]}, {"Fn::Sub": …})."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    value: object
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def read_document(path: Path) -> dict[str, object]:
    """A CloudFormation template (template.yaml, the member template) as a mapping, its short-form
    tags in their long form."""
    try:
        document = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    except OSError as error:
        raise LocalStackError(f"cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise LocalStackError(f"{path} is not valid YAML: {error}") from None
    return _mapping(document)


def _mapping(value: object) -> dict[str, object]:
    """`value` when it is a mapping with string keys, else an empty one (a part the template lacks)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {}


def _dig(value: object, *keys: str) -> dict[str, object]:
    for key in keys:
        value = _mapping(value).get(key)
    return _mapping(value)


class TableSchema(NamedTuple):
    """What the local stack creates a DynamoDB table with."""

    hash_key: str
    ttl_attribute: str | None


class Template:
    """The parts of template.yaml the local stack mirrors."""

    def __init__(self, document: dict[str, object]):
        self.parameters = _mapping(document.get("Parameters"))
        self.resources = {name: _mapping(resource) for name, resource in _mapping(document.get("Resources")).items()}
        self.conditions = _mapping(document.get("Conditions"))
        globals_fn = _dig(document, "Globals", "Function")
        self.default_timeout = int(str(globals_fn.get("Timeout", 3)))
        #: The functions' runtime and instruction set (Globals; no function overrides them).
        self.runtime = str(globals_fn.get("Runtime", ""))
        architectures = globals_fn.get("Architectures")
        self.architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else "x86_64"
        # Parameter → environment variable, from the variables every function gets (KEYWARD_MODE: !Ref Mode).
        self.env_of_parameter: dict[str, str] = {}
        # (KEYWARD_REPORT_BUCKET: !Ref ReportBucket names a resource, not a parameter.)
        for variable, value in _dig(globals_fn, "Environment", "Variables").items():
            parameter = _mapping(value).get("Ref")
            if isinstance(parameter, str) and parameter in self.parameters:
                self.env_of_parameter[parameter] = variable
        #: The functions' binaries, in the template's order, with their timeouts.
        self.timeouts: dict[str, int] = {}
        #: The functions' binaries with their resources' logical ids.
        self.function_resources: dict[str, str] = {}
        #: The binaries of the functions with a Function URL (FunctionUrlConfig).
        self.function_urls: list[str] = []
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            binary = _dig(resource, "Metadata", "BuildProperties").get("Binary")
            if isinstance(binary, str):
                properties = _mapping(resource.get("Properties"))
                self.timeouts[binary] = int(str(properties.get("Timeout", self.default_timeout)))
                self.function_resources[binary] = logical_id
                if "FunctionUrlConfig" in properties:
                    self.function_urls.append(binary)

    @classmethod
    def load(cls) -> Template:
        """Reads template.yaml."""
        return cls(read_document(TEMPLATE_FILE))

    @property
    def functions(self) -> list[str]:
        """The binaries of the template's functions: the six functions."""
        return list(self.timeouts)

    def tables(self) -> dict[str, TableSchema]:
        """Each DynamoDB table of the template, by logical id: its hash key (a string) and its TTL
        attribute, when the template enables one."""
        tables: dict[str, TableSchema] = {}
        for name, resource in self.resources.items():
            if resource.get("Type") != "AWS::DynamoDB::Table":
                continue
            properties = _dig(resource, "Properties")
            schema = properties.get("KeySchema")
            hash_keys = [
                k.get("AttributeName")
                for k in (schema if isinstance(schema, list) else [])
                if isinstance(k, dict) and k.get("KeyType") == "HASH"
            ]
            if len(hash_keys) != 1 or not isinstance(hash_keys[0], str):
                raise LocalStackError(f"template.yaml's table {name} must have one hash key")
            spec = _dig(properties, "TimeToLiveSpecification")
            attribute = spec.get("AttributeName")
            ttl = attribute if spec.get("Enabled") in (True, "true") and isinstance(attribute, str) else None
            tables[name] = TableSchema(hash_key=hash_keys[0], ttl_attribute=ttl)
        return tables

    def parameter(self, parameter: str) -> str:
        """A template parameter as the local stack sets it: from its environment variable when that is
        set at `up` (MaxConcurrency ← MAX_CONCURRENCY), else the parameter's Default."""
        variable = self.env_of_parameter.get(parameter)
        if variable and os.environ.get(variable, "").strip():
            return os.environ[variable].strip()
        default = _mapping(self.parameters.get(parameter)).get("Default")
        if default is None:
            raise LocalStackError(f"template.yaml has no parameter {parameter} with a Default")
        return str(default)

    def parameter_or_empty(self, parameter: str) -> str:
        """`parameter(parameter)`, or "" for a parameter without a Default that `up` was not given."""
        if "Default" not in _mapping(self.parameters.get(parameter)) and not self.env_of_parameter.get(parameter):
            return ""
        try:
            return self.parameter(parameter)
        except LocalStackError:
            return ""

    def set_parameters(self) -> dict[str, str]:
        """The parameters whose environment variable is set at `up`, with that value."""
        return {
            parameter: os.environ[variable].strip()
            for parameter, variable in sorted(self.env_of_parameter.items())
            if os.environ.get(variable, "").strip()
        }

    def state_machine_definition(self) -> str:
        """statemachine/keyward.asl.json with the DefinitionSubstitutions resolved as a deployment with
        the parameters set at `up` resolves them (function ARNs named after the binaries, as moto
        names the functions the stack creates)."""
        arguments = [f"{name}={value}" for name, value in self.set_parameters().items()]
        command = ["cargo", "run", "--quiet", "--locked", "-p", "keyward-tests", "--bin", "substituted-asl", "--"]
        done = subprocess.run(command + arguments, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LocalStackError(
                f"substituting the state machine failed ({' '.join(command + arguments)}):\n{done.stderr}"
            )
        return done.stdout


def main() -> int:
    """Prints the functions' binaries, one per line."""
    for function in Template.load().functions:
        print(function)
    return 0


if __name__ == "__main__":
    sys.exit(main())
