"""One agent whose stored spec no longer parses is paused with an alert naming the field;
every other continuous agent keeps its rhythm."""

from __future__ import annotations

import psycopg

GOAL = "Watch the load"


def continuous(spec, name: str, interval: float) -> dict:
    return spec(name, autonomous={"goal": GOAL, "interval_seconds": interval})


async def completed_iterations(rt, name: str) -> list:
    tasks, _ = await rt.tasks.list("acme", agent=name, limit=500)
    return [t for t in tasks if t.iteration_of and t.state == "completed"]


async def test_a_broken_spec_pauses_that_agent_with_an_alert_and_the_others_keep_running(
    rt, runtime_db, start_worker, spec, eventually
):
    await rt.agents.apply("acme", continuous(spec, "broken", 0.2))
    await rt.agents.apply("acme", continuous(spec, "steady", 0.2))
    # A spec stored by an older version, or edited in the database: it bypasses validation.
    async with await psycopg.AsyncConnection.connect(runtime_db.url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE agents SET spec = jsonb_set(spec, '{budgets}', "
            "'{\"max_iterations\": \"many\"}') WHERE name = 'broken'"
        )
    start_worker()

    async def alerted():
        alerts = [a for a in await rt.alerts.list("acme", "broken") if a.kind == "spec_invalid"]
        return alerts or None

    [alert] = await eventually(alerted, timeout=60, message="a spec_invalid alert")
    assert "budgets.max_iterations" in alert.message, alert.message
    assert "paused" in alert.message and "wakeful agent resume broken" in alert.message
    assert (await rt.agents.status("acme", "broken")).state == "paused"

    async def steady_runs():
        done = await completed_iterations(rt, "steady")
        return done if len(done) >= 3 else None

    await eventually(steady_runs, timeout=60, message="three iterations of the healthy agent")
    tasks, _ = await rt.tasks.list("acme", agent="broken", limit=50)
    assert tasks == []  # never started, so nothing half-run to clean up
    assert (await rt.agents.status("acme", "steady")).state == "active"
    # The alert fires once for this version of the spec, however often the scheduler looks.
    assert len(await alerted()) == 1
