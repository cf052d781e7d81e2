"""What each Postgres trigger costs on a node step's write (issue 12).

A node step of the agent graph commits one transaction (graphs/lean_saver.py
`_put_with_events`): the node's checkpoint writes and blobs, the step's checkpoint, then
wakeful_append_events (stack/lifecycle.sql), which inserts the node's events and updates
the task row's last_seq and usage. That INSERT and that UPDATE fire statement triggers
(found in pg_trigger, whatever their names). Up to migration 0010 there were four:

- events: `events_inserted` (pg_notify for the live feed), `events_counted` (metric_deltas);
- tasks: `tasks_counted_update` (the tasks-by-state gauge) and `tasks_push_states_changed`
  (the A2A push outbox), both with transition tables, so they fire on every UPDATE of
  tasks whether or not a state changed.

Since 0011 the tasks pair is one trigger, `tasks_updated`, which returns after one look at
the rows when no state changed.

This script runs one real agent task (the scripted model, as benchmarks/graph_overhead.py)
and records the arguments of each of its node-step writes; then it replays those exact
writes (the same method, the same statements and values, on fresh tasks) in databases
that differ only in their triggers: all on (the reference), each trigger off
(`ALTER TABLE ... DISABLE TRIGGER`), all off; `--before REV` adds the schema as of a git
revision (its migrations and lifecycle.sql; `--before-toggles`: each trigger off there
too), and `--try NAME=FILE.sql` a copy of the current schema with a candidate lever on.
Variants alternate round by round, so load that comes and goes hits them alike. A LISTEN
connection per database takes the notifications, as a server's listener does. Each
database's counters are then checked against a recount from its rows (`counters_exact`).

The JSON on stdout gives per variant the median milliseconds of a node-step write and of
a task's 17 writes, the server's CPU time per task (the backends' /proc schedstat: far
steadier than wall time on a shared machine), and their ratios to the reference in the
same run (< 1 is cheaper); and each schema's functions' own time per node step
(pg_stat_user_functions, over `--function-tasks` extra tasks, superuser only).

    python -P benchmarks/node_write_triggers.py --rounds 15 --before ea0cc55 --before-toggles
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from graphs.checkpoint_events import Parked
from graphs.engine import Engine
from graphs.lean_saver import LeanPostgresSaver
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from stack.migrate import DEFINITIONS, MIGRATIONS_DIR, apply_migrations
from stack.postgres import ensure_postgres, open_pool
from stack.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
GOAL = "Check this host's load, memory and disk and summarise them"
AGENT = {
    "name": "bench-agent",
    "model": {"provider": "scripted"},
    "tools": {"allow": ["load_average", "memory_usage", "disk_usage"]},
    "entropy": {"semantic": False},
    "memory": {"episodic": False, "knowledge": False},
}
# The statement triggers a node-step write fires: AFTER ... FOR EACH STATEMENT on events
# INSERT and on tasks UPDATE (pg_trigger.tgtype bits: 1 row, 2 before, 4 insert, 16 update).
STATEMENT_TRIGGERS = """
SELECT tgname AS name, tgrelid::regclass::text AS "table" FROM pg_trigger
WHERE NOT tgisinternal AND tgtype & 3 = 0
  AND ((tgrelid = 'events'::regclass AND tgtype & 4 <> 0)
       OR (tgrelid = 'tasks'::regclass AND tgtype & 16 <> 0))
