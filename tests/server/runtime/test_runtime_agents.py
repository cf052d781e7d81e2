"""Applied agents: validated specs per tenant, updated in place, status, delete."""

from __future__ import annotations

import pytest

from stack.errors import ConfigError, NotFound


async def test_apply_creates_then_updates_in_place(rt, spec):
    created = await rt.agents.apply("acme", spec("helper"))
    assert (created.name, created.continuous, created.paused) == ("helper", False, False)
    updated = await rt.agents.apply(
        "acme", spec("helper", autonomous={"goal": "Watch", "interval_seconds": 60}))
    assert updated.id == created.id
    assert (updated.continuous, updated.interval_seconds) == (True, 60)
    assert updated.next_run_at is not None
    assert [a.name for a in await rt.agents.list("acme")] == ["helper"]
    assert await rt.agents.list("other") == []
    with pytest.raises(NotFound):
        await rt.agents.get("other", "helper")
    status = await rt.agents.status("acme", "helper")
    assert (status.state, status.continuous, status.queue_depth) == ("active", True, 0)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"name": "Bad Name"}, "name"), ({"budgets": {"max_tokens": -1}}, "max_tokens"),
     ({"autonomous": {"goal": "x"}}, "interval_seconds"), ({"colour": "red"}, "colour"),
     # past the timestamp range the next wake-up could not be stored (fuzzing found it)
     ({"autonomous": {"goal": "x", "interval_seconds": 1e300}}, "interval_seconds"),
     ({"model": {"provider": "scripted", "script_file": "/etc/passwd"}}, "script_file")],
)
async def test_invalid_specs_are_config_errors(rt, spec, change, match):
    with pytest.raises(ConfigError, match=match):
        await rt.agents.apply("acme", {**spec(), **change})
    assert await rt.agents.list("acme") == []


async def test_a_spec_must_be_a_mapping(rt):
    with pytest.raises(ConfigError, match="mapping"):
        await rt.agents.apply("acme", ["not", "a", "spec"])  # type: ignore[arg-type]


async def test_queued_tasks_show_as_queue_depth(rt, spec):
    await rt.agents.apply("acme", spec())
    for goal in ("one", "two"):
        await rt.tasks.submit("acme", goal=goal, agent="rt-agent", budgets=None)
    assert (await rt.agents.status("acme", "rt-agent")).queue_depth == 2


async def test_delete_cancels_the_running_iteration(rt, start_worker, spec, eventually):
    slow = {"structured": {"steps": [{"id": "s", "description": "x"}]}, "latency_seconds": 30}
    await rt.agents.apply("acme", spec("doomed", planner=[slow],
                                       autonomous={"goal": "Watch", "interval_seconds": 1}))
    start_worker()

    async def running():
        return (await rt.agents.status("acme", "doomed")).running_task_id

    task_id = await eventually(running, message="an iteration running")
    await rt.agents.delete("acme", "doomed")
    with pytest.raises(NotFound):
        await rt.agents.status("acme", "doomed")

    async def canceled():
        return (await rt.tasks.get("acme", task_id)).task.state == "canceled"

    await eventually(canceled, timeout=5, message="iteration canceled")
    task = (await rt.tasks.get("acme", task_id)).task
    assert task.iteration_of is None  # the agent is gone; its task stays
