"""`wakeful task send|get|list|cancel|approve|events`: tasks through the server's services,
straight on the database (no HTTP): what the API does, from a terminal. A worker (`wakeful
worker` or `wakeful serve`) runs what is sent; `wakeful run` tasks show here too.

Every command takes a task id or an unambiguous prefix of one (the 8 characters `task list`
shows). `wakeful tasks …` and `task show` are the old names, kept hidden."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from graphs.approval import ApprovalDecision
from server.cli.common import (
    console,
    err_console,
    handle_errors,
    run_async,
    settings,
    waiting_message,
)
from server.cli.startup_view import startup_progress
from server.services import Services, TaskView, open_services
from stack.errors import ConfigError, NotFound
from stack.settings import Settings
from stack.task_records import EventRow, TaskRow

app = typer.Typer(help="Send tasks, follow them, answer their approvals.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option(help="the tenant the task belongs to")]
TaskIdArgument = Annotated[str, typer.Argument(help="task id (or an unambiguous prefix)")]
DEFAULT_TENANT = "local"
STATE_STYLE = {"completed": "green", "failed": "red", "canceled": "yellow",
               "input-required": "bold yellow", "working": "cyan"}


@asynccontextmanager
async def cli_services(config: Settings) -> AsyncIterator[Services]:
    with startup_progress(err_console, waiting_message(config)):
        services = await open_services(config)
    try:
        yield services
    finally:
        await services.close()


async def resolve(services: Services, tenant: str, task_id: str) -> str:
    """A full task id of `tenant` from an id or an unambiguous prefix."""
    try:
        return (await services.tasks.get(tenant, task_id)).task.id
    except NotFound:
        found = await services.engine.records.find_task(task_id)
        return (await services.tasks.get(tenant, found.id)).task.id


def styled(state: str) -> str:
    return f"[{STATE_STYLE.get(state, '')}]{state}[/]"


def event_line(event: EventRow, *, prefix: str = "") -> str:
    """One event as a line of Rich markup (its data escaped: it may hold [..] of its own)."""
    data = {key: escape(str(value)) if isinstance(value, str) else value
            for key, value in event.data.items()}
    detail = {
        "node": lambda: data.get("node", ""),
        "model_call": lambda: f"{data.get('role')} · {data.get('tokens', 0)} tokens",
        "tool_call": lambda: (f"{data.get('tool')} · {data.get('status')} · "
                              f"{data.get('duration_ms', 0)} ms"),
        "state_change": lambda: f"{data.get('from')} → {styled(str(data.get('to')))}"
                                + (f" ({data['stop_reason']})" if data.get("stop_reason") else ""),
        "approval_requested": lambda: f"[bold yellow]{data.get('tool')}[/] needs approval",
        "approval_decided": lambda: f"{data.get('action')} by {data.get('decided_by')}",
        "finished": lambda: f"stop reason {data.get('stop_reason')}",
        "run_started": lambda: f"worker {data.get('worker')} (attempt {data.get('attempt')})",
        "plan": lambda: f"{len(data.get('steps') or [])} step(s)",
        "verdict": lambda: f"{data.get('decision')} {data.get('step_id')}",
        "step_completed": lambda: str(data.get("step")),
    }.get(event.type, lambda: escape(json.dumps(event.data, default=str)[:70]))()
    return f"{prefix}{event.ts:%H:%M:%S} {event.seq:>4} [bold]{event.type}[/] {detail}"


async def follow(services: Services, tenant: str, task_id: str, after: int = 0) -> TaskRow:
    """Print the task's events as they come, until it ends or waits for an approval."""
    while True:
        for event in await services.tasks.events(tenant, task_id, after=after):
            console.print(event_line(event), highlight=False)
            after = event.seq
        task = (await services.tasks.get(tenant, task_id)).task
        if task.terminal or task.state == "input-required":
            for event in await services.tasks.events(tenant, task_id, after=after):
                console.print(event_line(event), highlight=False)
            return task
        await services.tasks.wait_for_events(task_id, after, timeout=1.0)