ORDER BY 2, 1
"""
REFERENCE = "all_on"
HISTORY = [
    # Figures from one run each: --rounds 15 --before ea0cc55 --before-toggles, load ~2.6 on
    # 2 cores. "fn" is the trigger or function's own time per node-step write
    # (pg_stat_user_functions); "cpu" the server's CPU per task (17 writes, claim and end).
    {
        "lever": "measurement at ea0cc55 (migrations up to 0010): what each trigger costs",
        "fn_ms_per_step": {
            "events_counted (wakeful_count_events)": 0.044,
            "tasks_counted_update (wakeful_count_tasks)": 0.031,
            "tasks_push_states_changed (wakeful_push_states_changed)": 0.027,
            "events_inserted (wakeful_events_inserted, the NOTIFY)": 0.016,
            "wakeful_append_events, its own statements": 0.525,
            "wakeful_killswitch_on": 0.064,
        },
        "note": "the four triggers ~0.12 ms of a ~2.5-3 ms write (~5%); all four off: "
        "server CPU -0.12 to -0.2 ms a step, wall -10 to -15% of the write, within noise "
        "one by one; at --concurrency 4 NOTIFY off bought nothing beyond noise. The larger "
        "cost was planning: the pool's plan_cache_mode=force_custom_plan made "
        "wakeful_append_events and wakeful_killswitch_on plan every statement at every call",
    },
    {
        "lever": "events' two triggers merged into one, counting skipped when no event counts",
        "fn_ms_per_step": {"merged": 0.057, "the two before": 0.059},
        "note": "nothing to gain: not kept",
    },
    {
        "lever": "0011: tasks' two UPDATE triggers as one that returns after one EXISTS when "
        "no state changed",
        "fn_ms_per_step": {"tasks_updated": 0.022, "the two before": 0.058},
    },
    {
        "lever": "lifecycle.sql: plan_cache_mode auto inside wakeful_append_events and "
        "wakeful_killswitch_on (force_generic_plan measured ~0.1 ms cheaper still, but its "
        "generic NOT EXISTS hashed every event of the task: not kept)",
        "fn_ms_per_step": {"wakeful_append_events": 0.409, "wakeful_killswitch_on": 0.024},
        "ratio_server_cpu_vs_ea0cc55": 0.872,
        "note": "both levers: wakeful_append_events with its triggers 0.69 -> 0.50 ms a step; "
        "server CPU 25.7 -> 22.4 ms a task",
    },
    {
        "lever": "the same two levers again, quiet machine (load ~0.6)",
        "fn_ms_per_step": {
            "tasks_updated": 0.017,
            "the two before": 0.045,
            "wakeful_append_events with its triggers": 0.41,
            "the same before": 0.65,
        },
        "ratio_server_cpu_vs_ea0cc55": 0.821,
        "ratio_step_wall_vs_ea0cc55": 0.906,
        "concurrency_4": {
            "ratio_server_cpu_vs_ea0cc55": 0.838,
            "ratio_step_wall_vs_ea0cc55": 0.835,
        },
        "note": "server CPU 22.9 -> 18.8 ms a task (1.87 vs 2.06 ms a write); what the "
        "statement triggers still cost, all off: 0.08 ms a step (0.13 at concurrency 4). "
        "graph_overhead.py --tasks 5: ratio 0.269 -> 0.290 (paired 0.285 -> 0.288; load "
        "1.2 then 0.7): within its noise, the write is ~1/3 of a node step",
    },
]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Step:
    """One node-step write as the checkpointer made it; thread and task ids replaced."""

    task: str
    events: list[tuple[str, dict[str, Any], str | None]]
    usage: dict[str, Any] | None
    writes: list[tuple[str, list[Any]]]
    blobs: list[tuple[Any, ...]] | None
    row: tuple[Any, ...]

    def for_thread(self, thread: str, epoch: int) -> tuple[Parked, Any, tuple[Any, ...]]:
        writes = [(q, [(thread, *p[1:]) for p in params]) for q, params in self.writes]
        blobs = [(thread, *b[1:]) for b in self.blobs] if self.blobs else None
        parked = Parked(
            channel=_Channel(thread, epoch),  # type: ignore[arg-type]
            task=self.task,
            events=self.events,
            usage=self.usage,
            writes=writes,
        )
        return parked, blobs, (thread, *self.row[1:])


@dataclass
class _Channel:
    """What `_put_with_events` asks of a parked batch's channel."""

    task_id: str
    epoch: int
    stop: bool = False

    def written(self, row: dict[str, Any]) -> None:
        self.stop = bool(row["cancel_requested"])


