"""Parallel branches on a real (OpenAI-compatible) model record every model call: sibling
branches count their calls from the same fan-out, so the events they write must be keyed
apart (scripted models hide this, since their cursors are laid out per branch)."""

from __future__ import annotations

import dataclasses
from collections import Counter

from fake_openai_server import FakeOpenAI, Reply, openai_settings

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from stack.settings import Settings

TWO_STEPS = {
    "steps": [
        {"id": "a", "description": "Read the load average"},
        {"id": "b", "description": "Read the memory usage"},
    ]
}
ACCEPT = {"decision": "accept", "reason": "It answers the step.", "confidence": 0.9}


async def test_every_branch_model_call_is_an_event(engine: Engine, settings: Settings) -> None:
    spec = parse_agent_spec(
        {
            "name": "parallel-openai",
            "max_parallel_steps": 2,
            "model": {"provider": "openai", "name": "main-model"},
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
            "memory": {"episodic": False, "knowledge": False},
        }
    )
    replies = {
        "planner": [Reply(structured=TWO_STEPS)],
        "worker": [Reply(text="Step result one."), Reply(text="Step result two.")],
        "critic": [Reply(structured=ACCEPT), Reply(structured=ACCEPT)],
    }
    with FakeOpenAI(replies) as server:
        wired = dataclasses.replace(engine, settings=openai_settings(settings, server.base_url))
        runner = TaskRunner(wired)
        task = await runner.submit("Check the host", spec)
        result = await runner.run(task.id)

    assert result.task.state == "completed", result.task.output
    events = await engine.records.list_events(task.id, limit=10_000)
    assert any(e.type == "fan_out" for e in events)
    calls = [e.data for e in events if e.type == "model_call"]
    assert len(calls) == len(server.requests) == 5  # planner, then worker + critic per branch
    seen = Counter((c.get("branch") or "-", c["role"]) for c in calls)
    assert seen == Counter(
        {("-", "planner"): 1, ("a", "worker"): 1, ("a", "critic"): 1,
         ("b", "worker"): 1, ("b", "critic"): 1}
    )  # fmt: skip
