"""Each budget kind ends the run with its own stop reason, recorded as an event."""

from __future__ import annotations

import pytest
from wakeful_testing import make_spec

LOOPING_WORKER = {
    "responses": [
        {"text": "Checking load.", "tool_calls": [{"name": "load_average"}]},
        {"text": "Checking memory.", "tool_calls": [{"name": "memory_usage"}]},
        {"text": "Checking disk.", "tool_calls": [{"name": "disk_usage", "args": {"path": "/"}}]},
    ],
    "cycle": True,
}
ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Keep checking"}]}}
# The loop detector would end these runs as `stuck`; switch it off to reach the budgets.
NO_LOOP_DETECTION = {"repeat_threshold": 1000, "error_repeats": 1000, "semantic": False,
                     "alternation_repeats": 500}


@pytest.mark.parametrize(
    ("budgets", "expected", "script"),
    [
        ({"max_iterations": 3}, "max_iterations", {}),
        ({"max_tool_calls": 2}, "max_tool_calls", {}),
        ({"max_tokens": 1500}, "max_tokens", {}),
        # The planner's reply takes 5 s; the runtime budget cuts the call at 0.3 s.
        ({"max_runtime_seconds": 0.3}, "max_runtime_seconds",
         {"planner": [{**ONE_STEP, "latency_seconds": 5}]}),
        ({"iteration_timeout_seconds": 0.2}, "iteration_timeout_seconds",
         {"worker": [{"text": "slow", "latency_seconds": 5}]}),
    ],
)
async def test_budget_exhaustion_stops_with_its_name(
    run_agent, events_of, budgets: dict, expected: str, script: dict
) -> None:
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": LOOPING_WORKER, **script},
        budgets=budgets,
        entropy=NO_LOOP_DETECTION,
    )
    result = await run_agent(spec)
    assert (result.task.state, result.task.stop_reason) == ("failed", expected)
    events = await events_of(result.task.id)
    exhausted = [e.data for e in events if e.type == "budget_exhausted"]
    assert [e["budget"] for e in exhausted] == [expected]
    usage = result.task.usage
    if expected == "max_iterations":
        assert usage["iterations"] == 3
    if expected == "max_tool_calls":
        assert usage["tool_calls"] == 2
        assert len([e for e in events if e.type == "tool_call"]) == 2
    if expected == "max_tokens":
        assert usage["tokens"] >= 1500
        # the budget is checked before each call: at most one call goes past it
        calls = [e.data["tokens"] for e in events if e.type == "model_call"]
        assert sum(calls[:-1]) < 1500
    assert "Stopped before the goal was met" in (result.task.output or "")
