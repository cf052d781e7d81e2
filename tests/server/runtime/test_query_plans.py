"""Every query the API, workers, scheduler and A2A run keeps its index (issue 10).

A load like benchmarks/scale.py's, smaller (30k tasks, 300k events, 3k unfinished, copies
of a real task's checkpoints for 4,000 ended ones; COPY, then VACUUM ANALYZE), and each
query of tests/support/scale_queries.py explained with real values: no sequential scan of
a table that grows with the work (tasks, events, ledger, checkpoints, jobs, ...), and the
index the query was written for in the plan. No planner switches are turned off: the
statistics are real, so a plan here is the plan production gets at this size (larger
tables only make an index scan more attractive). Values are inlined, as the pool plans
every execution for its values (plan_cache_mode force_custom_plan, stack/postgres.py).

Retention statements run in batches; they are explained with a batch of 10 here so that a
batch is about as small a fraction of what it walks (1,000 task histories) as production's
1000 is of a day of histories (hundreds of thousands of tasks) or of a million tasks.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from scale_queries import Case, Sample, queries_under_test
from wakeful_servers import own_database

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from server.runtime.queue import ensure_queue_schema
from stack.settings import Settings

REPO = Path(__file__).resolve().parents[3]
LOAD = argparse.Namespace(tasks=30_000, events=300_000, open=3_000, agents=100, tenants=10,
                          histories=1_000, finals=3_000)
CASES = queries_under_test()


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_bench", REPO / "benchmarks/scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
async def loaded(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    bench = _bench()
    with own_database(pg_url, "wk_plans") as url:
        settings = Settings(WAKEFUL_DATA_DIR=tmp_path_factory.mktemp("plans"), DATABASE_URL=url)
        engine = await Engine.open(settings)
        try:
            await ensure_queue_schema(url)
            _ids, _footprint = await bench.real_tasks(engine, 1)  # compacted: a final checkpoint
            runner = TaskRunner(engine)
            history = await runner.submit(bench.GOAL, parse_agent_spec(bench.AGENT))
            await runner.run(history.id)
            sample: Sample = await bench.load(url, LOAD, (history.id, _ids[0]))
            yield bench, engine, sample
        finally:
            await engine.close()


def _params(case: Case, sample: Sample) -> dict[str, Any]:
    params = case.params(sample, random.Random(3))
    if case.writes:
        params["batch"] = 10
    return params


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_each_query_is_served_by_its_index(loaded: Any, case: Case) -> None:
    bench, engine, sample = loaded
    async with engine.pool.connection() as conn:
        plan = await bench.explain(conn, case.sql, _params(case, sample))
    facts = bench.plan_facts(plan)
    assert facts["uses_index"], f"{case.name} scans {facts['scans_large_table']}: {plan}"
    if case.index:
        assert set(case.index) & set(facts["indexes"]), (
            f"{case.name} should use one of {case.index}, its plan uses {facts['indexes']}"
        )


@pytest.mark.slow
async def test_the_counters_agree_with_the_rows(loaded: Any) -> None:
    """What /metrics and A2A read (the counters) is what a count of the rows says."""
    _bench_module, engine, _sample = loaded
    async with engine.pool.connection() as conn:
        counted = await (await conn.execute(
            "SELECT tenant, agent, state, count(*) AS n FROM tasks GROUP BY 1, 2, 3"
        )).fetchall()
        kept = await (await conn.execute(
            "SELECT tenant, agent, label1 AS state, n FROM metric_counts WHERE metric = 'tasks'"
        )).fetchall()
        calls = await (await conn.execute(
            "SELECT count(*) AS n FROM events WHERE type = 'model_call'")).fetchone()
        kept_calls = await (await conn.execute(
            "SELECT sum(n) AS n FROM metric_counts WHERE metric = 'model_calls'")).fetchone()
    as_set = lambda rows: {(r["tenant"], r["agent"], r["state"], int(r["n"])) for r in rows}  # noqa: E731
    assert as_set(kept) == as_set(counted)
    assert calls is not None and kept_calls is not None
    assert int(kept_calls["n"]) == int(calls["n"]) > 0


@pytest.mark.slow
async def test_a_scan_would_be_caught(loaded: Any) -> None:
    """The check itself: a query on an unindexed column of tasks is reported as a scan."""
    bench, engine, _sample = loaded
    async with engine.pool.connection() as conn:
        plan = await bench.explain(conn, "SELECT * FROM tasks WHERE goal = %(g)s", {"g": "x"})
    assert not bench.plan_facts(plan)["uses_index"]
    with pytest.raises(psycopg.errors.UndefinedColumn):
        async with engine.pool.connection() as conn:
            await bench.explain(conn, "SELECT * FROM tasks WHERE nope = 1", {})
