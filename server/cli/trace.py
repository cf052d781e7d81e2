"""`wakeful trace export`: tasks as trace files (JSONL) that evals read without a database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evals.export import export_trace, parse_since, select_tasks
from evals.trace import TRACE_SUFFIX, Trace
from server.cli.common import console, handle_errors, open_engine, run_async, settings

trace_app = typer.Typer(help="Export task traces for offline evaluation.", no_args_is_help=True)


@trace_app.callback()
def _group() -> None:
    """Export task traces for offline evaluation."""  # keeps `export` a sub-command


@trace_app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the trace files")],
    task_id: Annotated[
        str | None, typer.Argument(help="a task id (or an unambiguous prefix)")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="every task of this agent")] = None,
    since: Annotated[
        str | None, typer.Option(help="tasks created since: 30m, 2h, 7d or an ISO date/time")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's tasks")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many tasks")] = 1000,
) -> None:
    """Write one <task id>.jsonl per task: task row, events, node path, messages, usage.

    The format is documented in evals/TRACE_FORMAT.md; `wakeful eval run --traces DIR`
    evaluates the files.
    """
    config = settings()
    moment = parse_since(since) if since is not None else None

    async def main() -> list[Trace]:
        async with open_engine(config) as engine:
            tasks = await select_tasks(
                engine, task_id=task_id, agent=agent, since=moment, tenant=tenant, limit=limit
            )
            return [await export_trace(engine, task.id) for task in tasks]

    traces = run_async(main())
    table = Table(title=f"{len(traces)} trace(s) written to {out}")
    for column in ("task", "agent", "state", "events", "messages", "nodes", "file"):
        table.add_column(column, overflow="fold")
    for trace in traces:
        path = trace.write(out / f"{trace.task_id}{TRACE_SUFFIX}")
        table.add_row(
            trace.task_id[:8],
            str(trace.task.get("agent")),
            str(trace.task.get("state")),
            str(len(trace.events)),
            str(len(trace.messages)),
            str(len(trace.nodes)),
            path.name,
        )
    console.print(table)
