"""Tasks through the services on an in-process worker: a run is a queue job, cancel reaches
a running task through LISTEN/NOTIFY, approvals resume on a worker, tenants stay apart."""

from __future__ import annotations

import asyncio
import time

import pytest

from graphs.approval import ApprovalDecision
from stack.errors import ConfigError, Conflict, NotFound


async def _events(rt, tenant, task_id):
    return await rt.tasks.events(tenant, task_id, limit=10_000)


async def test_a_submitted_task_runs_as_a_job_and_completes(rt, start_worker, spec, eventually):
    await rt.agents.apply("acme", spec())
    task = await rt.tasks.submit("acme", goal="Check the load", agent="rt-agent", budgets=None)
    assert (task.state, task.agent) == ("submitted", "rt-agent")
    start_worker(concurrency=2)

    async def ended():
        view = await rt.tasks.get("acme", task.id)
        return view if view.task.terminal else None

    view = await eventually(ended, message="task completed")
    assert (view.task.state, view.task.stop_reason) == ("completed", "completed")
    assert view.approval is None
    assert {b.budget for b in view.budgets} >= {"max_tokens", "max_iterations"}

    async def recorded():  # the row changes first, its state_change event right after
        events = await _events(rt, "acme", task.id)
        return events if events[-1].data.get("to") == "completed" else None

    events = await eventually(recorded, message="state_change to completed")
    assert [e.type for e in events[:2]] == ["run_started", "state_change"]
    assert events[1].data == {"from": "submitted", "to": "working", "stop_reason": None}

    async def job_done():  # the job ends after the task (alert rules are checked in between)
        jobs = await rt.queue.job_manager.list_jobs_async(lock=task.id)
        return jobs if all(j.status != "doing" for j in jobs) else None

    jobs = await eventually(job_done, message="the job finished")
    assert [(j.task_kwargs["task_id"], j.status) for j in jobs] == [(task.id, "succeeded")]


async def test_cancel_reaches_a_running_task_within_a_second(rt, start_worker, spec, eventually):
    """The planner's model call takes 60 s; cancel abandons it and the task ends canceled
    at the next boundary, with no model call recorded."""
    slow_plan = {"structured": {"steps": [{"id": "s", "description": "x"}]},
                 "latency_seconds": 60}
    await rt.agents.apply("acme", spec("slow", planner=[slow_plan]))
    task = await rt.tasks.submit("acme", goal="Plan slowly", agent="slow", budgets=None)
    start_worker()

    async def planning():
        return any(e.data.get("node") == "planner" for e in await _events(rt, "acme", task.id))

    await eventually(planning, message="planner entered")
    started = time.monotonic()
    await rt.tasks.cancel("acme", task.id)

    async def canceled():
        return (await rt.tasks.get("acme", task.id)).task.state == "canceled"

    await eventually(canceled, timeout=10, interval=0.01, message="task canceled")
    elapsed = time.monotonic() - started
    print(f"cancel -> canceled: {elapsed * 1000:.0f} ms")
    assert elapsed <= 1.0

    async def recorded():  # the row changes first, its state_change event right after
        events = await _events(rt, "acme", task.id)
        return events if events[-1].data.get("to") == "canceled" else None

    events = await eventually(recorded, message="state_change to canceled")
    assert not [e for e in events if e.type == "model_call"]
    nodes = [e.data["node"] for e in events if e.type == "node"]
    assert nodes[-3:] == ["planner", "finalize", "memorize"]
    with pytest.raises(Conflict):
        await rt.tasks.cancel("acme", task.id)


async def test_a_queued_task_is_canceled_at_once(rt, spec):
    await rt.agents.apply("acme", spec())
    task = await rt.tasks.submit("acme", goal="Never runs", agent="rt-agent", budgets=None)
    canceled = await rt.tasks.cancel("acme", task.id, by="test")
    assert (canceled.state, canceled.stop_reason, canceled.cancel_requested) == (
        "canceled", "canceled", True)
    [event] = await _events(rt, "acme", task.id)
    assert event.data == {"from": "submitted", "to": "canceled", "stop_reason": "canceled",
                          "by": "test"}


async def test_an_approval_waits_and_resumes_on_a_worker(rt, start_worker, spec, eventually):
    tools = {"allow": ["load_average"], "policies": {"load_average": "approval"}}
    worker = [{"text": "Checking.", "tool_calls": [{"name": "load_average"}]}, "Load is fine."]
    await rt.agents.apply("acme", spec("asker", worker=worker, tools=tools))
    task = await rt.tasks.submit("acme", goal="Check the load", agent="asker", budgets=None)
    start_worker()

    async def waiting():
        view = await rt.tasks.get("acme", task.id)
        return view if view.task.state == "input-required" else None

    view = await eventually(waiting, message="approval requested")
    assert view.approval is not None and view.approval["tool"] == "load_average"
    decision = ApprovalDecision(action="approve", decided_by="test:alice")
    await rt.tasks.decide("acme", task.id, decision)
    with pytest.raises(Conflict):  # the first answer is queued or applied
        await rt.tasks.decide("acme", task.id, decision)

    async def completed():
        return (await rt.tasks.get("acme", task.id)).task.state == "completed"

    await eventually(completed, message="task completed after approval")
    events = await _events(rt, "acme", task.id)
    types = [e.type for e in events]
    answered = types.index("approval_decided")
    # the answer moved the task (who and what, in the same transaction), then a run took it
    back = [e for e in events[:answered] if e.type == "state_change"][-1]
    assert back.data == {"from": "input-required", "to": "working", "stop_reason": None,
                         "by": "test:alice", "decision": "approve"}
    assert events[answered - 1].type == "run_started"
    assert events[answered - 1].data["reason"] == "resume"
    assert events[answered].data["decided_by"] == "test:alice"
    assert types.count("approval_requested") == 1
    assert types.count("approval_decided") == 1
    assert types.count("run_started") == 2  # the first run, and the resume with the answer
    with pytest.raises(Conflict):
        await rt.tasks.decide("acme", task.id, decision)


