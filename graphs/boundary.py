"""Every node runs inside a boundary: cancellation check, budget stop, active-time accounting.

A node is `async def node(run: NodeRun) -> dict | Command`. Nodes route with `Command`
(no static edges), so the boundary can divert any of them to `finalize`.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.branch_context import BranchChannel, BranchView, scripted_roles
from graphs.context import AgentDeps, deps_of
from graphs.events import BUDGET_EXHAUSTED
from graphs.state import AgentState, Usage, new_usage

FINALIZE = "finalize"
# these run even after a stop (the join only books what the branches did)
UNSTOPPABLE = frozenset({"finalize", "memorize", "join"})
LONG_NODES = frozenset({"planner", "worker", "tools", "critic"})  # model or tool calls
CRASH_AFTER_FLUSH_ENV = "WAKEFUL_CRASH_AFTER_FLUSH"


class BudgetExhausted(Exception):
    """A budget forbids the next model or tool call; `budget` is its name."""

    def __init__(self, budget: str, usage: Usage) -> None:
        super().__init__(budget)
        self.budget = budget
        self.usage = usage


class RunStopped(Exception):
    """The run was told to stop (cancel or kill switch) while a model call was in flight."""


@dataclass
class NodeRun:
    name: str
    state: AgentState
    deps: AgentDeps
    started: float
    branch: BranchView | None = None  # set inside a branch of a fan-out (graphs/branches)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def usage(self) -> Usage:
        """A copy of the usage counters to update and return."""
        usage = dict(self.state.get("usage") or new_usage(time.time()))
        usage["model_calls"] = dict(usage["model_calls"])
        return usage  # type: ignore[return-value]

    def live(self, usage: Usage) -> Usage:
        """`usage` to check a budget against now: in a branch, with what the sibling
        branches have spent so far (elsewhere, `usage` itself)."""
        if self.branch is None:
            return usage
        return self.branch.live(dict(usage))  # type: ignore[return-value]


Node = Callable[[NodeRun], Awaitable[dict[str, Any] | Command]]


def boundary(name: str, node: Node) -> Callable[..., Awaitable[dict[str, Any] | Command]]:
    async def run_node(state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | Command:
        deps = await deps_of(runtime)
        view = None
        if state.get("branch"):
            deps, state, view = _in_branch(deps, state)
        stop = await deps.channel.boundary(
            name, announce=name in LONG_NODES, scope=_node_run_scope(name)
        )
        stop_event = deps.extras.get("stop_event")
        stop = stop or (stop_event is not None and stop_event.is_set())
        if name not in UNSTOPPABLE and (stop or state.get("stop_reason") == "canceled"):
            await deps.channel.flush()
            return Command(goto=FINALIZE, update={"stop_reason": "canceled"})
        run = NodeRun(name=name, state=state, deps=deps, started=time.monotonic(), branch=view)
        try:
            result = await _run_and_flush(node, run)
        except BudgetExhausted as exc:
            await deps.channel.emit(
                BUDGET_EXHAUSTED,
                {"budget": exc.budget, "node": name, "usage": dict(exc.usage)},
                key=f"budget:{exc.budget}",
            )
            await deps.channel.flush(usage=dict(exc.usage))
            usage = view.own(dict(exc.usage)) if view is not None else exc.usage
            result = Command(goto=FINALIZE, update={"stop_reason": exc.budget, "usage": usage})
        except RunStopped:
            result = Command(goto=FINALIZE, update={"stop_reason": "canceled"})
        return result

    run_node.__name__ = name
    return run_node


def _in_branch(deps: AgentDeps, state: AgentState) -> tuple[AgentDeps, AgentState, BranchView]:
    """What a node of a branch runs with: the branch's channel, the task's usage."""
    branch = state["branch"]
    assert branch is not None
    view = BranchView(deps.extras, dict(branch), scripted_roles(deps.models))
    channel = BranchChannel(deps.channel, branch["step"])
    usage = view.task_usage(dict(state.get("usage") or new_usage(time.time())))
    return (
        dataclasses.replace(deps, channel=channel),
        {**state, "usage": usage},  # type: ignore[typeddict-item]
        view,
    )


def _own_usage(run: NodeRun, result: dict[str, Any] | Command) -> dict[str, Any] | Command:
    """Inside a branch, the usage a node returns goes back to the branch's own."""
    update = result.update if isinstance(result, Command) else result
    if run.branch is None or not isinstance(update, dict) or "usage" not in update:
        return result
    update = {**update, "usage": run.branch.own(dict(update["usage"]))}
    if isinstance(result, Command):
        return Command(goto=result.goto, update=update, graph=result.graph, resume=result.resume)
    return update


