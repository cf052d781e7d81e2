"""Cancellation is checked at every node boundary: a running task stops and ends canceled."""

from __future__ import annotations

import asyncio

import pytest
from wakeful_testing import make_spec, wait_for_event

from graphs.runner import TaskRunner
from stack.errors import TransitionRefused

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Watch the load"}]}}


async def test_cancel_mid_run_stops_at_the_next_boundary(engine, events_of) -> None:
    worker = {
        "responses": [{"text": "Watching.", "tool_calls": [{"name": "load_average"}],
                       "latency_seconds": 0.05}],
        "cycle": True,
    }
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": worker},
        entropy={"semantic": False, "repeat_threshold": 10_000, "alternation_repeats": 5_000},
        budgets={"max_iterations": 10_000, "max_tool_calls": 10_000},
    )
    runner = TaskRunner(engine)
    task = await runner.submit("watch forever", spec)
    running = asyncio.create_task(runner.run(task.id))
    await wait_for_event(engine, task.id, "tool_call")
    flagged = await engine.lifecycle.cancel(task.id, by="test")
    assert flagged.cancel_requested and flagged.state == "working"  # its run stops it
    result = await asyncio.wait_for(running, timeout=30)

    assert (result.task.state, result.task.stop_reason) == ("canceled", "canceled")
    events = await events_of(task.id)
    nodes = [e.data["node"] for e in events if e.type == "node"]
    assert nodes[-2:] == ["finalize", "memorize"]
    # the node that saw the request went straight to finalize: no work after it
    cancel_seen = max(i for i, e in enumerate(events) if e.type == "node"
                      and e.data["node"] not in ("finalize", "memorize"))
    assert not [e for e in events[cancel_seen:] if e.type in ("tool_call", "model_call")]
    # a canceled task cannot be canceled again
    with pytest.raises(TransitionRefused, match="already ended: canceled"):
        await engine.lifecycle.cancel(task.id, by="test")


async def test_stop_event_abandons_an_in_flight_model_call(engine, events_of) -> None:
    """A slow model call (60 s scripted latency) is abandoned when the run's stop event
    fires; the task ends canceled without waiting for the model."""
    slow_plan = {**ONE_STEP, "latency_seconds": 60}
    spec = make_spec(script={"planner": [slow_plan]})
    runner = TaskRunner(engine)
    task = await runner.submit("plan slowly", spec)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(task.id, stop_event=stop))
    await wait_for_event(engine, task.id, "node")  # recall entered; the planner follows
    while not [e for e in await events_of(task.id) if e.data.get("node") == "planner"]:
        await asyncio.sleep(0.01)
    stop.set()
    result = await asyncio.wait_for(running, timeout=30)  # far below the model's 60 s
    assert (result.task.state, result.task.stop_reason) == ("canceled", "canceled")
    assert not [e for e in await events_of(task.id) if e.type == "model_call"]
