"""Retention: storage stays bounded however long continuous agents run.

An ended task's checkpoint history is compacted to its final checkpoint once it is older
than the history TTL; its events go after the events TTL, the task (with what is left of
its checkpoints, its ledger rows and A2A rows) after the tasks TTL; settled ledger rows and
resolved alerts after theirs. Nothing an operator still needs is touched: unfinished tasks,
tasks waiting for a person, tasks with an open ledger row ("did this happen?"), open alerts
(stack/retention.sql says how each statement keeps to that).

Each step runs in batches of `batch` rows, one short transaction each, so pruning a
backlog never holds locks for long; a dry run does the same work in one transaction and
rolls it back, so the figures it reports are exactly what a real run would remove now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from stack.settings import Settings
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")
DAY = 86_400.0
# The tables retention bounds (and `wakeful db stats` shows).
TABLES = (
    "tasks", "events", "checkpoints", "checkpoint_blobs", "checkpoint_writes", "tool_ledger",
    "alerts", "alert_deliveries", "a2a_messages", "a2a_push_outbox", "metric_deltas",
    "metric_totals", "procrastinate_jobs", "procrastinate_events", "store",
)


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in seconds after which each kind of row may go."""

    history_seconds: float = DAY
    event_seconds: float = 30 * DAY
    task_seconds: float = 30 * DAY
    ledger_seconds: float = 30 * DAY
    alert_seconds: float = 30 * DAY
    batch: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        tasks = settings.retain_tasks_days * DAY
        events = settings.retain_events_days
        return cls(
            history_seconds=settings.retain_history_hours * 3600.0,
            # events never outlive their task
            event_seconds=min(tasks, events * DAY) if events is not None else tasks,
            task_seconds=tasks,
            ledger_seconds=settings.retain_ledger_days * DAY,
            alert_seconds=settings.retain_alerts_days * DAY,
        )

    def params(self) -> dict[str, Any]:
        return {
            "history_seconds": self.history_seconds, "event_seconds": self.event_seconds,
            "task_seconds": self.task_seconds, "ledger_seconds": self.ledger_seconds,
            "alert_seconds": self.alert_seconds, "batch": self.batch,
        }


@dataclass
class PruneReport:
    """What one pass removed (or, dry, would remove), by step and kind of row."""

    dry_run: bool = False
    removed: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, step: str, counts: dict[str, int]) -> None:
        totals = self.removed.setdefault(step, {})
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + int(n)


# (step, query): in this order, so a task is compacted before its events or it go.
_STEPS = (
    ("compacted", "compact_checkpoints"),
    ("events", "prune_events"),
    ("tasks", "prune_tasks"),
    ("ledger", "prune_ledger"),
    ("alerts", "prune_alerts"),
)


async def _batch(conn: AsyncConnection[Any], query: str, params: dict[str, Any]) -> dict[str, int]:
    cur = await conn.execute(_q(query), params)
    if cur.description is None:  # a plain DELETE: its row count
        return {"rows": max(cur.rowcount, 0)}
    row = await cur.fetchone()
    return {k: int(v) for k, v in dict(row or {}).items() if k != "marks"}


async def _step(
    conn: AsyncConnection[Any], step: str, query: str, policy: RetentionPolicy,
    report: PruneReport,
) -> None:
    params = policy.params()
    while True:
        if report.dry_run:
            counts = await _batch(conn, query, params)
        else:
            async with conn.transaction():
                counts = await _batch(conn, query, params)
        report.add(step, counts)
        if next(iter(counts.values()), 0) < policy.batch:
            return


async def prune(
    pool: AsyncConnectionPool, policy: RetentionPolicy, *, dry_run: bool = False
) -> PruneReport:
    """One retention pass over everything due now."""
    report = PruneReport(dry_run=dry_run)
    async with pool.connection() as conn:
        if dry_run:
            async with conn.transaction(force_rollback=True):
                for step, query in _STEPS:
                    await _step(conn, step, query, policy, report)
        else:
            for step, query in _STEPS:
                await _step(conn, step, query, policy, report)
    return report


async def rollup_metrics(pool: AsyncConnectionPool) -> int:
    """Fold the metric deltas the writers appended into the totals; how many it folded."""
    async with pool.connection() as conn:
        row = await (await conn.execute(_q("rollup_metrics"))).fetchone()
    return int(row["folded"]) if row else 0


@dataclass(frozen=True)
class DatabaseStats:
    tables: list[dict[str, Any]]  # table, bytes, rows_estimate
    tasks_by_state: dict[str, int]
    oldest_ended: Any
    not_compacted: int


async def stats(pool: AsyncConnectionPool) -> DatabaseStats:
    """Sizes of the tables retention bounds, and where the tasks stand."""
    async with pool.connection() as conn:
        tables = await (await conn.execute(_q("table_sizes"), {"tables": list(TABLES)})).fetchall()
        states = await (await conn.execute(_q("tasks_by_state"))).fetchall()
        ended = await (await conn.execute(_q("ended_tasks"))).fetchone() or {}
    return DatabaseStats(
        tables=[dict(row) for row in tables],
        tasks_by_state={row["state"]: int(row["n"]) for row in states},
        oldest_ended=ended.get("oldest_ended"),
        not_compacted=int(ended.get("not_compacted") or 0),
    )
