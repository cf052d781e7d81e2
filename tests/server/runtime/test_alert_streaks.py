"""A failure streak fires once when it reaches its threshold or jumps past it — from an
iteration's end or from the periodic sweep — and the next streak, after a success, again."""

from __future__ import annotations

import psycopg


async def streak_alerts(rt, name: str) -> list:
    return [a for a in await rt.alerts.list("acme", name) if a.kind == "consecutive_failures"]


async def set_streak(url: str, name: str, failures: int, *, succeeded: bool = False) -> None:
    """What the iteration-ended trigger records, set directly (a hook that never ran)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE agents SET consecutive_failures = %s, last_outcome = 'error',"
            " last_succeeded_at = CASE WHEN %s THEN now() ELSE last_succeeded_at END"
            " WHERE tenant = 'acme' AND name = %s", (failures, succeeded, name))


async def test_a_count_that_jumps_past_the_threshold_fires_once_per_streak(rt, runtime_db, spec):
    agent = spec("jumpy")
    agent["alerts"] = [{"when": "consecutive_failures", "threshold": 3}]
    await rt.agents.apply("acme", agent)
    await set_streak(runtime_db.url, "jumpy", 2)
    await rt.evaluator.sweep()
    assert await streak_alerts(rt, "jumpy") == []  # below the threshold

    await set_streak(runtime_db.url, "jumpy", 5)  # 3 never seen: an == check misses it
    await rt.evaluator.sweep()
    await set_streak(runtime_db.url, "jumpy", 6)
    await rt.evaluator.sweep()
    [first] = await streak_alerts(rt, "jumpy")
    assert "5 iterations failed in a row" in first.message

    await set_streak(runtime_db.url, "jumpy", 0, succeeded=True)  # a success ends the streak
    await rt.evaluator.sweep()
    assert len(await streak_alerts(rt, "jumpy")) == 1
    await set_streak(runtime_db.url, "jumpy", 4)
    await rt.evaluator.sweep()
    alerts = await streak_alerts(rt, "jumpy")
    assert len(alerts) == 2 and "4 iterations failed in a row" in alerts[0].message


async def test_failing_iterations_fire_at_the_threshold_and_not_again_in_that_streak(
    rt, start_worker, spec, eventually
):
    agent = spec("failing", worker=[{"text": "Again.", "tool_calls": [{"name": "load_average"}]}],
                 autonomous={"goal": "Watch", "interval_seconds": 0.2},
                 budgets={"max_tool_calls": 0})
    agent["alerts"] = [{"when": "consecutive_failures", "threshold": 2}]
    await rt.agents.apply("acme", agent)
    start_worker()

    async def four_failed():
        status = await rt.agents.status("acme", "failing")
        return status.consecutive_failures >= 4 or None

    await eventually(four_failed, timeout=90, message="four failed iterations in a row")
    await rt.agents.pause("acme", "failing")
    await rt.evaluator.sweep()
    [alert] = await streak_alerts(rt, "failing")
    assert "2 iterations failed in a row" in alert.message  # fired when the streak reached 2
