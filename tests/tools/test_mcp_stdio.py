"""MCP over stdio: discovery and naming, calls, and a server that crashes, hangs or flakes."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stack.errors import ConfigError
from tools.mcp.toolbox import McpStartError, McpToolbox
from tools.policy import ToolPolicyConfig, spec_tool_name
from tools.registry import ToolRegistry, Toolset

pytestmark = pytest.mark.slow
ALL = ToolPolicyConfig(allow=["*"])


@pytest.fixture
async def toolbox(stdio_server: Callable[..., Any]) -> AsyncIterator[McpToolbox]:
    config = stdio_server(timeout_s=2, scopes={"echo": "read", "pid": "read", "flaky": "read"})
    async with await McpToolbox.open([config], pins=None) as opened:
        yield opened


@pytest.fixture
def toolset(toolbox: McpToolbox, builtins: ToolRegistry) -> Toolset:
    return toolbox.toolset(builtins, ALL, continuous=False)


async def test_tools_are_discovered_and_namespaced(toolbox: McpToolbox, toolset: Toolset) -> None:
    names = {tool.name for tool in toolbox.tools}
    assert {"t__echo", "t__increment", "t__crash", "t__hang", "t__flaky"} <= names
    assert spec_tool_name("t__echo") == "t.echo"
    bound = {tool.name for tool in toolset.model_tools()}
    assert "t__echo" in bound and "write_report" in bound  # built-ins and MCP together
    echo = toolset.lookup("t__echo")
    assert echo is not None and echo.registered.spec.description == "Echo the text back."


async def test_scope_comes_from_the_spec_never_from_annotations(toolset: Toolset) -> None:
    increment = toolset.lookup("t__increment")  # the server claims readOnlyHint=True
    echo = toolset.lookup("t__echo")
    assert increment is not None and increment.registered.spec.scope == "external"
    assert echo is not None and echo.registered.spec.scope == "read"


async def test_policy_names_mcp_tools_as_server_dot_tool(
    toolbox: McpToolbox, builtins: ToolRegistry
) -> None:
    config = ToolPolicyConfig.parse(
        {"allow": ["t.echo", "t.increment"], "policies": {"t.increment": "approval"}}
    )
    toolset = toolbox.toolset(builtins, config, continuous=False)

    increment = toolset.lookup("t__increment")
    assert increment is not None
    assert increment.decision.policy == "approval"
    assert increment.decision.source == "tool:t.increment"
    assert toolset.usable_names() == ["t__echo", "t__increment"]


async def test_a_spec_naming_an_undiscovered_tool_is_rejected(
    toolbox: McpToolbox, builtins: ToolRegistry
) -> None:
    with pytest.raises(ConfigError, match=r"unknown tool\(s\): t\.nope;.* t\.echo"):
        toolbox.toolset(builtins, ToolPolicyConfig(allow=["t.nope"]), continuous=False)


async def test_calls_return_the_tool_output(toolset: Toolset, call, counter) -> None:
    echoed = await call(toolset, "t__echo", {"text": "hello"})
    counted = await call(toolset, "t__increment", {"amount": 2})

    assert (echoed.status, echoed.content) == ("ok", "echo: hello")
    assert (counted.status, counted.content) == ("ok", "counter is now 2")
    assert counter() == 2


async def test_bad_arguments_are_refused_before_the_server_sees_them(toolset, call) -> None:
    outcome = await call(toolset, "t__echo", {"txt": "typo"})

    assert outcome.status == "error" and outcome.attempts == 0
    assert "text" in outcome.content and "required" in outcome.content


async def test_an_error_result_is_an_error_and_not_retried(toolset: Toolset, call) -> None:
    outcome = await call(toolset, "t__fail")

    assert outcome.status == "error" and outcome.attempts == 1
    assert "returned an error" in outcome.content and "failed on purpose" in outcome.content


async def test_a_crash_mid_call_leaves_the_outcome_unknown_and_the_next_call_restarts_it(
    toolbox: McpToolbox, toolset: Toolset, call, counter
) -> None:
    before = (await call(toolset, "t__pid")).content

    crashed = await call(toolset, "t__crash")
    after = await call(toolset, "t__pid")

    # external: not retried, and it may have taken effect before the server died
    assert crashed.status == "unknown_outcome" and crashed.attempts == 1
    assert crashed.unknown_reason == "connection_lost"
    assert "was lost during the call" in crashed.content and "may or may not" in crashed.content
    assert counter("crash-calls") == 1
    assert after.status == "ok" and after.content != before  # a new server process
    assert toolbox.connection("t").connects == 2


async def test_a_server_killed_between_calls_is_restarted_for_the_next_call(
    toolbox: McpToolbox, toolset: Toolset, call
) -> None:
    first = await call(toolset, "t__pid")
    os.kill(int(first.content), signal.SIGKILL)

    # If the death was noticed before sending, the call goes to a new session at once;
    # if not, the read tool's first attempt is lost and retried on a new session.
    second = await call(toolset, "t__pid")

    assert second.status == "ok" and second.content != first.content
    assert toolbox.connection("t").connects == 2


async def test_a_hanging_tool_times_out_and_the_server_is_restarted(
    toolbox: McpToolbox, toolset: Toolset, call, counter
) -> None:
    hung = await call(toolset, "t__hang")
    after = await call(toolset, "t__echo", {"text": "still here"})

    assert hung.status == "unknown_outcome" and hung.attempts == 1  # external: may have run
    assert hung.unknown_reason == "timeout" and "timed out after 2s" in hung.content
    assert counter("hang-calls") == 1
    assert after.status == "ok" and after.content == "echo: still here"
    assert toolbox.connection("t").connects == 2


async def test_a_flaky_read_tool_is_retried_until_it_works(
    toolbox: McpToolbox, toolset: Toolset, call, counter
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    outcome = await call(toolset, "t__flaky", sleep=sleep)

    # The first two calls crash the server (MCP_TEST_FLAKY=2): three attempts, two waits.
    assert outcome.status == "ok" and outcome.content == "worked on call 3"
    assert outcome.attempts == 3 and counter("flaky-calls") == 3
    assert len(delays) == 2 and delays[0] < delays[1]
    assert toolbox.connection("t").connects == 3


async def test_a_crashing_write_tool_is_not_retried(stdio_server, builtins, call, counter):
    config = stdio_server(scopes={"flaky": "write"}, max_retries=3)
    async with await McpToolbox.open([config], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        outcome = await call(toolset, "t__flaky")

    assert outcome.status == "unknown_outcome" and outcome.attempts == 1
    assert outcome.unknown_reason == "connection_lost"
    assert counter("flaky-calls") == 1


async def test_long_output_is_truncated(stdio_server, builtins, call) -> None:
    config = stdio_server(max_output_chars=1_000)
    async with await McpToolbox.open([config], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        outcome = await call(toolset, "t__big", {"chars": 50_000})

    assert outcome.status == "ok" and len(outcome.content) == 1_000
    assert "… [truncated" in outcome.content and outcome.content.startswith("xxx")


async def test_a_server_that_cannot_start_is_a_clear_error(stdio_server) -> None:
    config = stdio_server(name="broken", command="/nonexistent/mcp-server", connect_timeout_s=5)
    with pytest.raises(McpStartError, match=r"'broken'.*could not"):
        await McpToolbox.open([config], pins=None)