@dataclass
class Variant:
    name: str
    url: str
    disabled: tuple[tuple[str, str], ...] = ()  # (table, trigger)
    sql_file: Path | None = None  # a candidate lever, applied to this database only
    pool: AsyncConnectionPool | None = None
    listener: asyncio.Task[None] | None = None
    notified: int = 0
    step_ms: list[float] = field(default_factory=list)
    task_ms: list[float] = field(default_factory=list)
    state_ms: list[float] = field(default_factory=list)  # claim + end of a task
    tasks: int = 0
    backends: list[int] = field(default_factory=list)  # the pool's server processes
    listening: list[int] = field(default_factory=list)  # the LISTEN connection's
    cpu_ns: int = 0  # the pool's backends' CPU time over the measured tasks
    listener_cpu_ns: int = 0

    def cpu(self) -> tuple[int, int] | None:
        """CPU time so far of this database's backends (/proc/<pid>/schedstat, in ns): the
        server's own work, whatever else the machine runs; None if not readable."""
        try:
            return _on_cpu(self.backends), _on_cpu(self.listening)
        except OSError:
            return None


def _on_cpu(pids: list[int]) -> int:
    return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids)


async def find_backends(base_url: str, variants: list[Variant]) -> None:
    """Each database's backends by pid (a server on this machine only)."""
    admin = psycopg.conninfo.make_conninfo(base_url, dbname="postgres")
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        for variant in variants:
            name = psycopg.conninfo.conninfo_to_dict(variant.url)["dbname"]
            cur = await conn.execute(
                "SELECT pid, query LIKE 'LISTEN%%' AS listening FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'",
                (name,),
            )
            for pid, listening in await cur.fetchall():
                (variant.listening if listening else variant.backends).append(pid)


@contextlib.asynccontextmanager
async def databases(base_url: str) -> AsyncIterator[Any]:
    admin = psycopg.conninfo.make_conninfo(base_url, dbname="postgres")
    made: list[str] = []

    def create(template: str | None = None) -> str:
        name = f"wk_trig_{secrets.token_hex(4)}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(query)
        made.append(name)
        return name

    try:
        yield create, lambda name: psycopg.conninfo.make_conninfo(base_url, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


async def capture(engine: Engine) -> list[Step]:
    """Run one agent task and keep the arguments of its node-step writes."""
    saver = engine.checkpointer
    steps: list[Step] = []
    put = saver._put_with_events

    async def recording(conn: Any, parked: Parked, blobs: Any, row: tuple[Any, ...]) -> None:
        steps.append(
            Step(
                parked.task,
                parked.events,
                parked.usage,
                list(parked.writes),
                list(blobs) if blobs else None,
                row,
            )
        )
        await put(conn, parked, blobs, row)

    saver._put_with_events = recording  # type: ignore[method-assign]
    try:
        runner = TaskRunner(engine)
        task = await runner.submit(GOAL, parse_agent_spec(AGENT, source="benchmark agent"))
        result = await runner.run(task.id)
    finally:
        del saver._put_with_events
    if result.task.state != "completed":
        raise RuntimeError(f"captured task ended {result.task.state}")
    return steps


async def schema_at(url: str, revision: str) -> None:
    """The schema as of git `revision`: its migrations and definition files."""
    with tempfile.TemporaryDirectory(prefix="wakeful-schema-") as tmp:
        files = [str(p.relative_to(REPO)) for p in (MIGRATIONS_DIR, *DEFINITIONS)]
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision, *files],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        await apply_migrations(url, Path(tmp) / MIGRATIONS_DIR.relative_to(REPO))
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for path in DEFINITIONS:
                await conn.execute((Path(tmp) / path.relative_to(REPO)).read_text().encode())
            await LeanPostgresSaver(conn).setup()


