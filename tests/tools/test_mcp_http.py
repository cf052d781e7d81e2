"""MCP over streamable HTTP: the test server runs as a subprocess on a loopback port."""

from __future__ import annotations

import pytest

from tools.mcp.toolbox import McpStartError, McpToolbox
from tools.policy import ToolPolicyConfig

pytestmark = pytest.mark.slow
ALL = ToolPolicyConfig(allow=["*"])


async def test_tools_are_discovered_and_called_over_http(http_server, builtins, call) -> None:
    async with await McpToolbox.open([http_server.config()], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        outcome = await call(toolset, "web__echo", {"text": "over http"})

    assert "web__increment" in toolset.usable_names()
    assert (outcome.status, outcome.content) == ("ok", "echo: over http")


async def test_headers_from_the_spec_reach_the_server(http_server, builtins, call, monkeypatch):
    # A wrong Host header is refused by the server's DNS-rebinding protection: proof that
    # configured headers are sent (with ${VAR} filled from our environment).
    monkeypatch.setenv("WAKEFUL_TEST_HOST", "evil.example")
    config = http_server.config(headers={"Host": "${WAKEFUL_TEST_HOST}"}, connect_timeout_s=5)
    with pytest.raises(McpStartError, match="'web'"):
        await McpToolbox.open([config], pins=None)


async def test_a_server_crash_mid_call_is_unknown_and_a_restarted_server_is_reconnected(
    http_server, builtins, call, counter
) -> None:
    config = http_server.config(timeout_s=2, scopes={"echo": "read"})
    async with await McpToolbox.open([config], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        crashed = await call(toolset, "web__crash")
        assert http_server.wait_exit() != 0
        down = await call(toolset, "web__echo", {"text": "anyone?"}, sleep=_no_wait)
        http_server.start()  # an operator (or a supervisor) brings it back
        back = await call(toolset, "web__echo", {"text": "back"})

    # The broken stream is noticed at once (tools/mcp/http_watch.py), and whether the
    # (external) call took effect is unknown.
    assert crashed.status == "unknown_outcome" and crashed.attempts == 1
    assert crashed.unknown_reason == "connection_lost" and "lost" in crashed.content
    assert counter("crash-calls") == 1
    assert down.status == "error" and down.attempts == 3  # read: retried, all refused
    assert "could not start or reach MCP server 'web'" in down.content
    assert (back.status, back.content) == ("ok", "echo: back")
    assert toolbox.connection("web").connects == 2


async def test_a_server_restarted_between_calls_is_reconnected(http_server, builtins, call):
    config = http_server.config(scopes={"pid": "read"})
    async with await McpToolbox.open([config], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        first = await call(toolset, "web__pid")
        http_server.stop()
        http_server.start()
        second = await call(toolset, "web__pid", sleep=_no_wait)

    assert first.status == "ok" and second.status == "ok"
    assert first.content != second.content
    assert toolbox.connection("web").connects == 2


async def _no_wait(seconds: float) -> None:
    return None
