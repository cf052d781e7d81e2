"""A year of continuous agents on one Postgres: every API and control query at 1M tasks and
10M events, the kill switch over 30k open tasks, a metrics scrape, and storage after
retention (issue 10).

On a fresh embedded Postgres (under --data-dir, removed afterwards unless --keep):

1. a few real tasks run through the engine (scripted model) give the real footprint of a
   task: its row, events and checkpoint history, before and after compaction;
2. `--tasks` tasks and `--events` events are loaded with COPY (triggers off, counters then
   recounted once), spread over 30 days, `--agents` continuous agents in `--tenants`
   tenants, `--open` of them unfinished (queued, running, waiting for a person), with
   ledger rows, alerts and procrastinate jobs; then VACUUM ANALYZE;
3. every query (queries_under_test: the .sql files the API, workers, scheduler and A2A
   run) is explained (EXPLAIN (FORMAT JSON), its values inlined: the pool plans every
   execution for its values, see stack/postgres.py) and timed `--repeat` times with
   varied values through a pool connection: p50/p99 ms, the indexes its plan uses, and
   whether it scans a large table;
4. the kill switch (wakeful_cancel_open) over every open task, in a transaction rolled back
   (and one tenant's); one /metrics scrape (every metrics.sql query, installation-wide and
   for one tenant);
5. retention: agents that ran 1, 2, 4 and 8 days (an iteration every 10 minutes, each with
   the real task's history) under a 1-day task TTL: bytes kept per agent after a prune,
   flat once the days run past the TTL.

    python -P benchmarks/scale.py                           # 1M tasks, 10M events
    python -P benchmarks/scale.py --tasks 50000 --events 500000 --open 5000   # quick

Prints one JSON document on stdout (progress on stderr). Targets: every query p99 <= 50
ms, kill switch <= 1 s, metrics scrape <= 100 ms, bytes per agent flat as days grow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from server.api.routes import metrics as metrics_route
from server.api.routes.killswitch import WAIT_SECONDS
from server.runtime import killswitch as killswitch_runtime
from server.runtime.killswitch import KillSwitch
from server.runtime.queue import ensure_queue_schema
from stack.retention import RetentionPolicy, prune
from stack.settings import Settings
from stack.sql import load_queries

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from scale_queries import BIG_TABLES, Sample, queries_under_test

TARGETS = {"query_p99_ms": 50.0, "killswitch_s": 1.0, "metrics_scrape_ms": 100.0}
TERMINAL = ("completed", "failed", "canceled")
NOW = datetime.now(UTC)
SPAN = timedelta(days=30)
AGENT = {
    "name": "scale-agent",
    "model": {"provider": "scripted"},
    "tools": {"allow": ["load_average", "memory_usage", "disk_usage"]},
    "memory": {"episodic": False, "knowledge": False},
}
GOAL = "Check this host's load, memory and disk and summarise them"
TOOLS = ("load_average", "memory_usage", "disk_usage")
ROLES = ("planner", "worker", "critic")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"p50_ms": round(at(0.5), 3), "p99_ms": round(at(0.99), 3), "n": len(ordered)}


def ts(moment: datetime) -> str:
    return moment.isoformat()


# --- 1. the real footprint of a task -------------------------------------------------------

FOOTPRINT = """
SELECT (SELECT COALESCE(sum(pg_column_size(t.*)), 0) FROM tasks t WHERE id = ANY(%(ids)s))
     + (SELECT COALESCE(sum(pg_column_size(e.*)), 0) FROM events e WHERE task_id = ANY(%(ids)s))
       AS task_and_events,
       (SELECT COALESCE(sum(pg_column_size(c.*)), 0) FROM checkpoints c
        WHERE thread_id = ANY(%(ids)s))
     + (SELECT COALESCE(sum(pg_column_size(b.*)), 0) FROM checkpoint_blobs b
        WHERE thread_id = ANY(%(ids)s))
     + (SELECT COALESCE(sum(pg_column_size(w.*)), 0) FROM checkpoint_writes w
        WHERE thread_id = ANY(%(ids)s)) AS checkpoints,
       (SELECT count(*) FROM checkpoints WHERE thread_id = ANY(%(ids)s)) AS checkpoint_rows,
       (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = ANY(%(ids)s)) AS blob_rows,
       (SELECT count(*) FROM checkpoint_writes WHERE thread_id = ANY(%(ids)s)) AS write_rows