async def schema_variants(label: str, template: str, create: Any, url_of: Any) -> list[Variant]:
    """All triggers on; each statement trigger of a node-step write off; all of them off."""
    async with await psycopg.AsyncConnection.connect(url_of(template), autocommit=True) as conn:
        found = [(r[1], r[0]) for r in await (await conn.execute(STATEMENT_TRIGGERS)).fetchall()]
    variants = [Variant(f"{label}all_on", url_of(create(template)))]
    for table, name in found:
        variants.append(Variant(f"{label}{name}_off", url_of(create(template)), ((table, name),)))
    variants.append(Variant(f"{label}all_off", url_of(create(template)), tuple(found)))
    return variants


async def listen(variant: Variant) -> None:
    async with await psycopg.AsyncConnection.connect(variant.url, autocommit=True) as conn:
        await conn.execute("LISTEN wakeful_events")
        async for _ in conn.notifies():
            variant.notified += 1


async def open_variant(variant: Variant, concurrency: int, listener: bool) -> None:
    async with await psycopg.AsyncConnection.connect(variant.url, autocommit=True) as conn:
        if variant.sql_file is not None:
            await conn.execute(variant.sql_file.read_text().encode())
        for table, name in variant.disabled:
            await conn.execute(
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
    variant.pool = await open_pool(variant.url, min_size=concurrency, max_size=concurrency)
    if listener:
        variant.listener = asyncio.create_task(listen(variant))


async def replay_task(saver: LeanPostgresSaver, variant: Variant, steps: list[Step]) -> None:
    """A fresh task, claimed as a run claims it; the captured writes; its end."""
    assert variant.pool is not None
    task_id = f"bench-{uuid.uuid4()}"
    started = time.perf_counter()
    async with variant.pool.connection() as conn:
        await conn.execute(
            "SELECT id FROM wakeful_create_task(%s, 'local', 'bench-agent', %s, '{}', '{}')",
            (task_id, GOAL),
        )
        cur = await conn.execute(
            "SELECT lease_epoch FROM wakeful_claim(%s, 'bench', 60)", (task_id,)
        )
        epoch = (await cur.fetchone())["lease_epoch"]  # type: ignore[index]
    claimed = time.perf_counter()
    total = 0.0
    for step in steps:
        parked, blobs, row = step.for_thread(task_id, epoch)
        begun = time.perf_counter()
        async with variant.pool.connection() as conn:
            await saver._put_with_events(conn, parked, blobs, row)
        ms = (time.perf_counter() - begun) * 1000
        variant.step_ms.append(ms)
        total += ms
    variant.task_ms.append(total)
    ending = time.perf_counter()
    async with variant.pool.connection() as conn:
        await conn.execute(
            "SELECT id FROM wakeful_transition(%s, 'completed', p_epoch => %s)", (task_id, epoch)
        )
    variant.state_ms.append(((claimed - started) + (time.perf_counter() - ending)) * 1000)
    variant.tasks += 1


COUNTERS_FROM_ROWS = """
SELECT 'tasks' AS metric, state AS label1, '' AS label2, count(*)::numeric AS n
FROM tasks GROUP BY state
UNION ALL
SELECT m.metric, m.label1, m.label2, sum(m.n)
FROM events e CROSS JOIN LATERAL wakeful_event_metrics(e.type, e.data) AS m
GROUP BY 1, 2, 3
"""
COUNTERS_READ = """
SELECT metric, label1, label2, sum(n) AS n FROM metric_counts GROUP BY 1, 2, 3
"""


async def counters_exact(variant: Variant) -> bool:
    assert variant.pool is not None
    async with variant.pool.connection() as conn:
        rows = await (await conn.execute(COUNTERS_FROM_ROWS)).fetchall()
        read = await (await conn.execute(COUNTERS_READ)).fetchall()

    def as_set(found: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {(r["metric"], r["label1"], r["label2"], r["n"]) for r in found if r["n"]}

    return as_set(rows) == as_set(read)


def summary(variant: Variant, reference: Variant, steps_per_task: int) -> dict[str, Any]:
    step = statistics.median(variant.step_ms)
    task = statistics.median(variant.task_ms)
    ref_step = statistics.median(reference.step_ms)
    ref_task = statistics.median(reference.task_ms)
    paired = [a / b for a, b in zip(variant.task_ms, reference.task_ms, strict=False)]
    tasks = max(variant.tasks, 1)
    cpu = variant.cpu_ns / tasks / 1e6
    ref_cpu = reference.cpu_ns / max(reference.tasks, 1) / 1e6
    return {
        "disabled": [name for _, name in variant.disabled],
        "tasks": variant.tasks,
        "ms_per_step": round(step, 3),
        "ms_per_task_writes": round(task, 2),
        "ms_claim_and_end": round(statistics.median(variant.state_ms), 2),
        "ratio_step": round(step / ref_step, 3),
        "ratio_task": round(task / ref_task, 3),
        "ratio_task_paired_median": round(statistics.median(paired), 3),
        "saved_ms_per_step": round(ref_step - step, 3),
        # the server's CPU per task (its pool's backends; claim and end included), and the
        # LISTEN connection's backend: far steadier than wall time on a shared machine
        "server_cpu_ms_per_task": round(cpu, 2) if variant.backends else None,
        "ratio_server_cpu": round(cpu / ref_cpu, 3) if ref_cpu else None,
        "server_cpu_saved_ms_per_step": round((ref_cpu - cpu) / steps_per_task, 4)
        if ref_cpu
        else None,
        "listener_cpu_ms_per_task": round(variant.listener_cpu_ns / tasks / 1e6, 2)
        if variant.listening
        else None,
        "notifications_per_task": round(variant.notified / max(variant.tasks, 1), 1),
        "steps_per_task": steps_per_task,
    }


async def function_times(
    variant: Variant, saver: LeanPostgresSaver, steps: list[Step], tasks: int
) -> dict[str, Any] | None:
    """The trigger functions' own time (pg_stat_user_functions) per node step, over a few
    extra tasks with track_functions on (superuser only; None otherwise)."""
    timed = Variant("timed", variant.url)
    timed.pool = await open_pool(variant.url, min_size=1, max_size=1)
    try:
        async with timed.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT current_setting('is_superuser') AS su")
            ).fetchone()
            if row is None or row["su"] != "on":
                return None
            await conn.execute("SET track_functions = 'pl'")
        await replay_task(saver, timed, steps)  # not counted: the first calls compile
        async with timed.pool.connection() as conn:
            await conn.execute("SELECT pg_stat_force_next_flush()")
        async with timed.pool.connection() as conn:
            await conn.execute("SELECT pg_stat_reset()")
        for _ in range(tasks):
            await replay_task(saver, timed, steps)
        async with timed.pool.connection() as conn:
            await conn.execute("SELECT pg_stat_force_next_flush()")
            await conn.execute("SET track_functions = 'none'")
        async with await psycopg.AsyncConnection.connect(variant.url, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions"
                " ORDER BY total_time DESC"
            )
            found = await cur.fetchall()
    finally:
        await timed.pool.close()
    count = tasks * len(steps)
    return {
        name: {
            "calls_per_step": round(calls / count, 2),
            "total_ms_per_step": round(total / count, 4),
            "self_ms_per_step": round(own / count, 4),
        }
        for name, calls, total, own in found
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings().model_copy(update={"durability": "sync"})
    base_url = settings.database_url or ensure_postgres(settings)
    with tempfile.TemporaryDirectory(prefix="wakeful-bench-") as tmp:
        settings = settings.model_copy(update={"data_dir": Path(tmp)})
        async with databases(base_url) as (create, url_of):
            template = create()
            progress("capturing one agent task's node-step writes")
            engine = await Engine.open(settings, url=url_of(template))
            try:
                steps = await capture(engine)
            finally:
                await engine.close()
            variants = await schema_variants("", template, create, url_of)
            for option in args.try_sql:
                name, _, path = option.partition("=")
                variants.append(Variant(name, url_of(create(template)), sql_file=Path(path)))
            if args.before:
                before = create()
                await schema_at(url_of(before), args.before)
                label = f"at_{args.before}:"
                if args.before_toggles:
                    variants += await schema_variants(label, before, create, url_of)
                else:
                    variants.append(Variant(f"{label}all_on", url_of(create(before))))
            saver = LeanPostgresSaver(None)  # its statements; each call is given a connection
            for variant in variants:
                await open_variant(variant, args.concurrency, not args.no_listen)
            try:
                return await rounds(args, base_url, saver, variants, steps)
            finally:
                for variant in variants:
                    if variant.listener is not None:
                        variant.listener.cancel()
                        with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                            await variant.listener
                    if variant.pool is not None:
                        await variant.pool.close()


async def rounds(
    args: argparse.Namespace,
    base_url: str,
    saver: LeanPostgresSaver,
    variants: list[Variant],
    steps: list[Step],
) -> dict[str, Any]:
    progress(f"{len(steps)} node-step writes a task; warm-up")
    for variant in variants:
        await asyncio.gather(*(replay_task(saver, variant, steps) for _ in range(args.concurrency)))
    for variant in variants:
        for figures in (variant.step_ms, variant.task_ms, variant.state_ms):
            figures.clear()
        variant.tasks, variant.notified = 0, 0
    await asyncio.sleep(0.2)  # the warm-up's notifications are in
    await find_backends(base_url, variants)
    for index in range(args.rounds):
        shift = index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            before = variant.cpu()
            await asyncio.gather(
                *(replay_task(saver, variant, steps) for _ in range(args.concurrency))
            )
            after = variant.cpu()
            if before is not None and after is not None:
                variant.cpu_ns += after[0] - before[0]
                variant.listener_cpu_ns += after[1] - before[1]
        progress(
            f"round {index + 1}/{args.rounds}: "
            + ", ".join(f"{v.name} {statistics.median(v.task_ms):.1f}" for v in variants)
        )
    await asyncio.sleep(0.2)
    reference = variants[0]
    out = {v.name: summary(v, reference, len(steps)) for v in variants}
    for variant in variants:
        out[variant.name]["counters_exact"] = (
            await counters_exact(variant) if not variant.disabled else None
        )
    functions = {}
    if args.function_tasks:  # each schema's reference (all triggers on)
        for variant in variants:
            if variant.name.endswith(REFERENCE) and not variant.sql_file:
                functions[variant.name] = await function_times(
                    variant, saver, steps, args.function_tasks
                )
    return {
        "benchmark": "node_write_triggers",
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "listener": not args.no_listen,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "reference": REFERENCE,
        "variants": out,
        "trigger_function_times": functions,
        "history": HISTORY,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="tasks per variant (each)")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks at once per variant")
    parser.add_argument("--no-listen", action="store_true", help="no LISTEN connections")
    parser.add_argument(
        "--before",
        default=None,
        metavar="GIT_REVISION",
        help="also the schema (migrations, lifecycle.sql) as of this revision",
    )
    parser.add_argument(
        "--before-toggles",
        action="store_true",
        help="each trigger off in the --before schema too",
    )
    parser.add_argument(
        "--try",
        dest="try_sql",
        action="append",
        default=[],
        metavar="NAME=FILE.sql",
        help="also a database with this SQL applied (a candidate lever; repeatable)",
    )
    parser.add_argument(
        "--function-tasks",
        type=int,
        default=5,
        help="extra tasks timed with track_functions (0: none)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.concurrency < 1:
        parser.error("--rounds and --concurrency must be at least 1")
    print(json.dumps(asyncio.run(measure(args)), indent=2, default=str))


if __name__ == "__main__":
    main()
