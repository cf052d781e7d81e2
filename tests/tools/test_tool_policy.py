from __future__ import annotations

import pytest
import yaml

from stack.errors import ConfigError
from tools.policy import PolicyDecision, ToolPolicyConfig
from tools.spec import ToolSpec

READ = ToolSpec(name="probe", description="reads", scope="read")
WRITE = ToolSpec(name="writer", description="writes", scope="write")
EXTERNAL = ToolSpec(name="pager", description="pages", scope="external", policy="approval")


def decision(policy: str, source: str) -> PolicyDecision:
    return PolicyDecision(policy=policy, source=source)  # type: ignore[arg-type]


def test_tool_not_in_allow_is_denied_whatever_else_says() -> None:
    config = ToolPolicyConfig(allow=["probe"], policies={"writer": "allow"})

    assert config.resolve(WRITE, continuous=False) == decision("deny", "not-allowed")
    assert config.resolve(READ, continuous=False) == decision("allow", "default")


def test_star_allows_every_tool() -> None:
    config = ToolPolicyConfig(allow=["*"])

    assert config.resolve(WRITE, continuous=False) == decision("allow", "default")
    assert config.resolve(EXTERNAL, continuous=False) == decision("approval", "default")


def test_per_tool_beats_per_scope_beats_default() -> None:
    config = ToolPolicyConfig(
        allow=["*"],
        policies={"writer": "deny"},
        scopes={"write": "allow", "read": "approval"},
    )

    assert config.resolve(WRITE, continuous=False) == decision("deny", "tool:writer")
    assert config.resolve(READ, continuous=False) == decision("approval", "scope:read")
    assert config.resolve(EXTERNAL, continuous=False) == decision("approval", "default")


def test_continuous_rules_tighten_only_in_continuous_mode() -> None:
    config = ToolPolicyConfig(
        allow=["*"], scopes={"write": "allow"}, continuous={"scopes": {"write": "approval"}}
    )

    assert config.resolve(WRITE, continuous=False) == decision("allow", "scope:write")
    assert config.resolve(WRITE, continuous=True) == decision("approval", "continuous.scope:write")


def test_continuous_rules_never_loosen() -> None:
    config = ToolPolicyConfig(
        allow=["*"],
        policies={"writer": "deny", "pager": "approval"},
        continuous={"policies": {"writer": "allow"}, "scopes": {"external": "allow"}},
    )

    assert config.resolve(WRITE, continuous=True) == decision("deny", "tool:writer")
    assert config.resolve(EXTERNAL, continuous=True) == decision("approval", "tool:pager")


def test_continuous_per_tool_rule_beats_continuous_per_scope_rule() -> None:
    config = ToolPolicyConfig(
        allow=["*"],
        continuous={"policies": {"writer": "approval"}, "scopes": {"write": "deny"}},
    )

    assert config.resolve(WRITE, continuous=True) == decision("approval", "continuous.tool:writer")


def test_continuous_deny_wins_over_approval() -> None:
    config = ToolPolicyConfig(allow=["*"], continuous={"scopes": {"external": "deny"}})

    assert config.resolve(EXTERNAL, continuous=False).policy == "approval"
    assert config.resolve(EXTERNAL, continuous=True) == decision(
        "deny", "continuous.scope:external"
    )


def test_nothing_is_allowed_without_an_allow_list() -> None:
    assert ToolPolicyConfig().resolve(READ, continuous=False) == decision("deny", "not-allowed")


def test_yaml_section_from_the_agent_spec_parses() -> None:
    section = yaml.safe_load(
        """
        allow: [probe, writer]
        policies: {writer: approval}
        scopes: {write: allow, external: approval}
        continuous: {scopes: {write: approval}}
        """
    )
    config = ToolPolicyConfig.parse(section)

    assert config.resolve(WRITE, continuous=False) == decision("approval", "tool:writer")
    assert config.resolve(EXTERNAL, continuous=False) == decision("deny", "not-allowed")


def test_unknown_tool_names_are_a_config_error_naming_them() -> None:
    config = ToolPolicyConfig(
        allow=["probe", "ghost"],
        policies={"phantom": "deny"},
        continuous={"policies": {"spectre": "approval"}},
    )

    with pytest.raises(ConfigError) as err:
        config.check_known(["probe", "writer"])

    message = str(err.value)
    assert "ghost" in message and "phantom" in message and "spectre" in message
    assert "probe" not in message.split("registered")[0]


def test_star_is_not_an_unknown_name() -> None:
    ToolPolicyConfig(allow=["*"]).check_known(["probe"])


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"policies": {"writer": "maybe"}}, "tools.policies.writer"),
        ({"scopes": {"network": "allow"}}, "tools.scopes.network"),
        ({"alow": ["probe"]}, "tools.alow"),
    ],
)
def test_invalid_section_is_a_config_error_saying_where(section: dict, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        ToolPolicyConfig.parse(section)