"""


async def real_tasks(engine: Engine, n: int) -> tuple[list[str], dict[str, Any]]:
    """Run `n` scripted tasks; their footprint (bytes per task) before and after compaction."""
    runner = TaskRunner(engine, role="bench")
    spec = parse_agent_spec(AGENT)
    ids = []
    for _ in range(n):
        task = await runner.submit(GOAL, spec)
        await runner.run(task.id)
        ids.append(task.id)
    async with engine.pool.connection() as conn:
        before = await (await conn.execute(FOOTPRINT, {"ids": ids})).fetchone()
        # as if they ended two days ago: past the default one-day history TTL
        await conn.execute(
            "UPDATE tasks SET ended_at = ended_at - interval '2 days' WHERE id = ANY(%(ids)s)",
            {"ids": ids},
        )
    await prune(engine.pool, RetentionPolicy.from_settings(engine.settings))
    async with engine.pool.connection() as conn:
        after = await (await conn.execute(FOOTPRINT, {"ids": ids})).fetchone()
    per_task = lambda row: {k: round(v / n) for k, v in row.items()}  # noqa: E731
    return ids, {
        "tasks": n,
        "before_compaction": per_task(before),
        "after_compaction": per_task(after),
    }


# --- 2. the load ---------------------------------------------------------------------------

TASK_COLUMNS = (
    "id",
    "tenant",
    "agent",
    "goal",
    "state",
    "stop_reason",
    "budgets",
    "usage",
    "continuous",
    "iteration_of",
    "last_seq",
    "created_at",
    "updated_at",
    "started_at",
    "ended_at",
    "lease_owner",
    "lease_epoch",
    "lease_expires_at",
)
EVENT_COLUMNS = ("task_id", "seq", "ts", "type", "data")


def open_state(rng: random.Random) -> str:
    return rng.choices(
        ["submitted", "working", "working-stale", "input-required"], weights=[65, 17, 3, 15]
    )[0]


def task_lines(
    args: argparse.Namespace, sample: Sample
) -> Iterator[tuple[str, str, datetime, int]]:
    """COPY text lines of the tasks, oldest first: (line, id, created_at, its events)."""
    rng = random.Random(7)
    n, per_task = args.tasks, args.events // args.tasks
    extra = args.events - per_task * n
    open_from, opened = n - 2 * args.open, 0  # the open tasks are among the newest
    for i in range(n):
        created = NOW - SPAN + SPAN * (i / n)
        agent_no = i % (args.agents + args.agents // 4)
        continuous = agent_no < args.agents
        tenant = f"t{agent_no % args.tenants}"
        agent = f"agent-{agent_no}" if continuous else "default"
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        events = per_task + (1 if i < extra else 0)
        left = args.open - opened
        if i >= open_from and left > 0 and (rng.random() < 0.5 or n - i <= left):
            state = open_state(rng)
            opened += 1
        else:
            state = rng.choices(TERMINAL, weights=[88, 8, 4])[0]
        lease = ("\\N", "\\N")
        if state == "working":
            lease = ("worker@bench:1", ts(NOW + timedelta(seconds=600)))
        elif state == "working-stale":
            state, lease = "working", ("worker@gone:1", ts(NOW - timedelta(seconds=600)))
        ended = state in TERMINAL
        sample.see(task_id, tenant, agent, state, created)
        fields = (
            task_id,
            tenant,
            agent,
            f"iteration {i} of the standing goal",
            state,
            state if ended else "\\N",
            '{"max_iterations": 25}',
            f'{{"tokens": {1000 + i % 5000}, "iterations": 3}}',
            "t" if continuous else "f",
            f"a{agent_no}" if continuous else "\\N",
            str(events),
            ts(created),
            ts(created + timedelta(seconds=60 if ended else 5)),
            ts(created + timedelta(seconds=1)) if state != "submitted" else "\\N",
            ts(created + timedelta(seconds=60)) if ended else "\\N",
            lease[0],
            "1",
            lease[1],
        )
        yield "\t".join(fields) + "\n", task_id, created, events


def event_lines(task_id: str, created: datetime, count: int) -> Iterator[str]:
    for seq in range(1, count + 1):
        kind = seq % 10
        if seq == 1:
            type_, data = "state_change", '{"from": "submitted", "to": "working"}'
        elif kind == 2:
            type_, data = "run_started", '{"owner": "worker@bench:1", "epoch": 1}'
        elif kind in (3, 6, 9):
            role = ROLES[kind // 3 - 1]
            type_, data = "model_call", f'{{"role": "{role}", "tokens": {100 + seq}}}'
        elif kind in (4, 7):
            tool = TOOLS[seq % 3]
            type_, data = "tool_call", f'{{"tool": "{tool}", "status": "ok"}}'
        elif kind == 5 and seq % 50 == 5:
            type_, data = "approval_requested", '{"tool": "write_report"}'
        else:
            type_, data = "node", '{"node": "critic"}'
        moment = created + timedelta(seconds=seq)
        yield f"{task_id}\t{seq}\t{ts(moment)}\t{type_}\t{data}\n"


async def load(url: str, args: argparse.Namespace, templates: tuple[str, str]) -> Sample:
    """COPY the tasks and events (and the agents, checkpoints, ledger rows, alerts and jobs
    around them); `templates`: a real task with its whole checkpoint history, one compacted."""
    sample = Sample()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET session_replication_role = replica")  # no triggers, no FKs
        tenants = [f"t{k}" for k in range(args.tenants)]
        await conn.execute(
            "INSERT INTO tenants (id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (tenants,)
        )
        await conn.execute(
            "INSERT INTO agents (id, tenant, name, spec, continuous, interval_seconds, "
            " next_run_at, last_succeeded_at) "
            "SELECT 'a' || g, 't' || (g %% %(tenants)s), 'agent-' || g, '{}', true, 60, "
            " now() + (g %% 60) * interval '1 second', now() "
            "FROM generate_series(0, %(agents)s - 1) AS g",
            {"tenants": args.tenants, "agents": args.agents},
        )
        await conn.execute(
            "INSERT INTO alert_rules (agent_id, kind, threshold) SELECT id, kind, 3 FROM agents, "
            "unnest(ARRAY['consecutive_failures', 'no_success', 'stuck']) AS kind"
        )
        started = time.perf_counter()
        pending: list[tuple[str, datetime, int]] = []
        async with conn.cursor().copy(f"COPY tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN") as copy:
            chunk: list[str] = []
            for line, task_id, created, events in task_lines(args, sample):
                chunk.append(line)
                pending.append((task_id, created, events))
                if len(chunk) >= 20_000:
                    await copy.write("".join(chunk))
                    chunk.clear()
            await copy.write("".join(chunk))
        progress(f"COPY tasks: {args.tasks} in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        async with conn.cursor().copy(
            f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        ) as copy:
            chunk = []
            for task_id, created, events in pending:
                chunk.extend(event_lines(task_id, created, events))
                if len(chunk) >= 50_000:
                    await copy.write("".join(chunk))
                    chunk.clear()
            await copy.write("".join(chunk))
        progress(f"COPY events: {args.events} in {time.perf_counter() - started:.0f} s")
        await load_around(conn)
        await load_checkpoints(conn, args, templates)
        await conn.execute("SET session_replication_role = DEFAULT")
        started = time.perf_counter()
        await conn.execute("SELECT wakeful_recount_metrics()")
        for table in (
            "tasks",
            "events",
            "tool_ledger",
            "alerts",
            "agents",
            "metric_totals",
            "procrastinate_jobs",
            "procrastinate_events",
            "checkpoints",
            "checkpoint_blobs",
            "checkpoint_writes",
            "a2a_messages",
        ):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        progress(f"recount + VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")
    return sample


# The checkpoints of seeded tasks: copies of a real task's, the whole history for the newest
# ended tasks (within the history TTL), the compacted final checkpoint for older ones.
SEED_CHECKPOINTS = """
WITH chosen AS (
    SELECT id FROM tasks
    WHERE ended_at IS NOT NULL AND (ended_at < now() - interval '1 day') = %(compacted)s
      AND NOT EXISTS (SELECT 1 FROM checkpoints x WHERE x.thread_id = tasks.id)  -- real ones
    ORDER BY ended_at DESC LIMIT %(n)s
), checkpoints_made AS (
    INSERT INTO checkpoints
    SELECT c.id, x.checkpoint_ns, x.checkpoint_id, x.parent_checkpoint_id, x.type,
           x.checkpoint, x.metadata
    FROM chosen c, checkpoints x WHERE x.thread_id = %(template)s
), blobs_made AS (
    INSERT INTO checkpoint_blobs
    SELECT c.id, x.checkpoint_ns, x.channel, x.version, x.type, x.blob
    FROM chosen c, checkpoint_blobs x WHERE x.thread_id = %(template)s
)
INSERT INTO checkpoint_writes
SELECT c.id, x.checkpoint_ns, x.checkpoint_id, x.task_id, x.idx, x.channel, x.type, x.blob,
       x.task_path
