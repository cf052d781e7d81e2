"""Retention (stack/retention.py): ended tasks are compacted to their final checkpoint and
pruned after their TTLs; what an operator still needs is never touched; a dry run reports
exactly what a real run removes; the task counters follow deletions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wakeful_servers import own_database

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from stack.retention import RetentionPolicy, prune, rollup_metrics, stats
from stack.settings import Settings

AGENT = {
    "name": "ret-agent",
    "model": {"provider": "scripted", "script": {
        "planner": [{"structured": {"steps": [{"id": "s", "description": "Look"}]}}],
        "worker": ["The load is fine."],
    }},
    "tools": {"allow": ["load_average"]},
    "entropy": {"semantic": False},
    "memory": {"episodic": False, "knowledge": False},
}
POLICY = RetentionPolicy()  # the defaults: history 1 day; tasks, events, ledger, alerts 30


@pytest.fixture
async def engine(pg_url: str, tmp_path: Path) -> AsyncIterator[Engine]:
    with own_database(pg_url, "wk_ret") as url:
        opened = await Engine.open(Settings(WAKEFUL_DATA_DIR=tmp_path, DATABASE_URL=url))
        try:
            yield opened
        finally:
            await opened.close()


async def sql(engine: Engine, query: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def ran(runner: TaskRunner) -> str:
    task = await runner.submit("Check the load", parse_agent_spec(AGENT))
    await runner.run(task.id)
    return task.id


async def aged(engine: Engine, task_id: str, days: float) -> None:
    await sql(engine, "UPDATE tasks SET ended_at = ended_at - make_interval(days => %(d)s),"
              " created_at = created_at - make_interval(days => %(d)s) WHERE id = %(id)s",
              id=task_id, d=days)


async def rows_of(engine: Engine, task_id: str) -> dict[str, int]:
    counts = {}
    for table, column in (("tasks", "id"), ("events", "task_id"), ("checkpoints", "thread_id"),
                          ("checkpoint_blobs", "thread_id"), ("checkpoint_writes", "thread_id"),
                          ("tool_ledger", "task_id")):
        found = await sql(engine, f"SELECT count(*) AS n FROM {table} WHERE {column} = %(id)s",
                          id=task_id)
        counts[table] = int(found[0]["n"])
    return counts


async def ledger_row(engine: Engine, task_id: str, status: str, days_ago: float) -> None:
    await sql(engine, "INSERT INTO tool_ledger (task_id, tool_call_id, tool, args_hash, status,"
              " started_at, completed_at) VALUES (%(id)s, %(call)s, 'write_report', 'h',"
              " %(status)s, now() - make_interval(days => %(d)s),"
              " now() - make_interval(days => %(d)s))",
              id=task_id, call=f"call-{status}", status=status, d=days_ago)


async def tasks_gauge_matches(engine: Engine) -> bool:
    counted = await sql(engine, "SELECT tenant, agent, state, count(*) AS n FROM tasks "
                        "GROUP BY 1, 2, 3")
    kept = await sql(engine, "SELECT tenant, agent, label1 AS state, n FROM metric_counts "
                     "WHERE metric = 'tasks' AND n <> 0")
    as_set = lambda rows: {(r["tenant"], r["agent"], r["state"], int(r["n"])) for r in rows}  # noqa: E731
    return as_set(counted) == as_set(kept)


@pytest.mark.slow
async def test_retention_compacts_and_prunes_only_what_nobody_needs(engine: Engine) -> None:
    runner = TaskRunner(engine)
    lifecycle = engine.lifecycle
    old, settled, recent = await ran(runner), await ran(runner), await ran(runner)
    await aged(engine, old, 40)  # past the tasks TTL
    await aged(engine, settled, 2)  # past the history TTL only
    spec = parse_agent_spec(AGENT).model_dump(mode="json")
    waiting, _ = await lifecycle.create(goal="g", agent="ret-agent", budgets={}, agent_spec=spec)
    await lifecycle.claim(waiting.id, "test@host:1")
    await lifecycle.transition(waiting.id, "input-required")
    queued, _ = await lifecycle.create(goal="g", agent="ret-agent", budgets={}, agent_spec=spec)
    unsure, _ = await lifecycle.create(goal="g", agent="ret-agent", budgets={}, agent_spec=spec)
    await lifecycle.transition(unsure.id, "failed", stop_reason="run_failed")
    for task_id in (waiting.id, queued.id, unsure.id):
        await sql(engine, "UPDATE tasks SET created_at = now() - interval '60 days',"
                  " updated_at = now() - interval '60 days', ended_at = ended_at - "
                  " interval '60 days' WHERE id = %(id)s", id=task_id)
    await ledger_row(engine, unsure.id, "unknown", 60)  # "did this happen?" unanswered
    await ledger_row(engine, waiting.id, "completed", 60)  # its task may still resume
    await ledger_row(engine, settled, "completed", 40)  # settled, its task ended
    await sql(engine, "INSERT INTO agents (id, tenant, name, spec)"
              " VALUES ('ag', 'local', 'x', '{}')")
    await sql(engine, "INSERT INTO alerts (tenant, agent_id, agent, kind, message, dedupe_key,"
              " fired_at, resolved_at) VALUES"
              " ('local', 'ag', 'x', 'stuck', 'm', 'resolved', now() - interval '50 days',"
              "  now() - interval '40 days'),"
              " ('local', 'ag', 'x', 'stuck', 'm', 'open', now() - interval '50 days', NULL)")
    settled_state = (await engine.graph.aget_state({"configurable": {"thread_id": settled}})).values
    before = {name: await rows_of(engine, task_id) for name, task_id in (
        ("old", old), ("settled", settled), ("recent", recent), ("waiting", waiting.id),
        ("queued", queued.id), ("unsure", unsure.id))}
    assert before["settled"]["checkpoints"] > 1 and before["old"]["events"] > 0

    dry = await prune(engine.pool, POLICY, dry_run=True)
    assert {name: await rows_of(engine, tid) for name, tid in (
        ("old", old), ("settled", settled))} == {k: before[k] for k in ("old", "settled")}
    real = await prune(engine.pool, POLICY)
    assert real.removed == dry.removed
    assert real.removed["tasks"]["tasks"] == 1 and real.removed["ledger"]["rows"] == 1
    assert real.removed["alerts"]["rows"] == 1

    assert await rows_of(engine, old) == dict.fromkeys(before["old"], 0)
    after = await rows_of(engine, settled)
    assert after["checkpoints"] == 1 and after["tasks"] == 1
    assert after["events"] == before["settled"]["events"] and after["tool_ledger"] == 0
    assert after["checkpoint_blobs"] < before["settled"]["checkpoint_blobs"]
    # the final state is whole: what evals and `task get` read still reads the same
    assert (await engine.graph.aget_state({"configurable": {"thread_id": settled}})).values == (
        settled_state)
    assert await rows_of(engine, recent) == before["recent"]
    for name, task_id in (("waiting", waiting.id), ("queued", queued.id), ("unsure", unsure.id)):
        assert await rows_of(engine, task_id) == before[name], name
    open_alerts = await sql(engine, "SELECT dedupe_key FROM alerts")
    assert [row["dedupe_key"] for row in open_alerts] == ["open"]

    assert await tasks_gauge_matches(engine)
    await rollup_metrics(engine.pool)
    assert await tasks_gauge_matches(engine)
    again = await prune(engine.pool, POLICY)
    assert all(n == 0 for counts in again.removed.values() for n in counts.values())
    found = await stats(engine.pool)
    assert found.tasks_by_state["input-required"] == 1
    assert found.not_compacted == 1  # the recent one keeps its history for a day
    assert {row["table"] for row in found.tables} >= {"tasks", "events", "checkpoints"}


@pytest.mark.slow
async def test_event_counters_follow_the_writes(engine: Engine) -> None:
    """Runs, model calls and tokens as /metrics reads them equal a count of the events, and
    pruning events does not lower them (they are counters)."""
    runner = TaskRunner(engine)
    first = await ran(runner)
    await ran(runner)
    counted = await sql(engine, "SELECT count(*) FILTER (WHERE type = 'run_started') AS runs,"
                        " count(*) FILTER (WHERE type = 'model_call') AS calls,"
                        " COALESCE(sum((data->>'tokens')::numeric)"
                        "          FILTER (WHERE type = 'model_call'), 0) AS tokens FROM events")
    kept = await sql(engine, "SELECT sum(n) FILTER (WHERE metric = 'runs') AS runs,"
                     " sum(n) FILTER (WHERE metric = 'model_calls') AS calls,"
                     " sum(n) FILTER (WHERE metric = 'tokens') AS tokens FROM metric_counts")
    assert {k: int(v) for k, v in kept[0].items()} == {k: int(v) for k, v in counted[0].items()}
    assert int(counted[0]["runs"]) == 2 and int(counted[0]["calls"]) >= 2
    await aged(engine, first, 40)
    await prune(engine.pool, POLICY)
    assert sum((await rows_of(engine, first)).values()) == 0
    still = await sql(engine, "SELECT sum(n) AS runs FROM metric_counts WHERE metric = 'runs'")
    assert int(still[0]["runs"]) == 2
