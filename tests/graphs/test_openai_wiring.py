"""ChatOpenAI against a local OpenAI-compatible endpoint: request/response wiring, tool
calls and token accounting through a whole task (Engine + TaskRunner), and a clean failure
when the endpoint does not answer."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from fake_openai_server import FakeOpenAI, Reply, free_port, openai_settings
from langchain_core.messages import AIMessageChunk

from graphs.context import RunContext
from graphs.engine import Engine
from graphs.runner import RunResult, TaskRunner
from graphs.spec import parse_agent_spec
from graphs.state import initial_state
from stack.settings import Settings

pytestmark = pytest.mark.slow

GOAL = "How loaded is this host?"
SPEC = parse_agent_spec(
    {
        "name": "openai-wiring",
        "model": {
            "provider": "openai",
            "name": "wiring-model",
            "roles": {"critic": {"name": "wiring-critic"}},
        },
        "tools": {"allow": ["load_average"]},
        "entropy": {"semantic": False},
    },
    source="test spec",
)
REPLIES = {
    "planner": [
        Reply(
            structured={"steps": [{"id": "load", "description": "Read the load average"}]},
            prompt_tokens=120,
            completion_tokens=30,
        )
    ],
    "worker": [
        Reply(
            text="Checking the load.",
            tool_calls=[("load_average", {})],
            prompt_tokens=200,
            completion_tokens=15,
        ),
        Reply(text="The load is low.", prompt_tokens=260, completion_tokens=20),
    ],
    "critic": [
        Reply(
            structured={"decision": "accept", "reason": "It answers the step."},
            prompt_tokens=90,
            completion_tokens=12,
        )
    ],
}


async def run_task(engine: Engine, settings: Settings, base_url: str) -> RunResult:
    runner = TaskRunner(dataclasses.replace(engine, settings=openai_settings(settings, base_url)))
    task = await runner.submit(GOAL, SPEC)
    return await runner.run(task.id)


def function_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


async def test_a_task_runs_on_an_openai_compatible_endpoint(
    engine: Engine, settings: Settings
) -> None:
    with FakeOpenAI(REPLIES) as server:
        result = await run_task(engine, settings, server.base_url)

    assert result.task.state == "completed", result.task.output
    assert result.task.output == "The load is low."
    assert [r.role for r in server.requests] == ["planner", "worker", "worker", "critic"]
    assert not any(r.body.get("stream") for r in server.requests)  # ainvoke: one JSON answer

    # Model names per role, and structured output as a forced function call.
    assert [r.body["model"] for r in server.requests] == ["wiring-model"] * 3 + ["wiring-critic"]
    for role, schema in (("planner", "Plan"), ("critic", "StepVerdict")):
        [request] = server.by_role(role)
        assert function_names(request.body) == [schema]
        assert request.body["tool_choice"] == {"type": "function", "function": {"name": schema}}

    # The worker is offered the real tool, with its JSON schema, and chooses freely.
    first, second = server.by_role("worker")
    assert function_names(first.body) == ["load_average"]
    assert first.body["tools"][0]["function"]["parameters"]["type"] == "object"
    assert "tool_choice" not in first.body

    # The tool ran, and its result went back to the model under the call's id.
    [call_id] = first.tool_call_ids
    sent_back = second.body["messages"]
    [asked] = [m for m in sent_back if m["role"] == "assistant" and m.get("tool_calls")]
    assert [c["id"] for c in asked["tool_calls"]] == [call_id]
    [answer] = [m for m in sent_back if m["role"] == "tool"]
    assert answer["tool_call_id"] == call_id
    assert "load_1m" in answer["content"]  # the real probe's output
    events = await engine.records.list_events(result.task.id, limit=10_000)
    [tool_event] = [e.data for e in events if e.type == "tool_call"]
    assert tool_event["tool"] == "load_average"
    assert tool_event["status"] == "ok" and tool_event["tool_call_id"] == call_id

    # Tokens are charged exactly as the endpoint reported them.
    reported = [r.total_tokens for r in server.requests]
    assert [e.data["tokens"] for e in events if e.type == "model_call"] == reported
    assert result.task.usage["tokens"] == sum(reported)


async def test_a_streamed_run_gets_streamed_answers_and_charges_their_usage(
    engine: Engine, settings: Settings
) -> None:
    """Streaming the graph's messages makes ChatOpenAI stream; usage comes in the last chunk."""
    with FakeOpenAI(REPLIES) as server:
        runner = TaskRunner(
            dataclasses.replace(engine, settings=openai_settings(settings, server.base_url))
        )
        task = await runner.submit(GOAL, SPEC)
        deps = runner.deps_for(task)
        config = runner.config(task.id, deps.budgets)
        streamed = [
            chunk
            async for chunk, _ in engine.graph.astream(
                initial_state(GOAL, time.time()),
                config,
                context=RunContext(deps=deps),
                stream_mode="messages",
            )
        ]

    assert [r.body.get("stream") for r in server.requests] == [True] * 4
    assert all(r.body["stream_options"] == {"include_usage": True} for r in server.requests)
    assert any(isinstance(c, AIMessageChunk) and c.text == "The load is low." for c in streamed)
    values = (await engine.graph.aget_state(config)).values
    assert values["stop_reason"] == "completed"
    assert values["usage"]["tokens"] == sum(r.total_tokens for r in server.requests)


async def test_an_unreachable_endpoint_fails_the_task_with_a_clear_error(
    engine: Engine, settings: Settings
) -> None:
    closed_port = free_port()  # bound and released: nothing listens there
    result = await run_task(engine, settings, f"http://127.0.0.1:{closed_port}/v1")

    assert result.task.state == "failed"
    assert result.task.stop_reason == "error"
    output = result.task.output or ""
    assert output.endswith("ConnectionError: Connection error.")  # one line, no stack
    assert "Traceback" not in output and len(output) < 300
    events = await engine.records.list_events(result.task.id, limit=10_000)
    assert [e.data["error"] for e in events if e.type == "error"] == [output]