FROM chosen c, checkpoint_writes x WHERE x.thread_id = %(template)s
"""


async def load_checkpoints(
    conn: psycopg.AsyncConnection[Any], args: argparse.Namespace, templates: tuple[str, str]
) -> None:
    full, compacted = templates
    for template, compact, n in ((full, False, args.histories), (compacted, True, args.finals)):
        await conn.execute(SEED_CHECKPOINTS, {"template": template, "compacted": compact, "n": n})
    # as if retention had run: what ended over a day ago is compacted
    await conn.execute(
        "INSERT INTO retention_marks (name, ended_at, task_id) SELECT 'compacted', ended_at, id "
        "FROM tasks WHERE ended_at < now() - interval '1 day' ORDER BY ended_at DESC, id DESC "
        "LIMIT 1 ON CONFLICT (name) DO UPDATE SET ended_at = EXCLUDED.ended_at, "
        "task_id = EXCLUDED.task_id"
    )


async def load_around(conn: psycopg.AsyncConnection[Any]) -> None:
    """Ledger rows (settled ones for 1 in 10 ended tasks, open ones for tasks waiting for a
    person), alerts (mostly resolved), A2A messages, and a run job per unfinished task plus
    a week of finished ones."""
    await conn.execute(
        "INSERT INTO tool_ledger (task_id, tool_call_id, tool, args_hash, status, result, "
        " started_at, completed_at) "
        "SELECT id, 'call-1', 'write_report', md5(id), "
        " CASE WHEN state = 'input-required' THEN 'unknown' ELSE 'completed' END, 'ok', "
        " created_at, ended_at FROM tasks "
        "WHERE state = 'input-required' OR (ended_at IS NOT NULL AND hashtext(id) % 10 = 0)"
    )
    await conn.execute(
        "INSERT INTO alerts (tenant, agent_id, agent, kind, message, dedupe_key, fired_at, "
        " resolved_at) "
        "SELECT a.tenant, a.id, a.name, 'consecutive_failures', 'failing', 'streak-' || g, "
        " now() - g * interval '1 hour', "
        " CASE WHEN g > 1 THEN now() - g * interval '1 hour' + interval '10 minutes' END "
        "FROM agents a, generate_series(1, 20) AS g"
    )
    await conn.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status, attempts) "
        "SELECT 'wakeful', 'wakeful.run_task', id, jsonb_build_object('task_id', id), "
        " CASE WHEN state = 'submitted' THEN 'todo' WHEN state = 'working' THEN 'doing' "
        "      ELSE 'succeeded' END::procrastinate_job_status, 0 "
        "FROM tasks WHERE state IN ('submitted', 'working') "
        " OR created_at > now() - interval '7 days'"
    )
    await conn.execute(  # the A2A message that created each task (as if all came by A2A)
        "INSERT INTO a2a_messages (task_id, message_id, created_at) "
        "SELECT id, 'msg-' || id, created_at FROM tasks"
    )
    await conn.execute(
        "INSERT INTO procrastinate_events (job_id, type, at) "
        "SELECT id, 'deferred', now() - interval '1 minute' FROM procrastinate_jobs"
    )


# --- 3. queries ----------------------------------------------------------------------------


def plan_facts(plan: dict[str, Any]) -> dict[str, Any]:
    indexes: set[str] = set()
    seq_scans: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            seq_scans.add(node.get("Relation Name", "?"))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    big = sorted(seq_scans & BIG_TABLES)
    return {
        "indexes": sorted(indexes),
        "seq_scans": sorted(seq_scans),
        "uses_index": not big,
        "scans_large_table": big,
    }


async def explain(conn: psycopg.AsyncConnection[Any], query: str, params: dict[str, Any]) -> Any:
    literal = psycopg.ClientCursor(conn).mogrify(query, params)
    cur = await conn.execute(f"EXPLAIN (FORMAT JSON) {literal}")
    row = await cur.fetchone()
    return (row["QUERY PLAN"] if isinstance(row, dict) else row[0])[0]


async def measure_queries(pool: AsyncConnectionPool, sample: Sample, repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    rng = random.Random(11)
    async with pool.connection() as conn:
        for case in queries_under_test():
            facts = plan_facts(await explain(conn, case.sql, case.params(sample, rng)))
            times = []
            for _ in range(min(repeat, 5) if case.writes else repeat):  # a batch is slow
                params = case.params(sample, rng)
                started = time.perf_counter()
                if case.writes:
                    async with conn.transaction(force_rollback=True):
                        await conn.execute(case.sql, params)
                else:
                    await (await conn.execute(case.sql, params)).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            results[case.name] = {**percentiles(times), **facts, "expects": case.index}
    return results


# --- 4. kill switch and metrics ------------------------------------------------------------


OPEN_STATES = "('submitted', 'working', 'input-required')"


async def killswitch(engine: Engine, tenant: str | None) -> dict[str, Any]:
    """The kill switch over every open task (of `tenant`) as POST /killswitch runs it, for
    real (committed batches): the flag, in effect from then on; the call's answer (batches
    while the next would end within WAIT_SECONDS: how many it stopped, how many remain);
    every open task stopped (the sweep's batches). Then the open tasks, their agents and the
    counters are put back as they were (triggers off, as the load was written) so the load
    stays for --reuse; and, for comparison, all of them in one statement, rolled back."""
    pool, switch = engine.pool, KillSwitch(engine.pool, engine.lifecycle)
    mine = "" if tenant is None else " AND tenant = %(t)s"
    params = {"t": tenant}
    async with pool.connection() as conn:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_ks_tasks, bench_ks_agents, bench_ks_totals, bench_ks_deltas"
        )
        await conn.execute(
            f"CREATE TABLE bench_ks_tasks AS SELECT * FROM tasks "
            f"WHERE state IN {OPEN_STATES}{mine}",
            params,
        )
        for table in ("agents", "totals", "deltas"):
            source = table if table == "agents" else f"metric_{table}"
            await conn.execute(f"CREATE TABLE bench_ks_{table} AS SELECT * FROM {source}")
        row = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM bench_ks_tasks) AS n, "
                "(SELECT COALESCE(max(id), 0) FROM events) AS last_event"
            )
        ).fetchone()
    assert row is not None
    out: dict[str, Any] = {"open_tasks": row["n"], "batch": killswitch_runtime.CANCEL_BATCH}
    by = "killswitch (bench)"
    try:
        started = time.perf_counter()
        set_flag = switch.set if tenant is None else partial(switch.set_tenant, tenant)
        answer = await set_flag(True, by="bench", wait_seconds=WAIT_SECONDS)
        out["call_answers"] = {
            "seconds": round(time.perf_counter() - started, 3),
            "stopped": len(answer),
            "remaining": answer.remaining,
        }
        batches = []
        while True:
            began = time.perf_counter()
            done = await engine.lifecycle.cancel_open(
                by=by, tenant=tenant, batch=killswitch_runtime.CANCEL_BATCH
            )
            batches.append(round(time.perf_counter() - began, 3))
            if len(done) < killswitch_runtime.CANCEL_BATCH:
                break
        out["all_stopped_s"] = round(time.perf_counter() - started, 3)
        out["sweep_batch_s"] = batches
        out["left_after"] = await engine.lifecycle.open_left(tenant=tenant)
    finally:
        await (
            switch.set(False, by="bench")
            if tenant is None
            else switch.set_tenant(tenant, False, by="bench")
        )
        await restore_open(pool, row["last_event"])
    async with pool.connection() as conn:  # the flag's cost on its own, rolled back
        flag = load_queries(Path(killswitch_runtime.__file__).with_suffix(".sql"))
        async with conn.transaction(force_rollback=True):
            began = time.perf_counter()
            await conn.execute(
                flag["set_tenant_killswitch" if tenant else "set_killswitch"],
                {"tenant": tenant, "on": True, "by": "bench"},
            )
            out["in_effect_s"] = round(time.perf_counter() - began, 4)
        async with conn.transaction(force_rollback=True):
            began = time.perf_counter()
            cur = await conn.execute(
                "SELECT count(*) FILTER (WHERE running) AS running, count(*) AS stopped "
                "FROM wakeful_cancel_open('bench', %(t)s)",
                params,
            )
            one = await cur.fetchone()
            out["one_statement"] = {
                "seconds": round(time.perf_counter() - began, 3),
                **dict(one or {}),
            }
    return out


async def restore_open(pool: AsyncConnectionPool, last_event: int) -> None:
    """Put back what a kill switch run changed (benchmark data only: triggers off, as the
    load itself was written): the open tasks' rows, their agents, the counters; its events
    go."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM events WHERE id > %(id)s", {"id": last_event})
        await conn.execute(
            "UPDATE tasks t SET state = s.state, stop_reason = s.stop_reason, "
            " ended_at = s.ended_at, lease_owner = s.lease_owner, "
            " lease_expires_at = s.lease_expires_at, last_seq = s.last_seq, "
            " lease_epoch = s.lease_epoch, updated_at = s.updated_at, "
            " cancel_requested = s.cancel_requested FROM bench_ks_tasks s WHERE t.id = s.id"
        )
        await conn.execute(
            "UPDATE agents a SET current_task_id = s.current_task_id, next_run_at = s.next_run_at,"
            " last_completed_at = s.last_completed_at, last_outcome = s.last_outcome, "
            " updated_at = s.updated_at FROM bench_ks_agents s WHERE a.id = s.id"
        )
        await conn.execute("DELETE FROM metric_totals")
        await conn.execute("INSERT INTO metric_totals SELECT * FROM bench_ks_totals")
        await conn.execute("DELETE FROM metric_deltas")
        await conn.execute("INSERT INTO metric_deltas SELECT * FROM bench_ks_deltas")
        await conn.execute(
            "DROP TABLE bench_ks_tasks, bench_ks_agents, bench_ks_totals, bench_ks_deltas"
        )
    async with pool.connection() as conn:
        await conn.execute("VACUUM (ANALYZE) tasks")