def print_view(view: TaskView, events: list[EventRow] | None = None) -> None:
    task = view.task
    console.print(f"[bold]{task.id}[/] · agent {task.agent} · {styled(task.state)}"
                  + (f" · stop reason {task.stop_reason}" if task.stop_reason else ""))
    console.print(f"goal: {task.goal}")
    table = Table(title="usage vs budgets")
    for column in ("budget", "used", "limit"):
        table.add_column(column, justify="left" if column == "budget" else "right")
    for use in view.budgets:
        table.add_row(use.budget, f"{use.used:,.1f}".removesuffix(".0"), f"{use.limit:,g}")
    console.print(table)
    if view.approval:
        console.rule("[bold yellow]approval pending")
        console.print_json(json.dumps(view.approval, default=str))
        console.print(f"answer: wakeful task approve {task.id[:8]} [--reject|--edit JSON]")
    print_output(task)
    if events is not None:
        console.rule(f"{len(events)} event(s)")
        for event in events:
            console.print(event_line(event), highlight=False)


def print_output(task: TaskRow) -> None:
    if task.output:
        console.rule("output")
        console.print(task.output, markup=False, highlight=False)


def print_ending(task: TaskRow) -> None:
    """What `send --wait` shows once the task ends or waits: the outcome and the output."""
    console.rule(f"{styled(task.state)}"
                 + (f" · stop reason {task.stop_reason}" if task.stop_reason else ""))
    if task.state == "input-required":
        console.print(f"waiting for an approval: wakeful task get {task.id[:8]}, then "
                      f"wakeful task approve {task.id[:8]} [--reject|--edit JSON]")
    print_output(task)


