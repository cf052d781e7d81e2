"""Every node runs inside a boundary: cancellation check, budget stop, active-time accounting.

A node is `async def node(run: NodeRun) -> dict | Command`. Nodes route with `Command`
(no static edges), so the boundary can divert any of them to `finalize`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.context import AgentDeps, deps_of
from graphs.events import BUDGET_EXHAUSTED
from graphs.state import AgentState, Usage, new_usage

FINALIZE = "finalize"
UNSTOPPABLE = frozenset({"finalize", "memorize"})  # these run even after a stop


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

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def usage(self) -> Usage:
        """A copy of the usage counters to update and return."""
        usage = dict(self.state.get("usage") or new_usage(time.time()))
        usage["model_calls"] = dict(usage["model_calls"])
        return usage  # type: ignore[return-value]


Node = Callable[[NodeRun], Awaitable[dict[str, Any] | Command]]


def boundary(name: str, node: Node) -> Callable[..., Awaitable[dict[str, Any] | Command]]:
    async def run_node(state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | Command:
        deps = await deps_of(runtime)
        stop = await deps.channel.boundary(name)
        if name not in UNSTOPPABLE and (stop or state.get("stop_reason") == "canceled"):
            return Command(goto=FINALIZE, update={"stop_reason": "canceled"})
        run = NodeRun(name=name, state=state, deps=deps, started=time.monotonic())
        try:
            result = await node(run)
        except BudgetExhausted as exc:
            await deps.channel.emit(
                BUDGET_EXHAUSTED,
                {"budget": exc.budget, "node": name, "usage": dict(exc.usage)},
                key=f"budget:{exc.budget}",
            )
            result = Command(goto=FINALIZE, update={"stop_reason": exc.budget, "usage": exc.usage})
        except RunStopped:
            result = Command(goto=FINALIZE, update={"stop_reason": "canceled"})
        return _charge_time(run, result)

    run_node.__name__ = name
    return run_node


def _charge_time(run: NodeRun, result: dict[str, Any] | Command) -> dict[str, Any] | Command:
    """Add this node's wall time to usage.active_seconds (the runtime budget's clock)."""
    update = result.update if isinstance(result, Command) else result
    if update is None:
        update = {}
    if not isinstance(update, dict):  # a list of tuples is legal in Command; we never use it
        return result
    usage = dict(update.get("usage") or run.usage())
    usage["active_seconds"] = usage["active_seconds"] + run.elapsed()
    update = {**update, "usage": usage}
    if isinstance(result, Command):
        return Command(goto=result.goto, update=update, graph=result.graph, resume=result.resume)
    return update
