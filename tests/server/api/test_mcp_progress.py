"""Progress notifications of a tools/call at /mcp (through the `mcp` Python client): one per
visible change of the task, and a heartbeat while it runs; the count only grows."""

from __future__ import annotations

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from server.mcp_server.progress import HEARTBEAT_S

pytestmark = pytest.mark.slow


async def call_with_progress(api, tool: str, goal: str, on_progress) -> dict:
    token = api.tokens["acme/submitter"]
    async with (
        httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(60.0, read=300.0)
        ) as http,
        streamable_http_client(f"{api.base_url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool(tool, {"goal": goal}, progress_callback=on_progress)
    return {"error": result.isError, **(result.structuredContent or {})}


async def test_a_call_reports_the_tasks_changes_as_progress(api):
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    result = await call_with_progress(api, "quick", "Check the load", on_progress)
    assert result["state"] == "completed", result
    assert seen and seen[-1][1] == f"task {result['task_id']} completed", seen
    counts = [progress for progress, _ in seen]
    assert counts == sorted(set(counts)), seen


async def test_a_running_call_has_a_heartbeat(api, eventually):
    seen: list[str | None] = []
    client = api.client("acme/submitter")

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)
        working = [m for m in seen if m and m.endswith(" working")]
        if len(working) >= 2:  # a change, then the same again: a heartbeat
            task_id = working[0].split()[1]
            await client.post(f"/tasks/{task_id}/cancel")

    result = await call_with_progress(api, "slow", "Take your time", on_progress)
    assert result["error"] and result["state"] == "canceled", (result, seen, HEARTBEAT_S)
