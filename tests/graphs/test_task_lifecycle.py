"""The task lifecycle's one owner (stack/lifecycle.sql): every (from, to) pair, the lease,
cancel racing a request for a person and completion, idempotent creation, keyed events."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import psycopg
import pytest
from wakeful_testing import make_spec

from graphs.engine import Engine
from graphs.runner import TaskRunner
from stack.errors import ConfigError, KillSwitchOn, LeaseLost, TransitionRefused
from stack.lifecycle import Lease, LeaseHeld, run_owner
from stack.task_records import TaskRow

STATES = ["submitted", "working", "input-required", "completed", "failed", "canceled",
          "rejected"]
# Written out here, apart from the SQL, so that a change to the rules shows up as a test.
ALLOWED = {
    ("submitted", "working"), ("input-required", "working"),
    ("working", "input-required"),
    ("working", "completed"),
    ("submitted", "failed"), ("working", "failed"),
    ("submitted", "canceled"), ("working", "canceled"), ("input-required", "canceled"),
    ("submitted", "rejected"),
}


async def new_task(engine: Engine, **kwargs: Any) -> TaskRow:
    task, _ = await engine.lifecycle.create(
        goal="g", agent="lifecycle-test", budgets={}, agent_spec={}, **kwargs
    )
    return task


async def claimed(engine: Engine, task: TaskRow, owner: str | None = None) -> Lease:
    claim = await engine.lifecycle.claim(task.id, owner or run_owner("test"))
    assert claim.lease is not None, claim
    return claim.lease


async def task_in(engine: Engine, state: str) -> TaskRow:
    """A task put in `state` along the lifecycle's own edges."""
    task = await new_task(engine)
    if state == "submitted":
        return task
    if state in ("failed", "canceled", "rejected"):
        return await engine.lifecycle.transition(task.id, state)  # type: ignore[arg-type]
    lease = await claimed(engine, task)
    if state == "working":
        return await engine.records.get_task(task.id)
    if state == "input-required":
        return await engine.lifecycle.transition(task.id, "input-required", lease=lease)
    return await engine.lifecycle.transition(task.id, "completed", lease=lease)


async def state_changes(engine: Engine, task_id: str) -> list[dict[str, Any]]:
    events = await engine.records.list_events(task_id, limit=10_000)
    return [e.data for e in events if e.type == "state_change"]


@pytest.mark.parametrize(("source", "target"), list(itertools.product(STATES, STATES)))
async def test_every_transition_pair(engine: Engine, source: str, target: str) -> None:
    task = await task_in(engine, source)
    assert task.state == source
    before = len(await state_changes(engine, task.id))
    if (source, target) in ALLOWED:
        moved = await engine.lifecycle.transition(task.id, target)  # type: ignore[arg-type]
        assert moved.state == target
        changes = await state_changes(engine, task.id)
        assert len(changes) == before + 1
        assert (changes[-1]["from"], changes[-1]["to"]) == (source, target)
    else:
        with pytest.raises(TransitionRefused) as refused:
            await engine.lifecycle.transition(task.id, target)  # type: ignore[arg-type]
        assert f"from {source} to {target}" in str(refused.value)
        assert (await engine.records.get_task(task.id)).state == source
        assert len(await state_changes(engine, task.id)) == before


async def test_a_raw_update_cannot_bypass_the_rules(engine: Engine, pg_url: str) -> None:
    task = await task_in(engine, "canceled")
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("UPDATE tasks SET state = 'working' WHERE id = %s", (task.id,))
    assert "cannot go from canceled to working" in str(refused.value)


async def test_cancel_wins_over_a_request_for_a_person(engine: Engine) -> None:
    task = await new_task(engine)
    lease = await claimed(engine, task)
    flagged = await engine.lifecycle.cancel(task.id, by="test")
    assert (flagged.state, flagged.cancel_requested) == ("working", True)  # a run holds it
    parked = await engine.lifecycle.transition(task.id, "input-required", lease=lease)
    assert (parked.state, parked.stop_reason) == ("canceled", "canceled")
    assert [(c["from"], c["to"]) for c in await state_changes(engine, task.id)] == [
        ("submitted", "working"), ("working", "canceled")]


async def test_cancel_racing_completion_ends_in_one_final_state(engine: Engine) -> None:
    for _ in range(10):
        task = await new_task(engine)
        lease = await claimed(engine, task)
        # the run's lease is given up first, so the cancel may end the task itself
        await engine.lifecycle.release(lease)
        outcomes = await asyncio.gather(
            engine.lifecycle.cancel(task.id, by="test"),
            engine.lifecycle.transition(task.id, "completed"),
            return_exceptions=True,
        )
        final = await engine.records.get_task(task.id)
        assert final.state in ("canceled", "completed")
        terminal = [c for c in await state_changes(engine, task.id)
                    if c["to"] in ("canceled", "completed")]
        assert len(terminal) == 1 and terminal[0]["to"] == final.state
        assert sum(isinstance(o, TransitionRefused) for o in outcomes) == 1


async def test_a_held_task_is_refused_naming_the_holder(engine: Engine) -> None:
    task = await new_task(engine)
    owner = run_owner("first")
    await claimed(engine, task, owner)
    second = await engine.lifecycle.claim(task.id, run_owner("second"))
    assert second.lease is None and second.held_by == owner


async def test_a_lease_of_a_dead_process_is_taken_over_at_once(engine: Engine) -> None:
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    task = await new_task(engine)
    owner = run_owner("crashed").replace(f":{__import__('os').getpid()}#", f":{dead.pid}#")
    await claimed(engine, task, owner)
    claim = await engine.lifecycle.claim(task.id, run_owner("next"))
    assert claim.lease is not None
    assert (claim.task.crash_retries, claim.task.dispatches) == (1, 2)


