"""Agents as MCP tools at /mcp, through the `mcp` Python client over streamable HTTP: the
tenant's agents are its tools, a call runs a task to its end, an approval is asked through
elicitation (or left waiting for clients without it), and nothing crosses tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.slow


@asynccontextmanager
async def mcp_session(api, who: str, **callbacks: Any) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60.0, read=120.0)) as http,
        streamable_http_client(f"{api.base_url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write, **callbacks) as session,
    ):
        await session.initialize()
        yield session


async def test_no_token_is_401(api):
    response = await api.client(None).post("/mcp", json={})
    assert response.status_code == 401 and "Bearer" in response.headers["www-authenticate"]


async def test_the_tenants_agents_are_tools_and_a_call_runs_a_task(api):
    async with mcp_session(api, "acme/submitter") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"default", "quick", "slow", "gated"} <= set(tools)
        assert tools["quick"].inputSchema["required"] == ["goal"]

        result = await session.call_tool("quick", {"goal": "Check the load"})
        assert result.isError is False, result
        structured = result.structuredContent
        assert structured["state"] == "completed" and structured["output"]
        assert result.content[0].text == structured["output"]

    # the same task, seen through REST
    rest = await api.client("acme/submitter").get(f"/tasks/{structured['task_id']}")
    assert rest.json()["goal"] == "Check the load" and rest.json()["agent"] == "quick"

    async with mcp_session(api, "globex/admin") as theirs:
        names = {tool.name for tool in (await theirs.list_tools()).tools}
        assert "quick" not in names
        missing = await theirs.call_tool("quick", {"goal": "x"})
        assert missing.isError and "no agent named 'quick'" in missing.content[0].text


async def test_bad_input_is_an_error_result(api):
    async with mcp_session(api, "acme/submitter") as session:
        no_goal = await session.call_tool("quick", {})
        assert no_goal.isError and "goal" in no_goal.content[0].text
        budget = await session.call_tool("quick", {"goal": "x", "budgets": {"max_tokens": 1e300}})
        assert budget.isError and "max_tokens" in budget.content[0].text


async def test_an_approval_is_asked_by_elicitation(api):
    asked: list[types.ElicitRequestParams] = []

    async def approve(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(
            action="accept", content={"action": "approve", "comment": "fine by me"}
        )

    async with mcp_session(api, "acme/approver", elicitation_callback=approve) as session:
        result = await session.call_tool("gated", {"goal": "Write the report"})
    assert result.isError is False, result
    assert result.structuredContent["state"] == "completed"
    assert len(asked) == 1 and "write_report" in asked[0].message
    events = await api.services.tasks.events("acme", result.structuredContent["task_id"])
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["comment"]) == ("approve", "fine by me")
    assert decided["decided_by"] == "mcp:acme-approver"


async def test_declining_rejects_and_clients_without_elicitation_get_a_waiting_task(api):
    async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with mcp_session(api, "acme/approver", elicitation_callback=decline) as session:
        rejected = await session.call_tool("gated", {"goal": "Write the report"})
    assert rejected.structuredContent["state"] == "completed"
    events = await api.services.tasks.events("acme", rejected.structuredContent["task_id"])
    assert [e.data["action"] for e in events if e.type == "approval_decided"] == ["reject"]

    # a submitter may not decide: the task is left waiting, and the result says how to answer
    async with mcp_session(api, "acme/submitter") as session:
        waiting = await session.call_tool("gated", {"goal": "Write the report"})
    assert waiting.isError is False
    assert waiting.structuredContent["state"] == "input-required"
    assert waiting.structuredContent["waiting_for"]["tool"] == "write_report"
    assert "/approval" in waiting.content[0].text
    await api.client("acme/submitter").post(f"/tasks/{waiting.structuredContent['task_id']}/cancel")


async def test_each_call_is_checked_against_its_own_tenants_tool(api):
    """Two tenants' agents of one name differ (globex's has a goal of its own): a call is
    checked against the caller's tool, whichever tenant listed its tools last."""
    await api.services.agents.apply(
        "globex",
        {
            "name": "quick",
            "goal": "Check the load",
            "entropy": {"semantic": False},
            "model": {"provider": "scripted", "script": {"worker": ["The load is fine."]}},
        },
    )
    async with (
        mcp_session(api, "globex/admin") as theirs,
        mcp_session(api, "acme/submitter") as ours,
    ):
        assert (
            "required"
            not in {t.name: t for t in (await theirs.list_tools()).tools}["quick"].inputSchema
        )
        assert {t.name: t for t in (await ours.list_tools()).tools}["quick"].inputSchema[
            "required"
        ] == ["goal"]  # acme listed last

        result = await theirs.call_tool("quick", {})  # globex's own goal
        assert result.isError is False, result
        assert result.structuredContent["state"] == "completed"
        refused = await ours.call_tool("quick", {})
        assert refused.isError and "'goal' is a required property" in refused.content[0].text

        await theirs.list_tools()  # globex lists last now
        refused_again = await ours.call_tool("quick", {})
        assert (
            refused_again.isError
            and "'goal' is a required property" in refused_again.content[0].text
        )