def _node_run_scope(name: str) -> str | None:
    """This run of the node, as LangGraph numbers it: the same when the node runs again
    after a crash or an interrupt (its task id derives from the checkpoint and step)."""
    metadata = _run_metadata()
    if metadata is None:
        return None
    task = _node_task(metadata) or ""
    return f"{metadata.get('langgraph_step')}:{name}:{task[:8]}"


def _run_metadata() -> dict[str, Any] | None:
    try:
        return get_config().get("metadata") or {}
    except RuntimeError:  # called outside a graph run
        return None


def _node_task(metadata: dict[str, Any] | None) -> str | None:
    """The LangGraph task id of the running node (its writes are saved under it)."""
    task = str((metadata or {}).get("langgraph_checkpoint_ns", "")).rpartition(":")[2]
    return task or None


async def _run_and_flush(node: Node, run: NodeRun) -> dict[str, Any] | Command:
    """Run the node, then write its events and usage before LangGraph checkpoints it.

    Flushing at the end of the node (and not at the next one's start) means the events of
    a checkpointed node are never lost to a crash, and the usage on the task row is never
    behind by more than one node, however the run ends; the flush also brings back the
    cancel flag that the next boundary acts on. On the task's own graph the events are
    parked instead, and go out in the transaction of the node's checkpoint
    (graphs/checkpoint_events.py): one commit per node, not two.
    """
    try:
        result = _charge_time(run, await node(run))
    except BaseException as exc:
        # a model call that failed still spent tokens (ModelCallError carries them)
        spent = getattr(exc, "usage", None)
        await run.deps.channel.flush(usage=dict(spent) if isinstance(spent, dict) else None)
        raise
    update = result.update if isinstance(result, Command) else result
    usage = update.get("usage") if isinstance(update, dict) else None
    usage = dict(usage) if usage else None
    task = _node_task(_run_metadata()) if run.branch is None else None
    if not await run.deps.channel.park(task, usage=usage):
        await run.deps.channel.flush(usage=usage)
    _crash_after_flush_if_asked(run)
    return _own_usage(run, result)


_flushed: Counter[str] = Counter()  # node runs flushed in this process, for the hook


def _crash_after_flush_if_asked(run: NodeRun) -> None:
    """Crash-test hook (leave it unset in production): WAKEFUL_CRASH_AFTER_FLUSH=<node>
    SIGKILLs the process once that node's events are written and before LangGraph
    checkpoints the node — the window where a resumed run writes them again. (A parked
    node's events wait for its checkpoint: then neither is written and the node runs again.)
    `<node>@<step>` names the node in the branch of that plan step, `…#<n>` its n-th run."""
    wanted = os.environ.get(CRASH_AFTER_FLUSH_ENV)
    if not wanted:
        return
    name = run.name if run.branch is None else f"{run.name}@{run.branch.step}"
    _flushed[name] += 1
    if wanted in (name, f"{name}#{_flushed[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)


def _charge_time(run: NodeRun, result: dict[str, Any] | Command) -> dict[str, Any] | Command:
    """Add this node's wall time to usage.active_seconds (the runtime budget's clock).

    Only nodes that already update usage (those that call models or tools, where the time
    goes) are charged: writing the usage channel from every node would add a checkpoint
    write and blob per step for microseconds of bookkeeping.
    """
    update = result.update if isinstance(result, Command) else result
    if not isinstance(update, dict) or "usage" not in update:
        return result
    usage = dict(update["usage"])
    usage["active_seconds"] = usage["active_seconds"] + run.elapsed()
    update = {**update, "usage": usage}
    if isinstance(result, Command):
        return Command(goto=result.goto, update=update, graph=result.graph, resume=result.resume)
    return update