async def scrape(pool: AsyncConnectionPool, tenant: str | None, repeat: int) -> dict[str, Any]:
    """One /metrics scrape as the route makes it: every metrics.sql query (one round trip),
    then the Prometheus text; `query_ms` is the database part of it."""

    class _Engine:  # what the scrape reads from Services
        def __init__(self, pool: AsyncConnectionPool) -> None:
            self.pool = pool

    class _Services:
        def __init__(self, pool: AsyncConnectionPool) -> None:
            self.engine = _Engine(pool)

    services: Any = _Services(pool)
    times, query_times, body = [], [], b""
    for _ in range(repeat):
        started = time.perf_counter()
        rows = await metrics_route.query_all(services, tenant)
        query_times.append((time.perf_counter() - started) * 1000)
        body = metrics_route.render(rows)
        times.append((time.perf_counter() - started) * 1000)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return {
        **percentiles(times),
        "query_ms": percentiles(query_times),
        "series": series,
        "bytes": len(body),
    }


# --- 5. retention: storage per agent as days grow ------------------------------------------


async def storage_over_days(
    engine: Engine, template: str, days: tuple[int, ...], per_day: int
) -> dict[str, Any]:
    """Agents that ran for each of `days` (an iteration every 24h/per_day, each a copy of
    the real task `template`: row, events, full checkpoint history) under a 1-day tasks TTL
    and a 1-hour history TTL: bytes kept per agent after one prune."""
    policy = RetentionPolicy(
        history_seconds=3600,
        event_seconds=86_400,
        task_seconds=86_400,
        ledger_seconds=86_400,
        alert_seconds=86_400,
    )
    async with engine.pool.connection() as conn:
        await conn.execute("SET session_replication_role = replica")
        for d in days:
            await conn.execute(
                CLONE,
                {
                    "template": template,
                    "agent": f"days-{d}",
                    "n": d * per_day,
                    "step": 86_400 / per_day,
                },
            )
        await conn.execute("SET session_replication_role = DEFAULT")
    report = await prune(engine.pool, policy)
    kept = {}
    async with engine.pool.connection() as conn:
        for d in days:
            row = await (await conn.execute(KEPT, {"agent": f"days-{d}"})).fetchone()
            kept[f"{d}_days"] = dict(row or {})
    return {
        "iterations_per_day": per_day,
        "policy": {"tasks_ttl_days": 1, "history_ttl_h": 1},
        "pruned": report.removed,
        "kept_per_agent": kept,
    }


