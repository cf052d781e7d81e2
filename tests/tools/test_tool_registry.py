from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.tools import StructuredTool

from stack.errors import ConfigError, NotFound
from tools.policy import ToolPolicyConfig
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool, ToolSpec


def echo(value: str) -> str:
    return value


def test_registering_a_name_twice_is_a_config_error(make_tool: Callable) -> None:
    registry = ToolRegistry([make_tool("a", func=echo)])

    with pytest.raises(ConfigError, match="'a' is already registered"):
        registry.register(make_tool("a", func=echo))


def test_get_unknown_tool_is_not_found(make_tool: Callable) -> None:
    registry = ToolRegistry([make_tool("b", func=echo), make_tool("a", func=echo)])

    assert registry.names() == ["a", "b"]
    assert registry.get("a").name == "a"
    with pytest.raises(NotFound, match="'c'"):
        registry.get("c")


def test_spec_and_tool_must_share_a_name() -> None:
    tool = StructuredTool.from_function(echo, name="other", description="echo")

    with pytest.raises(ConfigError, match="give both the same name"):
        RegisteredTool(spec=ToolSpec(name="echo", description="echo", scope="read"), tool=tool)


def test_toolset_binds_allowed_and_approval_tools_but_not_denied_ones(
    make_tool: Callable,
) -> None:
    registry = ToolRegistry(
        [
            make_tool("probe", func=echo),
            make_tool("writer", func=echo, scope="write"),
            make_tool("hidden", func=echo),
            make_tool("blocked", func=echo),
        ]
    )
    config = ToolPolicyConfig(
        allow=["probe", "writer", "blocked"],
        policies={"blocked": "deny"},
        continuous={"scopes": {"write": "approval"}},
    )

    task = registry.toolset(config, continuous=False)
    unattended = registry.toolset(config, continuous=True)

    assert [t.name for t in task.model_tools()] == ["probe", "writer"]
    assert not task.needs_approval("writer")
    assert unattended.needs_approval("writer")
    assert [t.name for t in unattended.model_tools()] == ["probe", "writer"]
    assert task.lookup("hidden").decision.source == "not-allowed"  # type: ignore[union-attr]
    assert task.lookup("blocked").decision.source == "tool:blocked"  # type: ignore[union-attr]
    assert task.lookup("nope") is None


def test_toolset_rejects_config_naming_unregistered_tools(make_tool: Callable) -> None:
    registry = ToolRegistry([make_tool("probe", func=echo)])

    with pytest.raises(ConfigError, match=r"unknown tool.*memry_usage"):
        registry.toolset(ToolPolicyConfig(allow=["memry_usage"]), continuous=False)
