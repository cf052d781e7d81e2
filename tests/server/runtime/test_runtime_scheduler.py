"""Continuous agents: iterations every interval, never overlapping, paused and resumed, stopped
by the kill switch, one catch-up after downtime, and held to a daily token budget."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from graphs.approval import ApprovalDecision
from stack.errors import Conflict

GOAL = "Watch the load"


def continuous(spec, name="watcher", *, interval=1.0, planner=None, **autonomous):
    return spec(name, planner=planner,
                autonomous={"goal": GOAL, "interval_seconds": interval, **autonomous})


def slow_plan(seconds: float) -> dict:
    return {"structured": {"steps": [{"id": "s", "description": "x"}]},
            "latency_seconds": seconds}


async def iterations(rt, name="watcher", tenant="acme"):
    tasks, _ = await rt.tasks.list(tenant, agent=name, limit=500)
    return sorted((t for t in tasks if t.iteration_of), key=lambda t: t.created_at)


def assert_spaced(tasks, interval: float) -> None:
    """Each iteration started at least `interval` after the previous one ended."""
    for previous, following in itertools.pairwise(tasks):
        assert previous.ended_at is not None
        assert following.created_at - previous.ended_at >= timedelta(seconds=interval), (
            previous, following)


async def test_three_iterations_one_interval_apart(rt, start_worker, spec, eventually):
    agent = await rt.agents.apply("acme", continuous(spec, interval=1.0))
    start_worker()
    start_worker()  # two schedulers: still one iteration at a time

    async def three_done():
        done = [t for t in await iterations(rt) if t.state == "completed"]
        return done if len(done) >= 3 else None

    await eventually(three_done, timeout=60, message="three completed iterations")
    tasks = await iterations(rt)
    assert all(t.iteration_of == agent.id and t.continuous and t.goal == GOAL for t in tasks)
    assert_spaced([t for t in tasks if t.ended_at], 1.0)
    status = await rt.agents.status("acme", "watcher")
    assert status.state == "active" and status.last_succeeded_at is not None
    assert status.consecutive_failures == 0


async def test_an_iteration_longer_than_the_interval_is_never_overlapped(
    rt, start_worker, spec, eventually
):
    await rt.agents.apply("acme", continuous(spec, interval=0.3, planner=[slow_plan(1.2)]))
    start_worker(concurrency=4)

    async def three_done():
        done = [t for t in await iterations(rt) if t.terminal]
        return done if len(done) >= 3 else None

    await eventually(three_done, timeout=60, message="three iterations")
    tasks = [t for t in await iterations(rt) if t.ended_at]
    assert all(t.state == "completed" for t in tasks)
    assert all(t.ended_at - t.created_at > timedelta(seconds=1.2) for t in tasks)  # > interval
    assert_spaced(tasks, 0.3)


async def test_pause_stops_scheduling_and_resume_restarts_it(rt, start_worker, spec, eventually):
    await rt.agents.apply("acme", continuous(spec, interval=0.3))
    start_worker()

    async def completed():
        return [t for t in await iterations(rt) if t.state == "completed"]

    await eventually(completed, message="a first iteration")
    paused = await rt.agents.pause("acme", "watcher")
    assert paused.paused
    await eventually(lambda: _idle(rt), message="the running iteration ended")
    before = len(await iterations(rt))
    await asyncio.sleep(1.5)  # five intervals with nothing scheduled
    assert len(await iterations(rt)) == before
    assert (await rt.agents.status("acme", "watcher")).state == "paused"

    await rt.agents.resume("acme", "watcher")
    await eventually(lambda: _more(rt, before), timeout=5, message="an iteration after resume")


async def _idle(rt):
    return all(t.terminal for t in await iterations(rt))


async def _more(rt, count):
    return len(await iterations(rt)) > count


async def test_the_kill_switch_stops_everything(rt, start_worker, spec, eventually):
    await rt.agents.apply("acme", continuous(spec, interval=0.3, planner=[slow_plan(30)]))
    await rt.agents.apply("acme", spec("one-off"))
    start_worker()

    async def running():
        tasks = await iterations(rt)
        return tasks[-1] if tasks and tasks[-1].state == "working" else None

    iteration = await eventually(running, message="an iteration running")
    stopped = await rt.killswitch.set(True, by="test")
    # The run hears of the switch too (its model call is stopped): either the flip's batch
    # or the run itself ends the iteration canceled, whichever gets to its row first.
    assert stopped.remaining == 0

    async def canceled():
        view = await rt.tasks.get("acme", iteration.id)
        return view.task.state == "canceled"

    await eventually(canceled, timeout=30, interval=0.01, message="running iteration canceled")
    with pytest.raises(Conflict, match="kill switch"):
        await rt.tasks.submit("acme", goal="x", agent="one-off", budgets=None)
    count = len(await iterations(rt))
    await asyncio.sleep(1.5)  # five intervals: nothing starts while the switch is on
    assert len(await iterations(rt)) == count
    assert (await rt.agents.status("acme", "watcher")).killswitch

    await rt.killswitch.set(False, by="test")
    assert not await rt.killswitch.is_on()
    await eventually(lambda: _more(rt, count), timeout=5, message="scheduling again")


async def test_the_kill_switch_cancels_queued_tasks(rt, spec):
    await rt.agents.apply("acme", spec("one-off"))
    queued = await rt.tasks.submit("acme", goal="x", agent="one-off", budgets=None)
    stopped = await rt.killswitch.set(True, by="test")
    assert [(t.id, t.running) for t in stopped] == [(queued.id, False)]  # ended at once
    assert (await rt.tasks.get("acme", queued.id)).task.state == "canceled"
    events = await rt.tasks.events("acme", queued.id)
    assert events[-1].data["by"] == "killswitch (test)"


async def test_missed_ticks_coalesce_into_one_catch_up(rt, start_worker, spec, eventually):
    await rt.agents.apply("acme", continuous(spec, interval=1.0))
    first = start_worker()

    async def completed():
        return [t for t in await iterations(rt) if t.state == "completed"]

    await eventually(completed, message="a first iteration")
    await first.close()
    await eventually(lambda: _idle(rt), message="nothing running")
    before = len(await iterations(rt))
    await asyncio.sleep(4.0)  # downtime: about four ticks missed
    restarted = datetime.now(UTC)
    start_worker()

    async def two_more():
        tasks = await iterations(rt)
        after = tasks[before:]
        return after if len(after) >= 2 and after[1].state == "completed" else None

    after = await eventually(two_more, timeout=30, message="two iterations after the restart")
    assert after[0].created_at - restarted < timedelta(seconds=1)  # the catch-up, at once
    assert after[1].created_at - after[0].ended_at >= timedelta(seconds=1.0)  # then the rhythm
    assert len(await iterations(rt)) <= before + 3


async def test_the_daily_token_budget_holds_iterations_until_tomorrow(
    rt, start_worker, spec, eventually
):
    agent = continuous(spec, interval=0.2, daily_token_budget=10)
    agent["model"]["script"]["worker"] = [{"text": "Load is fine.", "tokens": 25}]
    await rt.agents.apply("acme", agent)
    start_worker()

    async def deferred():
        status = await rt.agents.status("acme", "watcher")
        later = datetime.now(UTC) + timedelta(minutes=1)
        return status if status.next_run_at and status.next_run_at > later else None

    status = await eventually(deferred, message="next run deferred")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert status.next_run_at == datetime(*tomorrow.timetuple()[:3], tzinfo=UTC)
    assert status.tokens_today >= 25
    [iteration] = await iterations(rt)
    # the iteration's max_tokens was what was left of the day's budget
    assert (iteration.budgets["max_tokens"], iteration.stop_reason) == (10, "max_tokens")
    async def both_alerts():  # the daily one is written just after the deferral
        alerts = await rt.alerts.list("acme", "watcher")
        return alerts if len(alerts) >= 2 else None

    alerts = await eventually(both_alerts, message="both alerts")
    assert sorted(a.message.split(": ")[1].split(" ")[0] for a in alerts) == ["daily", "task"]
    assert {a.kind for a in alerts} == {"budget_exhausted"}


async def test_an_iteration_waiting_for_approval_holds_back_the_next(
    rt, start_worker, spec, eventually
):
    agent = continuous(spec, interval=0.2)
    agent["tools"] = {"allow": ["load_average"], "policies": {"load_average": "approval"}}
    agent["model"]["script"]["worker"] = [
        {"text": "Checking.", "tool_calls": [{"name": "load_average"}]}, "Load is fine."]
    await rt.agents.apply("acme", agent)
    start_worker()

    async def waiting():
        tasks = await iterations(rt)
        return tasks[0] if tasks and tasks[0].state == "input-required" else None

    first = await eventually(waiting, message="the first iteration waits for approval")
    await asyncio.sleep(1.0)  # five intervals: the waiting iteration has not ended
    assert [t.id for t in await iterations(rt)] == [first.id]
    status = await rt.agents.status("acme", "watcher")
    assert (status.running_task_id, status.next_run_at) == (first.id, None)

    await rt.tasks.decide("acme", first.id, ApprovalDecision(action="approve", decided_by="t"))
    await eventually(lambda: _more(rt, 1), message="the next iteration after the answer")
    tasks = await iterations(rt)
    assert tasks[0].state == "completed"
    assert_spaced(tasks[:2], 0.2)
