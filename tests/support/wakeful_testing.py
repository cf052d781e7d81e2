"""Helpers shared by test modules (importable: pytest puts tests/support on sys.path)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from graphs.approval import ApprovalDecision
from graphs.engine import Engine
from graphs.spec import AgentSpec, parse_agent_spec
from stack.task_records import EventRow

READ_TOOLS = ["load_average", "memory_usage", "disk_usage", "top_processes"]


def make_spec(
    *,
    script: dict[str, Any] | None = None,
    tools: dict[str, Any] | None = None,
    budgets: dict[str, Any] | None = None,
    entropy: dict[str, Any] | None = None,
    critic: dict[str, Any] | None = None,
    memory: dict[str, Any] | None = None,
    name: str = "test-agent",
) -> AgentSpec:
    data: dict[str, Any] = {
        "name": name,
        "model": {"provider": "scripted", "script": script or {}},
        "tools": tools or {"allow": [*READ_TOOLS, "write_report"]},
    }
    sections = (("budgets", budgets), ("entropy", entropy), ("critic", critic), ("memory", memory))
    for key, value in sections:
        if value is not None:
            data[key] = value
    return parse_agent_spec(data)


async def wait_for_event(
    engine: Engine, task_id: str, type: str, *, timeout: float = 30.0
) -> EventRow:
    """Poll the event log until an event of `type` appears (bounded by `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for event in await engine.records.list_events(task_id, limit=10_000):
            if event.type == type:
                return event
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {type} event for task {task_id} within {timeout}s")
        await asyncio.sleep(0.02)


def approve(action: str = "approve", **kwargs: Any) -> ApprovalDecision:
    return ApprovalDecision(action=action, decided_by="test", **kwargs)


def report_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "reports").glob("*.md"))
