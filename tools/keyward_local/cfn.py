"""CloudFormation's intrinsic functions, resolved against the local stack, for the parts of
template.yaml the local stack must read as a deployment would (the roles' policy statements), and of
member/keyward-member.yaml (the member roles, keyward_local.org).

Exactly what the template uses is supported (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, the
conditions' `Fn::Equals`/`Fn::Not`/`Fn::And`/`Fn::Or`, `AWS::NoValue` and the pseudo parameters);
anything else is refused by name, so a template change the local stack cannot mirror stops `up`
instead of producing a role that differs from the deployed one. Hand-written: the only library that
does this (cfn-lint's or SAM's translator) resolves against a real account, not against ours."""

from __future__ import annotations

import re
from collections.abc import Mapping

from keyward_local.console import LocalStackError

#: A resource of the local stack: what `Ref` returns and its attributes (`Fn::GetAtt`).
LocalResource = tuple[str, Mapping[str, str]]

#: Marks a value `Fn::If` dropped (`Ref: AWS::NoValue`).
NO_VALUE = object()

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Resolves intrinsic functions against the local stack's parameters and resources."""

    def __init__(
        self,
        parameters: Mapping[str, object],
        resources: Mapping[str, LocalResource],
        conditions: Mapping[str, object],
        pseudo: Mapping[str, str],
        source: str = "template.yaml",
    ):
        """`parameters` by name (a CommaDelimitedList's value is a list, as `Ref` gives it);
        `source` names the template in errors."""
        self.source = source
        self.parameters = parameters
        self.resources = resources
        self.conditions = conditions
        self.pseudo = pseudo

    def resolve(self, value: object) -> object:
        """`value` with every intrinsic function replaced by its value (`NO_VALUE` when dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                return self.get_att(argument)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::If":
                return self.if_(argument)
            if key.startswith("Fn::") or key == "Condition":
                raise LocalStackError(f"{self.source}: the local stack cannot resolve {key} in a role's policy")
        resolved = {str(k): self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def ref(self, name: str) -> object:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name][0]
        raise LocalStackError(f"{self.source}: Ref {name} names nothing the local stack has")

    def get_att(self, argument: object) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise LocalStackError(f"{self.source}: Fn::GetAtt {argument!r} is not [resource, attribute]")
        name, attribute = str(argument[0]), str(argument[1])
        value = self.resources.get(name, ("", {}))[1].get(attribute)
        if value is None:
            raise LocalStackError(f"{self.source}: the local stack has no {name}.{attribute}")
        return value

    def sub(self, argument: object) -> str:
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = str(argument[0]), {str(k): self.resolve(v) for k, v in argument[1].items()}
        elif isinstance(argument, str):
            text, variables = argument, {}
        else:
            raise LocalStackError(f"{self.source}: Fn::Sub {argument!r} is neither a string nor [string, variables]")

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self.get_att(name.split(".", 1))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(one, text)

    def if_(self, argument: object) -> object:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise LocalStackError(f"{self.source}: Fn::If {argument!r} is not [condition, then, else]")
        return self.resolve(argument[1] if self.condition(str(argument[0])) else argument[2])

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise LocalStackError(f"{self.source}: no condition {name}")
        return self._truth(self.conditions[name])

    def _truth(self, value: object) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            arguments = argument if isinstance(argument, list) else [argument]
            if key == "Fn::Equals" and len(arguments) == 2:
                return self.resolve(arguments[0]) == self.resolve(arguments[1])
            if key == "Fn::Not" and len(arguments) == 1:
                return not self._truth(arguments[0])
            if key == "Fn::And":
                return all(self._truth(item) for item in arguments)
            if key == "Fn::Or":
                return any(self._truth(item) for item in arguments)
            if key == "Condition":
                return self.condition(str(argument))
        raise LocalStackError(f"{self.source}: the local stack cannot evaluate the condition {value!r}")