# Copies of a real task ended at now() - k * step (k = 0..n-1) for one agent, with all of its
# rows; compaction and pruning then treat them as they would the real thing. Loaded with
# triggers off (a task is only ever inserted submitted): the counters do not see them.
CLONE = """
WITH clones AS (
    SELECT gen_random_uuid()::text AS id,
           now() - k * make_interval(secs => %(step)s) AS ended_at
    FROM generate_series(0, %(n)s - 1) AS k
), made AS (
    INSERT INTO tasks (id, tenant, agent, goal, state, stop_reason, budgets, usage, agent_spec,
                       last_seq, created_at, updated_at, started_at, ended_at)
    SELECT c.id, t.tenant, %(agent)s, t.goal, t.state, t.stop_reason, t.budgets, t.usage,
           t.agent_spec, t.last_seq, c.ended_at, c.ended_at, c.ended_at, c.ended_at
    FROM clones c, tasks t WHERE t.id = %(template)s
    RETURNING id
), events_made AS (
    INSERT INTO events (task_id, seq, ts, type, data, key)
    SELECT m.id, e.seq, e.ts, e.type, e.data, e.key FROM made m, events e
    WHERE e.task_id = %(template)s
), checkpoints_made AS (
    INSERT INTO checkpoints
    SELECT m.id, x.checkpoint_ns, x.checkpoint_id, x.parent_checkpoint_id, x.type,
           x.checkpoint, x.metadata
    FROM made m, checkpoints x WHERE x.thread_id = %(template)s
), blobs_made AS (
    INSERT INTO checkpoint_blobs
    SELECT m.id, x.checkpoint_ns, x.channel, x.version, x.type, x.blob
    FROM made m, checkpoint_blobs x WHERE x.thread_id = %(template)s
)
INSERT INTO checkpoint_writes
SELECT m.id, x.checkpoint_ns, x.checkpoint_id, x.task_id, x.idx, x.channel, x.type, x.blob,
       x.task_path
FROM made m, checkpoint_writes x WHERE x.thread_id = %(template)s
"""
KEPT = """
WITH mine AS (SELECT id FROM tasks WHERE agent = %(agent)s)
SELECT (SELECT count(*) FROM mine) AS tasks,
       (SELECT COALESCE(sum(pg_column_size(t.*)), 0) FROM tasks t JOIN mine USING (id))
     + (SELECT COALESCE(sum(pg_column_size(e.*)), 0) FROM events e JOIN mine ON mine.id = e.task_id)
     + (SELECT COALESCE(sum(pg_column_size(c.*)), 0) FROM checkpoints c
        JOIN mine ON mine.id = c.thread_id)
     + (SELECT COALESCE(sum(pg_column_size(b.*)), 0) FROM checkpoint_blobs b
        JOIN mine ON mine.id = b.thread_id)
     + (SELECT COALESCE(sum(pg_column_size(w.*)), 0) FROM checkpoint_writes w
        JOIN mine ON mine.id = w.thread_id) AS bytes
"""


