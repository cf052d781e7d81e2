"""`wakeful db stats|prune|migrate`: what the database holds, retention applied by hand, and
the schema applied before a deploy starts its processes.

`stats` shows each table's size on disk and rows, tasks by state, the oldest ended task
and how many ended tasks still carry their checkpoint history. `prune` runs the retention
pass the maintenance queue runs every hour (stack/retention.py, TTLs from the settings
WAKEFUL_RETAIN_*); `--dry-run` runs it in a transaction that is rolled back, so it prints
exactly what would go now and removes nothing. Unfinished tasks, tasks waiting for a
person and tasks with an open ledger row are never pruned.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from server.cli.common import console, handle_errors, open_engine, run_async, settings
from stack.retention import DatabaseStats, PruneReport, RetentionPolicy, prune, stats

app = typer.Typer(help="The database: its size, and retention.", no_args_is_help=True)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"


@app.command("stats")
@handle_errors
def stats_command() -> None:
    """Table sizes, tasks by state, and what retention has left to do."""
    config = settings()

    async def main() -> DatabaseStats:
        async with open_engine(config) as engine:
            return await stats(engine.pool)

    found = run_async(main())
    table = Table(title="tables")
    for column in ("table", "on disk", "rows (estimate)"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for row in found.tables:
        table.add_row(row["table"], _bytes(int(row["bytes"])), f"{row['rows_estimate']:,}")
    console.print(table)
    states = ", ".join(f"{state} {n:,}" for state, n in found.tasks_by_state.items()) or "none"
    console.print(f"tasks: {states}")
    console.print(f"oldest ended task: {found.oldest_ended or '-'} · "
                  f"ended tasks with their checkpoint history: {found.not_compacted:,}")
    policy = RetentionPolicy.from_settings(config)
    console.print(
        f"retention: history {policy.history_seconds / 3600:g} h, events "
        f"{policy.event_seconds / 86400:g} d, tasks {policy.task_seconds / 86400:g} d, ledger "
        f"{policy.ledger_seconds / 86400:g} d, alerts {policy.alert_seconds / 86400:g} d"
    )


@app.command("prune")
@handle_errors
def prune_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would go, remove nothing")
    ] = False,
) -> None:
    """Apply retention now: compact ended tasks' checkpoints, prune what is past its TTL."""
    config = settings()
    policy = RetentionPolicy.from_settings(config)

    async def main() -> PruneReport:
        async with open_engine(config) as engine:
            return await prune(engine.pool, policy, dry_run=dry_run)

    report = run_async(main())
    console.print("dry run, nothing removed; a prune now would remove:" if report.dry_run
                  else "removed:")
    for step, counts in report.removed.items():
        listed = ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in counts.items())
        console.print(f"  {step}: {listed}")


@app.command("migrate")
@handle_errors
def migrate_command() -> None:
    """Apply the schema migrations and the queue's schema, then exit (a deploy's first step;
    every process also applies them on start, under a lock)."""
    from server.runtime.queue import ensure_queue_schema

    config = settings()

    async def main() -> bool:
        async with open_engine(config) as engine:  # opening applies the migrations
            return await ensure_queue_schema(engine.url)

    queue_applied = run_async(main())
    console.print("schema up to date" + (" (queue schema applied)" if queue_applied else ""))
