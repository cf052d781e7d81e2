"""The kill switch at scale (issue 10): in effect the moment it is written, open tasks then
stopped in bounded batches that skip rows another transaction holds, the call answering
with what it stopped and how many remain, a background sweep stopping the rest."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import psycopg
import pytest

from server.runtime.killswitch import KillSwitch
from server.services import Services
from stack.errors import KillSwitchOn
from stack.lifecycle import run_owner
from stack.task_records import TaskRow


async def _open_tasks(rt: Services, n: int) -> list[TaskRow]:
    made = []
    for _ in range(n):
        task, _ = await rt.control.create(goal="g", agent="batch-test", budgets={}, agent_spec={})
        made.append(task)
    return made


async def _canceled_events(rt: Services, task_id: str) -> int:
    events = await rt.engine.records.list_events(task_id)
    return sum(1 for e in events if e.type == "state_change" and e.data["to"] == "canceled")


async def test_the_call_stops_a_batch_says_what_remains_and_the_sweep_stops_the_rest(
    rt: Services,
) -> None:
    tasks = await _open_tasks(rt, 7)
    switch = KillSwitch(rt.engine.pool, rt.control, batch=2)
    try:
        first = await switch.set(True, by="test", wait_seconds=0, sweep=True)
        assert len(first) == 2 and first.canceled == 2 and first.stopping == 0
        # in effect already for what no batch has reached yet: no new task, no claim
        with pytest.raises(KillSwitchOn):
            await _open_tasks(rt, 1)
        await switch.sweeps_done()
        assert await switch.left() == 0
        for task in tasks:
            assert (await rt.engine.records.get_task(task.id)).state == "canceled"
            assert await _canceled_events(rt, task.id) == 1
    finally:
        await switch.set(False, by="test")


async def test_without_a_budget_the_call_stops_every_open_task(rt: Services) -> None:
    tasks = await _open_tasks(rt, 5)
    switch = KillSwitch(rt.engine.pool, rt.control, batch=2)
    try:
        stopped = await switch.set(True, by="test")
        assert {s.id for s in stopped} == {t.id for t in tasks} and stopped.remaining == 0
    finally:
        await switch.set(False, by="test")


async def test_a_batch_skips_a_locked_row_and_counts_it_as_remaining(rt: Services) -> None:
    held, free = await _open_tasks(rt, 2)
    url = rt.engine.url
    with psycopg.connect(url) as other:
        other.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (held.id,))
        stopped = await rt.control.cancel_open(by="test", batch=None)
        assert [s.id for s in stopped] == [free.id]  # not waiting for the lock
        assert await rt.control.open_left() == 1
        other.rollback()
    again = await rt.control.cancel_open(by="test", batch=None)
    assert [s.id for s in again] == [held.id]
    assert await rt.control.open_left() == 0


async def test_a_running_task_stops_at_its_next_boundary_before_any_batch(rt: Services) -> None:
    (task,) = await _open_tasks(rt, 1)
    claim = await rt.control.claim(task.id, run_owner("test"))
    assert claim.lease is not None
    async with rt.engine.pool.connection() as conn:  # the flag alone, no batch yet
        await conn.execute(
            "INSERT INTO runtime_flags (name, value) VALUES ('killswitch', true) "
            "ON CONFLICT (name) DO UPDATE SET value = true"
        )
    try:
        assert not (await rt.engine.records.get_task(task.id)).cancel_requested
        stop, _seq = await rt.engine.records.append_events(
            task.id, [("node", {"node": "worker"}, None)], epoch=claim.lease.epoch
        )
        assert stop  # the boundary reads the switch itself
        stopped = await rt.control.cancel_open(by="test")
        assert [(s.id, s.running) for s in stopped] == [(task.id, True)]
        assert await rt.control.open_left() == 0  # flagged: stops at its next boundary
    finally:
        await rt.killswitch.set(False, by="test")


@pytest.mark.parametrize("tenant", [None, "sweep-tenant"])
async def test_the_maintenance_sweep_stops_what_a_flip_left(rt: Services, tenant) -> None:
    """The flip's own sweep lives in its process (gone, here: sweep=False); the periodic
    maintenance job stops what that left, for the global switch and a tenant's."""
    from server.runtime.jobs import JobRuntime, sweep_killswitches

    if tenant is not None and tenant not in {t.id for t in await rt.auth.list_tenants()}:
        await rt.auth.create_tenant(tenant)
    tasks = []
    for _ in range(5):
        task, _ = await rt.control.create(
            goal="g", agent="batch-test", budgets={}, agent_spec={},
            **({"tenant": tenant} if tenant else {}),
        )  # fmt: skip
        tasks.append(task)
    switch = KillSwitch(rt.engine.pool, rt.control, batch=2)
    flip = switch.set if tenant is None else lambda *a, **k: switch.set_tenant(tenant, *a, **k)
    try:
        first = await flip(True, by="test", wait_seconds=0, sweep=False)
        assert len(first) == 2 and first.remaining == 3

        runtime = JobRuntime(
            execution=None,  # type: ignore[arg-type]
            alerts=None,  # type: ignore[arg-type]
            stalled_after_seconds=30,
            killswitch=switch,
        )
        context = SimpleNamespace(additional_context={"wakeful": runtime})  # as a job gets it
        assert await sweep_killswitches(context, 0) == 3  # type: ignore[arg-type]
        assert await switch.left(tenant) == 0
        for task in tasks:
            assert (await rt.engine.records.get_task(task.id)).state == "canceled"
    finally:
        await flip(False, by="test")


async def test_a_flip_waits_for_a_row_a_run_holds_for_a_moment(rt: Services) -> None:
    """A running task's row is locked for a moment whenever its run renews its lease or
    writes a step: a flip with no budget retries it instead of leaving it to the sweep."""
    held, free = await _open_tasks(rt, 2)
    switch = KillSwitch(rt.engine.pool, rt.control, batch=10)
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        other = await psycopg.AsyncConnection.connect(rt.engine.url)
        async with other, other.transaction():
            await other.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (held.id,))
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await locked.wait()
    try:
        flip = asyncio.create_task(switch.set(True, by="test"))
        while await rt.control.open_left() > 1:  # the free one is stopped; the held one waits
            await asyncio.sleep(0.05)
        assert not flip.done()
        release.set()
        stopped = await flip
        assert {s.id for s in stopped} == {held.id, free.id} and stopped.remaining == 0
    finally:
        release.set()
        await holder
        await switch.set(False, by="test")