async def reused(engine: Engine) -> tuple[Sample, str, dict[str, Any]]:
    """The sample, the real task with its whole history, and the footprint of a real task,
    from a data dir an earlier run loaded."""
    sample = Sample(every=1)
    async with engine.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id, tenant, agent, state, created_at FROM tasks TABLESAMPLE SYSTEM (1) "
                "WHERE agent <> %(real)s LIMIT 5000",
                {"real": AGENT["name"]},
            )
        ).fetchall()
        real = await (
            await conn.execute(
                "SELECT t.id FROM tasks t WHERE t.agent = %(real)s ORDER BY (SELECT count(*) "
                "FROM checkpoints c WHERE c.thread_id = t.id) DESC, t.ended_at DESC",
                {"real": AGENT["name"]},
            )
        ).fetchall()
        footprint = await (await conn.execute(FOOTPRINT, {"ids": [real[-1]["id"]]})).fetchone()
    for row in rows:
        sample.see(row["id"], row["tenant"], row["agent"], row["state"], row["created_at"])
    return sample, real[0]["id"], {"tasks": 1, "after_compaction": dict(footprint or {})}


async def table_sizes(pool: AsyncConnectionPool) -> dict[str, int]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class "
                "WHERE relkind = 'r' AND relname = ANY(%(t)s)",
                {"t": sorted(BIG_TABLES)},
            )
        ).fetchall()
    return {row["relname"]: int(row["bytes"]) for row in rows}