async def test_tenants_never_see_each_other(rt, spec):
    await rt.agents.apply("acme", spec())
    theirs = await rt.tasks.submit("acme", goal="Secret work", agent="rt-agent", budgets=None)
    for call in (
        rt.tasks.get("other", theirs.id),
        rt.tasks.cancel("other", theirs.id),
        rt.tasks.events("other", theirs.id),
        rt.tasks.decide("other", theirs.id, ApprovalDecision(action="approve")),
    ):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(ConfigError, match="no agent named"):  # agents are per tenant too
        await rt.tasks.submit("other", goal="x", agent="rt-agent", budgets=None)
    assert (await rt.tasks.list("other"))[0] == []


async def test_list_pages_with_a_cursor(rt, spec):
    await rt.agents.apply("acme", spec())
    submitted = [
        await rt.tasks.submit("acme", goal=f"Task {i}", agent="rt-agent", budgets=None)
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        page, cursor = await rt.tasks.list("acme", cursor=cursor, limit=2)
        seen.extend(t.id for t in page)
        assert len(page) <= 2
        if cursor is None:
            break
    assert seen == [t.id for t in reversed(submitted)]
    only, _ = await rt.tasks.list("acme", state="canceled")
    assert only == []
    with pytest.raises(ConfigError, match="cursor"):
        await rt.tasks.list("acme", cursor="not-a-cursor")
    with pytest.raises(ConfigError, match="state"):
        await rt.tasks.list("acme", state="sleeping")


@pytest.mark.parametrize(
    ("budgets", "match"),
    [({"max_tokens": "many"}, "max_tokens"), ({"max_naps": 3}, "max_naps"),
     ({"max_iterations": 0}, "max_iterations"), ([1, 2], "budgets must be an object")],
)
async def test_bad_budgets_are_config_errors(rt, spec, budgets, match):
    await rt.agents.apply("acme", spec())
    with pytest.raises(ConfigError, match=match):
        await rt.tasks.submit("acme", goal="x", agent="rt-agent", budgets=budgets)


async def test_submit_needs_a_goal_and_merges_budgets(rt):
    with pytest.raises(ConfigError, match="no goal"):
        await rt.tasks.submit("acme", goal="  ", agent=None, budgets=None)
    task = await rt.tasks.submit("acme", goal="Look around", agent=None,
                                 budgets={"max_tokens": 1234})
    assert task.agent == "default"
    assert task.budgets["max_tokens"] == 1234
    assert task.budgets["max_iterations"] > 0  # the rest from the default agent


async def test_wait_for_events_returns_when_an_event_arrives(rt, spec):
    await rt.agents.apply("acme", spec())
    task = await rt.tasks.submit("acme", goal="x", agent="rt-agent", budgets=None)
    started = time.monotonic()
    await rt.tasks.wait_for_events(task.id, after=0, timeout=0.3)  # nothing yet: times out
    assert time.monotonic() - started >= 0.3
    waiting = asyncio.create_task(rt.tasks.wait_for_events(task.id, after=0, timeout=30))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    started = time.monotonic()
    await rt.tasks.cancel("acme", task.id)  # records a state_change event
    await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - started < 1.0
    await asyncio.wait_for(rt.tasks.wait_for_events(task.id, after=0, timeout=30), 1)


async def test_notifications_survive_a_lost_listen_connection(rt, spec, eventually):
    await rt.agents.apply("acme", spec())
    task = await rt.tasks.submit("acme", goal="x", agent="rt-agent", budgets=None)

    async def listeners() -> list[int]:
        async with rt.engine.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'wakeful-listener'"
                " AND datname = current_database()")
            return [r["pid"] for r in await cur.fetchall()]

    [lost] = await listeners()
    async with rt.engine.pool.connection() as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (lost,))
    await eventually(lambda: _replaced(listeners, lost), message="a new LISTEN connection")
    waiting = asyncio.create_task(rt.tasks.wait_for_events(task.id, after=0, timeout=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await rt.tasks.cancel("acme", task.id)
    await asyncio.wait_for(waiting, timeout=5)
    assert time.monotonic() - started < 1.0


async def _replaced(listeners, lost: int) -> bool:
    pids = await listeners()
    return bool(pids) and lost not in pids