@app.command("send")
@handle_errors
def send(
    goal: Annotated[str | None, typer.Argument(help="the goal (default: the agent's)")] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="an applied agent")] = None,
    max_iterations: Annotated[int | None, typer.Option(min=1)] = None,
    max_runtime_seconds: Annotated[float | None, typer.Option(min=0.001)] = None,
    max_tool_calls: Annotated[int | None, typer.Option(min=0)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow its events until it ends")] = False,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Queue a task; prints its id (and with --wait, its events; exit 0 when completed)."""
    config = settings()
    budgets = {k: v for k, v in {
        "max_iterations": max_iterations, "max_runtime_seconds": max_runtime_seconds,
        "max_tool_calls": max_tool_calls, "max_tokens": max_tokens}.items() if v is not None}

    async def main() -> int:
        async with cli_services(config) as services:
            task = await services.tasks.submit(
                tenant, goal=goal, agent=agent, budgets=budgets or None
            )
            console.print(task.id)
            if not wait:
                return 0
            task = await follow(services, tenant, task.id)
            print_ending(task)
            return 0 if task.state == "completed" else 1

    raise typer.Exit(run_async(main()))


@app.command("get")
@handle_errors
def get(
    task_id: TaskIdArgument,
    events: Annotated[bool, typer.Option("--events", help="also list the event log")] = False,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """One task: state, usage against budgets, a pending approval, output (and events)."""
    config = settings()

    async def main() -> tuple[TaskView, list[EventRow] | None]:
        async with cli_services(config) as services:
            full_id = await resolve(services, tenant, task_id)
            view = await services.tasks.get(tenant, full_id)
            log = await services.tasks.events(tenant, full_id, limit=10_000) if events else None
            return view, log

    print_view(*run_async(main()))


app.command("show", hidden=True)(get)  # the old `wakeful tasks show`


@app.command("list")
@handle_errors
def list_tasks(
    state: Annotated[str | None, typer.Option(help="only tasks in this state")] = None,
    agent: Annotated[str | None, typer.Option(help="only tasks of this agent")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    cursor: Annotated[str | None, typer.Option(help="the next page, as printed")] = None,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """The tenant's tasks, newest first."""
    config = settings()

    async def main() -> tuple[list[TaskRow], str | None]:
        async with cli_services(config) as services:
            return await services.tasks.list(
                tenant, state=state, agent=agent, cursor=cursor, limit=limit
            )

    tasks, next_cursor = run_async(main())
    table = Table(title=f"{len(tasks)} task(s)")
    for column in ("id", "agent", "state", "stop reason", "created", "tokens", "goal"):
        table.add_column(column, overflow="fold" if column == "goal" else "ellipsis")
    for task in tasks:
        table.add_row(task.id[:8], task.agent + (" ↻" if task.iteration_of else ""),
                      styled(task.state), task.stop_reason or "",
                      f"{task.created_at:%Y-%m-%d %H:%M:%S}",
                      f"{(task.usage or {}).get('tokens', 0):,}", task.goal[:80])
    console.print(table)
    if next_cursor:
        console.print(f"more: wakeful task list --cursor {next_cursor}")


@app.command("cancel")
@handle_errors
def cancel(task_id: TaskIdArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Stop a task (a running one stops at its next step)."""
    config = settings()

    async def main() -> TaskRow:
        async with cli_services(config) as services:
            full_id = await resolve(services, tenant, task_id)
            return await services.tasks.cancel(tenant, full_id, by="cli")

    task = run_async(main())
    console.print(f"{task.id}: {styled(task.state)}"
                  + (" (stops at its next step)" if task.state == "working" else ""))


@app.command("approve")
@handle_errors
def approve(
    task_id: TaskIdArgument,
    reject: Annotated[bool, typer.Option("--reject", help="refuse the tool call")] = False,
    edit: Annotated[str | None, typer.Option(help="run it with these arguments (JSON)")] = None,
    done: Annotated[bool, typer.Option(
        "--done", help="did this happen? yes: it took effect (--comment: its result)")] = False,
    retry: Annotated[bool, typer.Option("--retry", help="did this happen? run it again")] = False,
    skip: Annotated[bool, typer.Option("--skip", help="did this happen? no, do not do it")] = False,
    comment: Annotated[str | None, typer.Option(help="a note for the agent")] = None,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Answer a task's pending request: an approval (approve, --reject or --edit) or a "did
    this happen?" question (--done, --retry or --skip); the run resumes."""
    chosen = [flag for flag, on in (("--reject", reject), ("--edit", edit is not None),
                                   ("--done", done), ("--retry", retry), ("--skip", skip)) if on]
    if len(chosen) > 1:
        raise ConfigError(f"{' and '.join(chosen)} exclude each other: give one answer")
    args: dict[str, Any] | None = None
    if edit is not None:
        try:
            args = json.loads(edit)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--edit is not JSON: {exc}") from None
        if not isinstance(args, dict):
            raise ConfigError("--edit must be a JSON object of arguments")
    action = chosen[0].removeprefix("--") if chosen else "approve"
    decision = ApprovalDecision(action=action, args=args, comment=comment, decided_by="cli")
    config = settings()

    async def main() -> TaskRow:
        async with cli_services(config) as services:
            full_id = await resolve(services, tenant, task_id)
            return await services.tasks.decide(tenant, full_id, decision)

    task = run_async(main())
    console.print(f"{task.id}: {action} sent; {styled(task.state)}")


@app.command("events")
@handle_errors
def events(
    task_id: TaskIdArgument,
    after: Annotated[int, typer.Option(min=0, help="only events after this seq")] = 0,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="wait for more")] = False,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """The task's event log (with --follow: until it ends or waits for an approval)."""
    config = settings()

    async def main() -> None:
        async with cli_services(config) as services:
            full_id = await resolve(services, tenant, task_id)
            if follow_:
                await follow(services, tenant, full_id, after)
                return
            for event in await services.tasks.events(tenant, full_id, after=after, limit=10_000):
                console.print(event_line(event), highlight=False)

    run_async(main())


if __name__ == "__main__":
    app()