# --- the run -------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(WAKEFUL_DATA_DIR=args.data_dir)
    engine = await Engine.open(settings)
    try:
        await ensure_queue_schema(engine.url)
        if args.reuse:  # a data dir loaded by an earlier run (--keep)
            sample, history_id, footprint = await reused(engine)
            load_s = 0.0
        else:
            progress("running real tasks for their footprint")
            ids, footprint = await real_tasks(engine, args.real_tasks)
            history = await TaskRunner(engine, role="bench").submit(GOAL, parse_agent_spec(AGENT))
            await TaskRunner(engine, role="bench").run(history.id)
            history_id = history.id
            progress(f"loading {args.tasks} tasks, {args.events} events")
            started = time.perf_counter()
            sample = await load(engine.url, args, (history_id, ids[0]))
            load_s = time.perf_counter() - started
        sizes = await table_sizes(engine.pool)
        progress("measuring queries")
        queries = await measure_queries(engine.pool, sample, args.repeat)
        progress("kill switch and metrics")
        kill_all = await killswitch(engine, None)
        kill_tenant = await killswitch(engine, "t0")
        metrics_all = await scrape(engine.pool, None, 20)
        metrics_tenant = await scrape(engine.pool, "t0", 20)
        storage: dict[str, Any] = {"skipped": "--skip-storage"}
        if not args.skip_storage:  # prunes everything older than a day: the load too
            progress("retention over days")
            storage = await storage_over_days(engine, history_id, (1, 2, 4, 8), args.per_day)
        slow = {k: v["p99_ms"] for k, v in queries.items() if v["p99_ms"] > TARGETS["query_p99_ms"]}
        unindexed = [k for k, v in queries.items() if not v["uses_index"]]
        return {
            "seed": {
                "tasks": args.tasks,
                "events": args.events,
                "open": args.open,
                "agents": args.agents,
                "tenants": args.tenants,
                "load_seconds": round(load_s),
            },
            "table_bytes": sizes,
            "bytes_per_task_loaded": round(
                (sizes.get("tasks", 0) + sizes.get("events", 0)) / max(args.tasks, 1)
            ),
            "real_task_footprint": footprint,
            "queries": queries,
            "killswitch": {"all": kill_all, "tenant_t0": kill_tenant},
            "metrics_scrape": {"installation": metrics_all, "tenant_t0": metrics_tenant},
            "retention": storage,
            "targets": TARGETS,
            "verdict": {
                "queries_over_p99_target": slow,
                "queries_without_index": unindexed,
                # in effect at once; every open task stopped: all_stopped_s (reported)
                "killswitch_in_effect_ok": kill_all.get("in_effect_s", 99)
                <= TARGETS["killswitch_s"],
                "killswitch_all_stopped_ok": kill_all.get("all_stopped_s", 99)
                <= TARGETS["killswitch_s"],
                "metrics_ok": metrics_all["p99_ms"] <= TARGETS["metrics_scrape_ms"],
            },
        }
    finally:
        await engine.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--open", type=int, default=30_000, help="unfinished tasks")
    parser.add_argument("--agents", type=int, default=300, help="continuous agents")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=200, help="timed runs per query")
    parser.add_argument("--real-tasks", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=144, help="iterations per agent-day")
    parser.add_argument(
        "--histories",
        type=int,
        default=2000,
        help="newest ended tasks given a whole checkpoint history",
    )
    parser.add_argument(
        "--finals",
        type=int,
        default=50_000,
        help="older ended tasks given a compacted (final) checkpoint",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument(
        "--skip-storage",
        action="store_true",
        help="no retention-over-days step (it prunes the load older than a day)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the data --data-dir holds from an earlier --keep run",
    )
    args = parser.parse_args()
    if args.open > args.tasks // 2:
        parser.error("--open must be at most half of --tasks")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    made = arguments.data_dir is None
    if made:
        arguments.data_dir = Path(tempfile.mkdtemp(prefix="wakeful-scale-"))
    try:
        print(json.dumps(asyncio.run(main(arguments)), indent=2, default=str))
    finally:
        if made and not arguments.keep:
            shutil.rmtree(arguments.data_dir, ignore_errors=True)
        elif made:
            progress(f"kept {arguments.data_dir}")
