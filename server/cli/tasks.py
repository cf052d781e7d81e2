"""`wakeful tasks list|show`: what ran, how it ended, and what it did."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from server.cli.common import console, handle_errors, open_engine, run_async, settings
from stack.task_records import TaskRow

app = typer.Typer(help="Inspect tasks.", no_args_is_help=True)

_STATE_STYLE = {
    "completed": "green",
    "failed": "red",
    "canceled": "yellow",
    "input-required": "bold yellow",
    "working": "cyan",
}


def _state(task: TaskRow) -> str:
    return f"[{_STATE_STYLE.get(task.state, '')}]{task.state}[/]"


@app.command("list")
@handle_errors
def list_tasks(
    state: Annotated[str | None, typer.Option(help="only tasks in this state")] = None,
    agent: Annotated[str | None, typer.Option(help="only tasks of this agent")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The most recent tasks."""
    config = settings()

    async def main() -> list[TaskRow]:
        async with open_engine(config) as engine:
            return await engine.records.list_tasks(state=state, agent=agent, limit=limit)

    tasks = run_async(main())
    table = Table(title=f"{len(tasks)} task(s)")
    for column in ("id", "agent", "state", "stop reason", "created", "tokens", "goal"):
        table.add_column(column, overflow="fold" if column == "goal" else "ellipsis")
    for task in tasks:
        table.add_row(
            task.id[:8],
            task.agent,
            _state(task),
            task.stop_reason or "",
            task.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{(task.usage or {}).get('tokens', 0):,}",
            task.goal[:80],
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    task_id: Annotated[str, typer.Argument(help="task id (or an unambiguous prefix)")],
    events: Annotated[bool, typer.Option("--events", help="also list the event log")] = False,
) -> None:
    """One task: state, stop reason, usage against budgets, output (and events)."""
    config = settings()

    async def main():
        async with open_engine(config) as engine:
            task = await engine.records.find_task(task_id)
            log = await engine.records.list_events(task.id) if events else []
            return task, log

    task, log = run_async(main())
    console.print(f"[bold]{task.id}[/] · agent {task.agent} · {_state(task)}"
                  + (f" · stop reason {task.stop_reason}" if task.stop_reason else ""))
    console.print(f"goal: {task.goal}")
    usage = Table(title="usage vs budgets")
    usage.add_column("budget")
    usage.add_column("used", justify="right")
    usage.add_column("limit", justify="right")
    pairs = [
        ("iterations", "max_iterations"),
        ("tool_calls", "max_tool_calls"),
        ("tokens", "max_tokens"),
        ("active_seconds", "max_runtime_seconds"),
    ]
    for used_key, limit_key in pairs:
        used = (task.usage or {}).get(used_key, 0)
        used_text = f"{used:.1f}" if isinstance(used, float) else f"{used:,}"
        usage.add_row(limit_key, used_text, str(task.budgets.get(limit_key, "")))
    console.print(usage)
    if task.output:
        console.rule("output")
        console.print(task.output)
    if events:
        table = Table(title=f"{len(log)} event(s)")
        for column in ("seq", "time", "type", "data"):
            table.add_column(column, overflow="fold" if column == "data" else "ellipsis")
        for event in log:
            table.add_row(
                str(event.seq),
                event.ts.strftime("%H:%M:%S.%f")[:-3],
                event.type,
                json.dumps(event.data, default=str)[:300],
            )
        console.print(table)
