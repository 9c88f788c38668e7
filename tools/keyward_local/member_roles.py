"""The member template's roles (member/keyward-member.yaml) as a StackSet instance deploys them into one
member account: the parameters checked as CloudFormation checks them (every declared parameter has a
value, a String matches its AllowedPattern and AllowedValues, a CommaDelimitedList is split), every
`!Ref`, `!Sub`, `!GetAtt` and pseudo parameter resolved for that account (keyward_local.cfn), and each
role's name, description, session duration, trust policy and inline policies read from the template.
Anything else (another resource type, another role property such as ManagedPolicyArns, a parameter
type the local stack does not know) stops `up` by name: a change to the member template reaches the
local stack or stops it, never a role that differs from the deployed one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from keyward_local.cfn import LocalResource, Resolver
from keyward_local.console import LocalStackError
from keyward_local.paths import MEMBER_TEMPLATE_FILE, REGION, ROOT
from keyward_local.roles import check_evaluated
from keyward_local.template import read_document

#: How the member template is named in errors.
SOURCE = str(MEMBER_TEMPLATE_FILE.relative_to(ROOT))
#: What a StackSet instance is named in each account (its stack name: `AWS::StackName`).
STACK_NAME = "StackSet-keyward-member"
#: The role properties the local stack creates a role with; any other stops `up`.
_ROLE_PROPERTIES = {"RoleName", "Description", "MaxSessionDuration", "AssumeRolePolicyDocument", "Policies"}


class MemberRole(NamedTuple):
    """One role of the member template, resolved for one account."""

    logical_id: str
    name: str
    description: str | None
    max_session_duration: int | None
    #: The trust policy (AssumeRolePolicyDocument).
    trust: dict[str, object]
    #: The inline policies by name (Policies: PolicyName → PolicyDocument).
    policies: dict[str, dict[str, object]]


def member_parameters(
    organization_id: str, read_principals: Sequence[str], write_principal: str, read_role: str, write_role: str
) -> dict[str, str]:
    """The member template's parameters as the README's create-stack-set command gives them: the
    organisation, the role ARNs of keyward's list-users and check-user (read) and deactivate (write),
    and the two roles' names (MEMBER_READ_ROLE, MEMBER_WRITE_ROLE)."""
    return {
        "OrganizationId": organization_id,
        "ReadPrincipalArns": ",".join(read_principals),
        "WritePrincipalArn": write_principal,
        "ReadRoleName": read_role,
        "WriteRoleName": write_role,
    }


def load_member_template() -> dict[str, object]:
    """member/keyward-member.yaml, read afresh (a change reaches the next `up`)."""
    return read_document(MEMBER_TEMPLATE_FILE)


def member_roles(document: Mapping[str, object], account_id: str, parameters: Mapping[str, str]) -> list[MemberRole]:
    """The roles of the member template `document` in the account `account_id`, with `parameters`."""
    values = _parameter_values(_mapping(document.get("Parameters")), parameters)
    conditions = _mapping(document.get("Conditions"))
    pseudo = {
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::StackName": STACK_NAME,
        "AWS::URLSuffix": "amazonaws.com",
    }
    resources = {name: _mapping(resource) for name, resource in _mapping(document.get("Resources")).items()}
    # The roles' names first: `Ref` to a role (and its Arn) needs them.
    names = Resolver(values, {}, conditions, pseudo, SOURCE)
    local: dict[str, LocalResource] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            raise LocalStackError(
                f"{SOURCE}: {logical_id} is a {resource.get('Type')}; the local stack deploys only AWS::IAM::Role"
            )
        properties = _mapping(resource.get("Properties"))
        unknown = sorted(set(properties) - _ROLE_PROPERTIES)
        if unknown:
            raise LocalStackError(f"{SOURCE}: {logical_id} sets {unknown}, which the local stack does not create")
        name = names.resolve(properties.get("RoleName"))
        if not isinstance(name, str):
            raise LocalStackError(f"{SOURCE}: {logical_id} needs a RoleName (keyward assumes the role by name)")
        local[logical_id] = (name, {"Arn": f"arn:aws:iam::{account_id}:role/{name}"})
    resolve = Resolver(values, local, conditions, pseudo, SOURCE)
    roles = []
    for logical_id, resource in resources.items():
        properties = _mapping(resolve.resolve(resource.get("Properties")))
        trust = _mapping(properties.get("AssumeRolePolicyDocument"))
        if not trust:
            raise LocalStackError(f"{SOURCE}: {logical_id} has no AssumeRolePolicyDocument")
        policies: dict[str, dict[str, object]] = {}
        inline = properties.get("Policies")
        for policy in inline if isinstance(inline, list) else []:
            policy_name, policy_document = _mapping(policy).get("PolicyName"), _mapping(policy).get("PolicyDocument")
            if not isinstance(policy_name, str) or not isinstance(policy_document, dict):
                raise LocalStackError(f"{SOURCE}: {logical_id} has a policy without PolicyName and PolicyDocument")
            check_evaluated(policy_document, f"{SOURCE}: {logical_id}")
            policies[policy_name] = _mapping(policy_document)
        description = properties.get("Description")
        duration = properties.get("MaxSessionDuration")
        roles.append(
            MemberRole(
                logical_id=logical_id,
                name=local[logical_id][0],
                description=None if description is None else str(description),
                max_session_duration=None if duration is None else int(str(duration)),
                trust=trust,
                policies=policies,
            )
        )
    return roles


def _parameter_values(declared: Mapping[str, object], given: Mapping[str, str]) -> dict[str, object]:
    """Each declared parameter's value, checked as CloudFormation checks it (a CommaDelimitedList as
    the list `Ref` gives)."""
    undeclared = sorted(set(given) - set(declared))
    if undeclared:
        raise LocalStackError(f"{SOURCE} declares no parameter {', '.join(undeclared)}")
    values: dict[str, object] = {}
    for name, declaration in declared.items():
        spec = _mapping(declaration)
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            raise LocalStackError(f"{SOURCE}: the parameter {name} has no Default and the local stack gives it none")
        kind = spec.get("Type")
        if kind == "String":
            items = [str(raw)]
        elif kind == "CommaDelimitedList":
            items = str(raw).split(",")
        else:
            raise LocalStackError(f"{SOURCE}: the parameter {name} is a {kind}, which the local stack cannot give")
        pattern, allowed = spec.get("AllowedPattern"), spec.get("AllowedValues")
        for item in items:
            if isinstance(pattern, str) and not re.fullmatch(pattern, item):
                raise LocalStackError(f"{SOURCE}: {name}={item!r} does not match its AllowedPattern {pattern}")
            if isinstance(allowed, list) and item not in [str(a) for a in allowed]:
                raise LocalStackError(f"{SOURCE}: {name}={item!r} is not one of its AllowedValues {allowed}")
        values[name] = items if kind == "CommaDelimitedList" else items[0]
    return values


def _mapping(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {}
