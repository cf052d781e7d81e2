"""A run using an MCP write tool is SIGKILLed, then resumed: the side effect (a counter file
the server increments) happens at most once, and a call whose outcome is unknown waits for a
person's decision instead of being repeated or handed to the model."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from graphs.approval import ApprovalDecision
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from tools.faults import CRASH_AFTER_ENV, CRASH_DURING_ENV
from tools.policy import spec_tool_name

pytestmark = pytest.mark.slow
PLAN = {"structured": {"steps": [{"id": "bump", "description": "Bump the counter once"}]}}
BUMP = {"text": "Bumping.", "tool_calls": [{"name": "t__increment", "args": {"amount": 1}}]}


async def submit(engine: Any, stdio_server: Any, worker: list[Any]) -> str:
    spec = parse_agent_spec(
        {
            "name": f"mcp-crash-{uuid.uuid4().hex[:6]}",
            "model": {"provider": "scripted", "script": {"planner": [PLAN], "worker": worker}},
            "mcp_servers": [stdio_server(scopes={"increment": "write"}).model_dump(mode="json")],
            "tools": {"allow": ["t.increment"]},
            "entropy": {"semantic": False},
        }
    )
    task = await TaskRunner(engine).submit("Bump the counter once.", spec)
    return task.id


async def statuses(engine: Any, task_id: str) -> list[str]:
    events = await engine.records.list_events(task_id, limit=10_000)
    return [e.data["status"] for e in events if e.type == "tool_call"]


async def test_sigkill_right_after_an_mcp_write_is_not_repeated_on_resume(
    mcp_engine, mcp_agent, stdio_server, counter
) -> None:
    task_id = await submit(mcp_engine, stdio_server, [BUMP, "Bumped."])

    await mcp_agent.run_until_killed(
        mcp_engine, task_id, crash_env=CRASH_AFTER_ENV, tool="t__increment"
    )
    assert counter() == 1  # the write happened before the kill
    [entry] = [e for e in await _ledger_rows(mcp_engine, task_id)]
    assert entry["status"] == "completed" and entry["result"] == "counter is now 1"

    result = await mcp_agent.run_task(mcp_engine, task_id)

    assert result.task.state == "completed"
    assert counter() == 1  # ...exactly once
    assert await statuses(mcp_engine, task_id) == ["replayed"]


async def test_sigkill_mid_call_waits_for_a_person_on_resume(
    mcp_engine, mcp_agent, stdio_server, counter
) -> None:
    task_id = await submit(mcp_engine, stdio_server, [BUMP, "Bumped."])

    await mcp_agent.run_until_killed(
        mcp_engine, task_id, crash_env=CRASH_DURING_ENV, tool="t__increment"
    )
    assert counter() == 0
    [entry] = await _ledger_rows(mcp_engine, task_id)
    assert entry["status"] == "started"

    result = await mcp_agent.run_task(mcp_engine, task_id)

    # Found started but unfinished: the task asks "did this happen?" instead of completing.
    assert result.waiting and counter() == 0
    [question] = result.interrupts
    assert (question["kind"], question["reason"]) == ("unknown_outcome", "crashed")
    assert spec_tool_name(question["tool"]) == "t.increment" and question["args"] == {"amount": 1}
    assert await statuses(mcp_engine, task_id) == []  # the model has not been told anything

    done = ApprovalDecision(action="done", comment="counter is now 1", decided_by="test")
    result = await mcp_agent.run_task(mcp_engine, task_id, decision=done)

    assert result.task.state == "completed"
    assert counter() == 0  # the person said it happened: not run again
    assert await statuses(mcp_engine, task_id) == ["confirmed"]
    [entry] = await _ledger_rows(mcp_engine, task_id)
    assert entry == {"status": "completed", "result": "counter is now 1"}


async def _ledger_rows(engine: Any, task_id: str) -> list[dict[str, Any]]:
    async with engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, result FROM tool_ledger WHERE task_id = %s", (task_id,)
        )
        rows = await cur.fetchall()
    return [r if isinstance(r, dict) else {"status": r[0], "result": r[1]} for r in rows]
