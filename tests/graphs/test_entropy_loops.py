"""Stuck loops: caught by the structural rule and, separately, by the semantic rule;
reset once (history purged, warning injected, replan), then ended as `stuck`."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from wakeful_testing import make_spec

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Find the problem"}]}}


async def _assert_reset_then_stuck(result, events, engine, signal_prefix: str) -> None:
    assert (result.task.state, result.task.stop_reason) == ("failed", "stuck")
    stuck = [e.data for e in events if e.type == "stuck_detected"]
    assert len(stuck) == 2
    assert all(s["signal"].startswith(signal_prefix) for s in stuck), stuck
    assert [s["ending"] for s in stuck] == [False, True]
    plans = [e.data for e in events if e.type == "plan"]
    assert [p["replan"] for p in plans] == [False, True]
    assert plans[1]["reason"].startswith(f"stuck: {signal_prefix}")
    snapshot = await engine.graph.aget_state({"configurable": {"thread_id": result.task.id}})
    values = snapshot.values
    # history was purged at the reset: the warning is the oldest message left
    first = values["messages"][0]
    assert isinstance(first, HumanMessage) and first.content.startswith("Warning:")
    assert "Reset 1" in values["summary"]
    assert values["loop"]["temperature_boost"] > 0


async def test_structural_rule_catches_a_repeated_call(run_agent, events_of, engine) -> None:
    worker = {
        "responses": [{"text": "Checking the disk.",
                       "tool_calls": [{"name": "disk_usage", "args": {"path": "/"}}]}],
        "cycle": True,
    }
    spec = make_spec(
        script={"planner": {"responses": [ONE_STEP], "cycle": True}, "worker": worker},
        entropy={"semantic": False, "repeat_threshold": 3, "max_resets": 1},
        budgets={"max_iterations": 50, "max_tool_calls": 50},
    )
    result = await run_agent(spec)
    events = await events_of(result.task.id)
    await _assert_reset_then_stuck(result, events, engine, "repeated_call")
    # caught at the 3rd identical call each time: 3 before the reset, 3 after
    assert len([e for e in events if e.type == "tool_call"]) == 6


async def test_structural_rule_catches_alternation(run_agent, events_of, engine) -> None:
    worker = {
        "responses": [
            {"text": "Load?", "tool_calls": [{"name": "load_average"}]},
            {"text": "Memory?", "tool_calls": [{"name": "memory_usage"}]},
        ],
        "cycle": True,
    }
    spec = make_spec(
        script={"planner": {"responses": [ONE_STEP], "cycle": True}, "worker": worker},
        entropy={"semantic": False, "repeat_threshold": 10, "alternation_repeats": 2},
    )
    result = await run_agent(spec)
    events = await events_of(result.task.id)
    await _assert_reset_then_stuck(result, events, engine, "alternation")


async def test_semantic_rule_catches_similar_thoughts(run_agent, events_of, engine) -> None:
    # Different arguments every time (the structural rule stays quiet), same thought.
    paths = ["/", "/tmp", "/var", "/usr", "/etc", "/root", "/opt", "/srv", "/home", "/boot"]
    worker = {
        "responses": [
            {"text": "I still have not found the problem, let me check the disk usage again.",
             "tool_calls": [{"name": "disk_usage", "args": {"path": p}}]}
            for p in paths
        ],
        "cycle": True,
    }
    spec = make_spec(
        script={"planner": {"responses": [ONE_STEP], "cycle": True}, "worker": worker},
        entropy={"semantic": True, "semantic_window": 5, "semantic_threshold": 0.95,
                 "repeat_threshold": 3, "max_resets": 1},
    )
    result = await run_agent(spec)
    events = await events_of(result.task.id)
    await _assert_reset_then_stuck(result, events, engine, "similar_thoughts")
    assert len([e for e in events if e.type == "tool_call"]) == 10  # 5 thoughts, twice


async def test_varied_work_is_not_called_stuck(run_agent, events_of) -> None:
    """The default heuristic run (four different probes, then a summary) is progress."""
    spec = make_spec(entropy={"semantic": True, "max_resets": 0})
    result = await run_agent(spec)
    assert result.task.state == "completed", result.task.stop_reason
    assert not [e for e in await events_of(result.task.id) if e.type == "stuck_detected"]
