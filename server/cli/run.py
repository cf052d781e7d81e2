"""`wakeful run` and `wakeful resume`: one task in the foreground with a live view.

They run the task through the same entry point as the server's workers (claim, lease,
kill switch, pause): a task another run holds is refused, naming the holder. Ctrl-C leaves
the task resumable from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.prompt import Prompt

from graphs.approval import ApprovalDecision, request_kind
from graphs.budgets import Budgets
from graphs.engine import Engine
from graphs.runner import RunResult, RunStartFailed, TaskRunner
from graphs.spec import AgentSpec, default_agent_spec, load_agent_spec
from server.cli.common import (
    console,
    err_console,
    handle_errors,
    is_interactive,
    open_engine,
    run_async,
    settings,
)
from server.cli.live_view import LiveView
from stack.errors import ConfigError
from stack.task_records import TaskRow


class ApproveMode(StrEnum):
    ask = "ask"
    auto = "auto"
    deny = "deny"


class NoOneToAsk(Exception):
    """--approve ask, but there is no terminal to ask on."""


def _decide(request: dict[str, Any], mode: ApproveMode) -> ApprovalDecision:
    if request_kind(request) == "unknown_outcome":
        return _did_it_happen(request, mode)
    if mode is ApproveMode.ask and not is_interactive():
        raise NoOneToAsk
    if mode is ApproveMode.auto:
        return ApprovalDecision(action="approve", decided_by="cli:--approve auto")
    if mode is ApproveMode.deny:
        return ApprovalDecision(
            action="reject", comment="denied by --approve deny", decided_by="cli:--approve deny"
        )
    console.rule("[bold yellow]approval needed")
    console.print(f"tool [bold]{request['tool']}[/] (scope {request['scope']}, "
                  f"policy from {request['policy_source']})")
    console.print_json(json.dumps(request.get("args", {})))
    if request.get("rationale"):
        console.print(f"rationale: {request['rationale']}")
    choice = Prompt.ask("approve, reject or edit?", choices=["a", "r", "e"], default="a")
    if choice == "a":
        return ApprovalDecision(action="approve", decided_by="cli:operator")
    if choice == "r":
        comment = Prompt.ask("comment for the agent", default="")
        return ApprovalDecision(action="reject", comment=comment or None, decided_by="cli:operator")
    while True:
        raw = Prompt.ask("new arguments as JSON", default=json.dumps(request.get("args", {})))
        try:
            args = json.loads(raw)
        except json.JSONDecodeError as exc:
            err_console.print(f"[red]not JSON:[/] {exc}")
            continue
        if isinstance(args, dict):
            return ApprovalDecision(action="edit", args=args, decided_by="cli:operator")
        err_console.print("[red]arguments must be a JSON object[/]")


def _did_it_happen(request: dict[str, Any], mode: ApproveMode) -> ApprovalDecision:
    """Only a person can say whether a side effect happened: --approve auto|deny never
    answers this, and neither does a run with no terminal."""
    if mode is not ApproveMode.ask or not is_interactive():
        raise NoOneToAsk
    console.rule("[bold yellow]did this happen?")
    console.print(f"tool [bold]{escape(str(request['tool']))}[/] (scope {request.get('scope')})"
                  f" — outcome unknown: {escape(str(request.get('reason') or ''))}")
    console.print_json(json.dumps(request.get("args", {})))
    choice = Prompt.ask("done (it happened), retry (run it again) or skip (it did not)?",
                        choices=["done", "retry", "skip"], default="skip")
    comment = Prompt.ask("a note for the agent", default="") if choice != "retry" else ""
    return ApprovalDecision(action=choice, comment=comment or None,  # type: ignore[arg-type]
                            decided_by="cli:operator")


async def drive(
    engine: Engine, task: TaskRow, approve: ApproveMode, *, models: str
) -> RunResult:
    """Run the task to its end, answering approvals per `approve`."""
    runner = TaskRunner(engine)
    view = LiveView(
        console,
        task_id=task.id,
        agent=task.agent,
        models=models,
        budgets=Budgets.model_validate(task.budgets),
        usage=task.usage,  # a resumed task's clock goes on from where it was
    )
    decision: ApprovalDecision | None = None
    while True:
        with view:
            try:
                result = await runner.run(task.id, decision=decision, listeners=(view.on_event,))
            except RunStartFailed as exc:  # in the foreground, nobody retries: fail it now
                ended = await engine.lifecycle.transition(
                    task.id, "failed", stop_reason="start_failed", output=str(exc)
                )
                return RunResult(ended)
        if not result.waiting or not result.interrupts:
            return result
        try:
            decision = _decide(result.interrupts[0], approve)
        except NoOneToAsk:
            err_console.print(_how_to_answer(task.id, result.interrupts[0], approve),
                              highlight=False, markup=False)
            return result


def _how_to_answer(task_id: str, request: dict[str, Any], mode: ApproveMode) -> str:
    tool = request.get("tool")
    if request_kind(request) == "unknown_outcome":
        return (f"task {task_id} waits for a person to say whether {tool} took effect "
                f"({request.get('reason') or 'outcome unknown'}). Answer with: wakeful task "
                f"approve {task_id} --done|--retry|--skip [--comment …], then: wakeful "
                f"resume {task_id}")
    return (f"task {task_id} waits for a decision on {tool}, and --approve {mode.value} has "
            f"no terminal to ask on. Answer with: wakeful task approve {task_id} "
            f"[--reject --comment …] [--edit JSON], then: wakeful resume {task_id} "
            "(or use --approve auto|deny)")


async def _interruptible(running: Any, task: TaskRow) -> RunResult | None:
    """Ctrl-C: asyncio turns SIGINT into cancelling the main task. The run gives its lease
    up on the way out, so the task is resumable at once; None tells the caller."""
    try:
        return await running
    except asyncio.CancelledError:
        err_console.print(f"interrupted; continue with: wakeful resume {task.id}")
        return None


def _models_label(engine: Engine, spec: AgentSpec) -> str:
    from graphs.models import build_models

    described = build_models(spec, engine.settings).describe()
    labels = sorted(set(described.values()))
    if labels == ["scripted"]:
        return "scripted (no LLM; deterministic demo responses)"
    return ", ".join(f"{role}={label}" for role, label in described.items())


def _report_path(result: RunResult) -> Path | None:
    for line in (result.task.output or "").splitlines():
        if line.startswith("Report written: "):
            return Path(line.removeprefix("Report written: ").strip())
    return None


def print_result(result: RunResult, *, print_report: bool) -> None:
    task = result.task
    style = {"completed": "green", "canceled": "yellow"}.get(task.state, "red")
    console.rule(f"[bold {style}]{task.state}[/] · stop reason: {task.stop_reason}")
    usage = task.usage or {}
    console.print(
        f"iterations {usage.get('iterations', 0)} · tool calls {usage.get('tool_calls', 0)} · "
        f"tokens {usage.get('tokens', 0):,} · active {usage.get('active_seconds', 0):.1f}s"
    )
    report = _report_path(result)
    if print_report and report is not None and report.is_file():
        console.rule(f"report · {report}")
        console.print(Markdown(report.read_text()))
    elif task.output:
        console.print(task.output)
    console.print(f"task id: {task.id}")


def _exit_code(result: RunResult) -> int:
    return 0 if result.task.state == "completed" else 1


@handle_errors
def run(
    goal: Annotated[str | None, typer.Argument(help="the goal (default: the agent spec's)")] = None,
    agent: Annotated[
        Path | None, typer.Option("--agent", "-a", help="agent spec YAML", dir_okay=False)
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(min=1)] = None,
    max_runtime_seconds: Annotated[float | None, typer.Option(min=0.001)] = None,
    max_tool_calls: Annotated[int | None, typer.Option(min=0)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    approve: Annotated[
        ApproveMode, typer.Option(help="how to answer approval requests")
    ] = ApproveMode.ask,
    print_report: Annotated[
        bool, typer.Option("--print-report", help="print the report the agent wrote")
    ] = False,
) -> None:
    """Run one task in the foreground with a live view of nodes, tools and budgets."""
    config = settings()
    spec = load_agent_spec(agent) if agent else default_agent_spec()
    goal = goal or spec.goal
    if not goal:
        raise ConfigError(f"no goal: give one, or set `goal:` in {agent or 'the agent spec'}")
    budgets = spec.budgets.merged(
        max_iterations=max_iterations,
        max_runtime_seconds=max_runtime_seconds,
        max_tool_calls=max_tool_calls,
        max_tokens=max_tokens,
    )

    async def main() -> int:
        async with open_engine(config) as engine:
            task = await TaskRunner(engine).submit(
                goal, spec, budgets=budgets, spec_dir=agent.parent if agent else None
            )
            result = await _interruptible(drive(engine, task, approve,
                                                models=_models_label(engine, spec)), task)
            if result is None:
                return 130
            print_result(result, print_report=print_report)
            return _exit_code(result)

    raise typer.Exit(run_async(main()))


@handle_errors
def resume(
    task_id: Annotated[str, typer.Argument(help="task id (or an unambiguous prefix)")],
    approve: Annotated[ApproveMode, typer.Option(help="how to answer approvals")] = ApproveMode.ask,
    print_report: Annotated[bool, typer.Option("--print-report")] = False,
) -> None:
    """Continue a task from its last checkpoint (after Ctrl-C, a crash, or an approval)."""
    config = settings()

    async def main() -> int:
        async with open_engine(config) as engine:
            task = await engine.records.find_task(task_id)
            if task.terminal:
                err_console.print(f"task {task.id} already ended: {task.state}")
                print_result(RunResult(task), print_report=print_report)
                return _exit_code(RunResult(task))
            spec = AgentSpec.model_validate(task.agent_spec)
            result = await _interruptible(drive(engine, task, approve,
                                                models=_models_label(engine, spec)), task)
            if result is None:
                return 130
            print_result(result, print_report=print_report)
            return _exit_code(result)

    raise typer.Exit(run_async(main()))
