"""`scripts/local-stack up` reads every setting a deployment can give the functions, under the same
name (the configuration names are one contract: the Lambdas, template.yaml's parameters, `up`)."""

from __future__ import annotations

from keyward_local.paths import CONFIG_VARS, ORG_VARS, SECRET_VARS
from keyward_local.template import Template

#: Set by the local stack itself (to the secret it creates), never given at `up`.
STACK_SET = {"KEYWARD_SECRET_ARN"}
#: Read at `up` though no template parameter sets them: the secret's values, and where a Slack
#: button's response may go (Slack's host in AWS).
LOCAL_ONLY = set(SECRET_VARS) | {"SLACK_RESPONSE_URL_PREFIX"}
#: Read at `up` as the shape of the stack (the emulated organisation's member accounts), never given
#: to the functions, whether or not a template parameter sets them.
STACK_SHAPE = set(ORG_VARS)
#: The organisation run's settings: function configuration (the template gives them to the
#: functions), which `up` also reads for the emulated organisation's shape.
ORGANISATION_RUN = {
    "KEYWARD_SCOPE",
    "ORG_INCLUDE",
    "ORG_EXCLUDE",
    "MEMBER_READ_ROLE",
    "MEMBER_WRITE_ROLE",
    "MAX_ACCOUNT_CONCURRENCY",
}


def parameter_variables(template: Template) -> set[str]:
    """The environment variables of any function whose value is a template parameter."""
    variables = set(template.env_of_parameter.values())
    for logical_id in template.function_resources.values():
        properties = template.resources[logical_id].get("Properties")
        environment = properties.get("Environment", {}) if isinstance(properties, dict) else {}
        for variable, value in (environment.get("Variables") or {}).items():
            if isinstance(value, dict) and value.get("Ref") in template.parameters:
                variables.add(variable)
    return variables


def test_up_reads_every_setting_the_template_can_give_and_nothing_else() -> None:
    wanted = parameter_variables(Template.load()) - STACK_SET - STACK_SHAPE
    assert set(CONFIG_VARS) == wanted | LOCAL_ONLY
    assert len(CONFIG_VARS) == len(set(CONFIG_VARS))


def test_the_organisation_run_s_settings_are_function_configuration_and_the_member_count_is_not() -> None:
    assert ORGANISATION_RUN <= set(CONFIG_VARS)
    assert ORGANISATION_RUN <= parameter_variables(Template.load())
    assert STACK_SHAPE == {"ORG_MEMBER_ACCOUNTS"}
    assert not STACK_SHAPE & set(CONFIG_VARS)
