"""Export of real tasks: node path from checkpoints, every message (purged ones too), tool
calls with arguments and results, approvals, usage; and choosing tasks to export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from wakeful_testing import approve, make_spec

from evals.export import export_tasks, export_trace, parse_since, select_tasks
from evals.tool_calls import tool_calls
from evals.trace import Trace
from graphs.runner import TaskRunner
from stack.errors import ConfigError

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Find the problem"}]}}


async def test_export_keeps_messages_a_stuck_reset_purged(eval_engine, tmp_path: Path) -> None:
    name = f"export-stuck-{uuid.uuid4().hex[:6]}"
    worker = {"responses": [{"text": "Checking the disk.",
                             "tool_calls": [{"name": "disk_usage", "args": {"path": "/"}}]}],
              "cycle": True}
    spec = make_spec(
        name=name,
        script={"planner": {"responses": [ONE_STEP], "cycle": True}, "worker": worker},
        tools={"allow": ["disk_usage"]},
        entropy={"semantic": False, "repeat_threshold": 3, "max_resets": 1},
    )
    runner = TaskRunner(eval_engine)
    task = await runner.submit("Find what fills the disk.", spec)
    result = await runner.run(task.id)
    assert result.task.stop_reason == "stuck"

    trace = await export_trace(eval_engine, task.id)
    assert trace.task["state"] == "failed" and trace.task["agent"] == name
    assert trace.nodes[:3] == ["recall", "planner", "worker"]
    assert trace.nodes[-2:] == ["finalize", "memorize"]
    assert trace.nodes.count("planner") == 2  # the reset forced a replan
    assert trace.graph_steps == [["__start__", *trace.nodes]]
    calls = tool_calls(trace)
    # caught at the 3rd identical call, then at the first repeat after the reset
    assert [(c.name, c.args, c.status) for c in calls] == [("disk_usage", {"path": "/"}, "ok")] * 4
    assert all(c.result and "used_percent" in c.result for c in calls)
    purged = [m for m in trace.messages if not m["in_final_state"]]
    assert len(purged) >= 6  # the first three calls and their results were purged
    assert trace.usage["tool_calls"] == 4 and trace.usage["tokens_by_role"]["worker"] > 0
    assert trace.state["stop_reason"] == "stuck"
    assert [e["seq"] for e in trace.events] == list(range(1, len(trace.events) + 1))

    [path] = await export_tasks(eval_engine, [result.task], tmp_path)
    assert path.name == f"{task.id}.jsonl"
    assert Trace.read(path).dumps() == trace.dumps().replace(
        trace.exported_at, Trace.read(path).exported_at
    )


async def test_export_records_the_interrupt_and_the_decision(eval_engine) -> None:
    spec = make_spec(
        name=f"export-approval-{uuid.uuid4().hex[:6]}",
        script={"planner": [{"structured": {"steps": [{"id": "r", "description": "Report"}]}}],
                "worker": [{"text": "Saving.", "tool_calls": [
                    {"name": "write_report", "args": {"title": "T", "body": "B"}}]}, "Saved."]},
        tools={"allow": ["write_report"], "policies": {"write_report": "approval"}},
        entropy={"semantic": False},
    )
    runner = TaskRunner(eval_engine)
    task = await runner.submit("Write a report.", spec)
    waiting = await runner.run(task.id)
    partial = await export_trace(eval_engine, task.id)  # a waiting task exports too
    assert partial.task["state"] == "input-required"
    assert [c.status for c in tool_calls(partial)] == ["not_run"]
    await runner.run(task.id, decision=approve())

    trace = await export_trace(eval_engine, task.id)
    [interrupt] = trace.interrupts
    assert interrupt["node"] == "tools" and interrupt["value"]["tool"] == "write_report"
    assert interrupt["id"] == waiting.interrupts[0]["id"]
    assert trace.nodes.count("tools") == 1  # interrupted and resumed: one node run
    first, second = trace.graph_steps
    assert first[-2:] == ["tools", "__interrupt__"] and second[0] == "entropy_monitor"
    [call] = tool_calls(trace)
    assert (call.name, call.args, call.status, call.approval) == (
        "write_report", {"title": "T", "body": "B"}, "ok", "approve")


async def test_select_tasks_by_id_agent_and_time(eval_engine) -> None:
    name = f"export-select-{uuid.uuid4().hex[:6]}"
    spec = make_spec(name=name, tools={"allow": []}, entropy={"semantic": False})
    runner = TaskRunner(eval_engine)
    tasks = [await runner.submit(f"goal {i}", spec) for i in range(3)]
    chosen = await select_tasks(eval_engine, agent=name)
    assert [t.id for t in chosen] == [t.id for t in tasks]  # oldest first
    assert len(await select_tasks(eval_engine, agent=name, limit=2)) == 2
    [one] = await select_tasks(eval_engine, task_id=tasks[1].id[:13])
    assert one.id == tasks[1].id
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await select_tasks(eval_engine, agent=name, since=future) == []
    with pytest.raises(ConfigError, match="say which tasks"):
        await select_tasks(eval_engine)
    with pytest.raises(ConfigError, match="not both"):
        await select_tasks(eval_engine, task_id=tasks[0].id, agent=name)


def test_parse_since() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-04-30", now) == datetime(2026, 4, 30, tzinfo=UTC)
    assert parse_since("2026-04-30T10:00:00+02:00", now).utcoffset() == timedelta(hours=2)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("yesterday", now)