async def test_an_expired_lease_fences_the_old_run(engine: Engine, pg_url: str) -> None:
    task = await new_task(engine)
    old = await claimed(engine, task)
    with psycopg.connect(pg_url) as conn:  # the old run went silent: its lease ran out
        conn.execute("UPDATE tasks SET lease_expires_at = now() - interval '1 s'"
                     " WHERE id = %s", (task.id,))
    new = await claimed(engine, task)
    assert new.epoch == old.epoch + 1
    with pytest.raises(LeaseLost):
        await engine.records.append_events(task.id, [("x", {}, None)], epoch=old.epoch)
    with pytest.raises(LeaseLost):
        await engine.lifecycle.transition(task.id, "completed", lease=old)
    assert (await engine.lifecycle.transition(task.id, "completed", lease=new)).terminal
    assert (await engine.records.get_task(task.id)).crash_retries == 1


async def test_the_kill_switch_refuses_new_work_and_cancels_queued(
    engine: Engine, pg_url: str
) -> None:
    queued = await new_task(engine)
    running = await new_task(engine)
    await claimed(engine, running)

    def switch(on: bool) -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE runtime_flags SET value = %s WHERE name = 'killswitch'", (on,))

    switch(True)
    try:
        with pytest.raises(KillSwitchOn):
            await new_task(engine)
        claim = await engine.lifecycle.claim(queued.id, run_owner("test"))
        assert (claim.lease, claim.task.state) == (None, "canceled")
        stopped = {s.id: s.running for s in await engine.lifecycle.cancel_open(by="test")}
        assert stopped[running.id] is True  # flagged: its run stops at the next boundary
        assert (await engine.records.get_task(running.id)).cancel_requested
    finally:
        switch(False)


async def test_idempotent_creation(engine: Engine) -> None:
    request = {"goal": "g", "budgets": None}
    first, created = await engine.lifecycle.create(
        goal="g", agent="a", budgets={}, agent_spec={}, idempotency_key="k-1", request=request
    )
    again, created_again = await engine.lifecycle.create(
        goal="g", agent="a", budgets={}, agent_spec={}, idempotency_key="k-1", request=request
    )
    assert created and not created_again and again.id == first.id
    with pytest.raises(ConfigError, match="already used for another request"):
        await engine.lifecycle.create(
            goal="h", agent="a", budgets={}, agent_spec={}, idempotency_key="k-1",
            request={"goal": "h"},
        )


async def test_keyed_events_are_recorded_once_and_seq_has_no_gaps(engine: Engine) -> None:
    task = await new_task(engine)
    records = engine.records
    await records.append_events(task.id, [("plan", {"n": 1}, "plan:1"), ("node", {}, None)])
    await records.append_events(task.id, [("plan", {"n": 1}, "plan:1"), ("node", {}, None),
                                          ("verdict", {}, "v:1"), ("verdict", {}, "v:1")])
    events = await records.list_events(task.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == ["plan", "node", "node", "verdict"]


async def test_a_second_runner_is_refused_while_the_first_runs(engine: Engine) -> None:
    slow = {"structured": {"steps": [{"id": "s", "description": "wait"}]},
            "latency_seconds": 60}
    runner = TaskRunner(engine)
    task = await runner.submit("plan slowly", make_spec(script={"planner": [slow]}))
    stop = asyncio.Event()
    first = asyncio.create_task(runner.run(task.id, stop_event=stop))
    while (await engine.records.get_task(task.id)).lease_owner is None:
        await asyncio.sleep(0.02)
    with pytest.raises(LeaseHeld, match="being run by cli@"):
        await TaskRunner(engine).run(task.id)
    stop.set()
    result = await asyncio.wait_for(first, timeout=60)
    assert result.task.state == "canceled"


async def test_a_failed_run_keeps_its_usage(engine: Engine) -> None:
    """Usage is saved with every node's events, so an ending by error still has it."""
    spec = make_spec(script={
        "planner": [{"structured": {"steps": [{"id": "s", "description": "look"}]}}],
        "worker": [{"text": "Looking.", "tool_calls": [{"name": "load_average"}]},
                   {"error": "the model endpoint broke"}],
    })
    runner = TaskRunner(engine)
    task = await runner.submit("look and fail", spec)
    result = await runner.run(task.id)
    assert (result.task.state, result.task.stop_reason) == ("failed", "error")
    assert result.task.usage.get("tool_calls", 0) >= 1
    assert result.task.usage.get("iterations", 0) >= 1


async def test_a_cancel_during_an_approval_request_frees_the_continuous_agent(
    engine: Engine, pg_url: str
) -> None:
    """The lost-cancel case: the iteration must not sit input-required with the cancel
    flag set, holding back every later iteration of its agent."""
    agent_id = f"agent-{run_owner('x')[-6:]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agents (id, tenant, name, spec, continuous, interval_seconds,"
            " next_run_at) VALUES (%s, 'local', %s, '{}', true, 3600, now())",
            (agent_id, agent_id))
    async with engine.pool.connection() as conn:
        iteration = await engine.lifecycle.start_iteration(
            conn, agent_id=agent_id, goal="watch", budgets={}, agent_spec={})
    assert iteration is not None and iteration.iteration_of == agent_id
    lease = await claimed(engine, iteration)
    await engine.lifecycle.cancel(iteration.id, by="test")
    ended = await engine.lifecycle.transition(iteration.id, "input-required", lease=lease)
    assert ended.state == "canceled"
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT current_task_id, next_run_at > now() FROM agents"
                           " WHERE id = %s", (agent_id,)).fetchone()
    assert row == (None, True)  # free again, next iteration one interval later
