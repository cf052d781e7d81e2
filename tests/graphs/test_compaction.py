"""L2 compaction in a real run: the window stays bounded, calls keep their results,
the summary grows, and a failing summarizer falls back to hard trimming."""

from __future__ import annotations

import uuid

from langchain_core.messages import AIMessage, ToolMessage
from wakeful_testing import make_spec

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Survey the processes"}]}}
SURVEY = {
    "responses": [
        {"text": f"Survey {i}.", "tool_calls": [{"name": "top_processes", "args": {"n": 10 + i}}]}
        for i in range(8)
    ] + ["Survey done."],
}
NO_LOOPS = {"semantic": False, "repeat_threshold": 100}


def _check_units(messages: list) -> None:
    """Every tool result follows the AI message that called it."""
    pending: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            assert message.tool_call_id in pending, "a tool result lost its call"
            pending.discard(message.tool_call_id)
        elif isinstance(message, AIMessage):
            pending = {c["id"] for c in message.tool_calls}


async def test_compaction_keeps_calls_with_results(run_agent, events_of, engine) -> None:
    agent = f"compaction-{uuid.uuid4().hex[:6]}"  # its own L3 collection
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": SURVEY},
        entropy=NO_LOOPS,
        memory={"working_tokens": 1500},
        name=agent,
    )
    result = await run_agent(spec, goal="Survey the processes")
    assert result.task.state == "completed", result.task.stop_reason
    events = await events_of(result.task.id)
    compactions = [e.data for e in events if e.type == "compaction"]
    assert compactions and all(c["method"] == "summarized" for c in compactions)
    assert all(c["evicted_tokens"] >= 0.3 * c["window_tokens"] for c in compactions)
    summarizer_calls = [
        e for e in events if e.type == "model_call" and e.data["role"] == "summarizer"
    ]
    assert len(summarizer_calls) == len(compactions)
    values = (await engine.graph.aget_state({"configurable": {"thread_id": result.task.id}})).values
    _check_units(values["messages"])
    assert values["summary"].startswith("Summary of earlier work")
    # the evicted windows went to L3 before leaving the context
    stores = await engine.memory()
    evicted = [e for e in stores.episodic.recent("local", agent, limit=1000)
               if e.kind == "evicted_window" and e.task == result.task.id]
    assert evicted and "top_processes" in evicted[0].text


async def test_failing_summarizer_falls_back_to_hard_trim(run_agent, events_of, engine) -> None:
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": SURVEY,
                "summarizer": {"responses": [{"error": "summarizer down"}], "cycle": True}},
        entropy=NO_LOOPS,
        memory={"working_tokens": 1500},
    )
    result = await run_agent(spec, goal="Survey the processes")
    assert result.task.state == "completed", result.task.stop_reason
    compactions = [e.data for e in await events_of(result.task.id) if e.type == "compaction"]
    assert compactions and all(c["method"] == "hard_trim" for c in compactions)
    values = (await engine.graph.aget_state({"configurable": {"thread_id": result.task.id}})).values
    assert "dropped without a summary" in values["summary"]
    _check_units(values["messages"])
