"""Drives one task's graph run and keeps its task row true.

`submit` creates the row; `run` starts, resumes after a crash (from the last checkpoint) or
answers a pending approval, and returns when the run ends or waits for a person. The CLI
and the server's workers both use it.
"""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from graphs.agent_memory import AgentMemory, MemoryStores
from graphs.approval import ApprovalDecision
from graphs.budgets import Budgets
from graphs.context import AgentDeps, RunContext, open_toolset, semantic_embedder, toolset_for
from graphs.engine import Engine
from graphs.events import (
    APPROVAL_DECIDED,
    APPROVAL_REQUESTED,
    STATE_CHANGE,
    Listener,
    ListeningChannel,
)
from graphs.models import RoleModels, build_models
from graphs.nodes.finalize import COMPLETED
from graphs.spec import AgentSpec
from graphs.state import initial_state
from stack.errors import ConfigError, WakefulError
from stack.task_records import TaskRow, TaskState
from tools.registry import Toolset

log = logging.getLogger(__name__)
_NO_TOOLS = Toolset({})  # for recording a run that could not start its tools


@dataclass
class RunResult:
    task: TaskRow
    interrupts: list[dict[str, Any]] = field(default_factory=list)  # pending approvals

    @property
    def waiting(self) -> bool:
        return self.task.state == "input-required"


def task_state_for(stop_reason: str) -> TaskState:
    if stop_reason == COMPLETED:
        return "completed"
    if stop_reason == "canceled":
        return "canceled"
    return "failed"


def self_contained(spec: AgentSpec, spec_dir: Path | None) -> dict[str, Any]:
    """The spec as stored with the task: any script file inlined, so a resume needs no files."""
    data = spec.model_dump(mode="json")
    script = spec.script(spec_dir)
    if script:
        data["model"]["script"] = {
            role: role_script.model_dump(mode="json") for role, role_script in script.items()
        }
    data["model"]["script_file"] = None
    return data


class TaskRunner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.records = engine.records

    async def submit(
        self,
        goal: str,
        spec: AgentSpec,
        *,
        budgets: Budgets | None = None,
        spec_dir: Path | None = None,
        tenant: str = "local",
        task_id: str | None = None,
    ) -> TaskRow:
        if not goal.strip():
            raise ConfigError("the goal is empty")
        if not spec.mcp_servers:  # MCP tool names are only known once the servers run
            toolset_for(spec, self.engine.settings)  # unknown tool names: ConfigError now
        stored = self_contained(spec, spec_dir)
        return await self.records.create_task(
            goal=goal,
            agent=spec.name,
            budgets=(budgets or spec.budgets).model_dump(),
            agent_spec=stored,
            tenant=tenant,
            task_id=task_id,
        )

    def deps_for(
        self,
        task: TaskRow,
        listeners: tuple[Listener, ...] = (),
        *,
        continuous: bool = False,
        toolset: Toolset | None = None,
        memory: MemoryStores | None = None,
    ) -> AgentDeps:
        """What a run of `task` needs; `toolset` comes from `open_toolset` for MCP agents,
        `memory` from `Engine.memory()` (without it the run has no long-term memory)."""
        settings = self.engine.settings
        spec = AgentSpec.model_validate(task.agent_spec)
        channel = self.records.channel(task.id)
        models = build_models(spec, settings)
        extras: dict[str, Any] = {}
        if memory is not None:
            extras["memory"] = agent_memory(memory, task, spec, models)
        return AgentDeps(
            task_id=task.id,
            spec=spec,
            settings=settings,
            models=models,
            extras=extras,
            toolset=toolset or toolset_for(spec, settings, continuous=continuous),
            channel=ListeningChannel(channel, *listeners) if listeners else channel,
            budgets=Budgets.model_validate(task.budgets),
            ledger=self.engine.ledger,
            embedder=semantic_embedder(spec, settings),
            continuous=continuous,
        )

    def config(self, task_id: str, budgets: Budgets) -> dict[str, Any]:
        return {
            "configurable": {"thread_id": task_id},
            "recursion_limit": budgets.recursion_limit(),
        }

    async def pending_interrupts(self, task_id: str) -> list[dict[str, Any]]:
        snapshot = await self.engine.graph.aget_state({"configurable": {"thread_id": task_id}})
        return [{"id": i.id, **i.value} for i in snapshot.interrupts]

    async def run(
        self,
        task_id: str,
        *,
        decision: ApprovalDecision | None = None,
        listeners: tuple[Listener, ...] = (),
        deps: AgentDeps | None = None,
        continuous: bool = False,
    ) -> RunResult:
        """Run until the task ends or waits for approval.

        The agent's MCP servers (if any) run for the duration of this call.
        """
        task = await self.records.get_task(task_id)
        if task.terminal:
            return RunResult(task)
        if deps is not None:
            return await self._run(task, deps, decision)
        spec = AgentSpec.model_validate(task.agent_spec)
        async with AsyncExitStack() as stack:
            try:
                toolset = await stack.enter_async_context(
                    open_toolset(
                        spec, self.engine.settings, pool=self.engine.pool, continuous=continuous
                    )
                )
            except WakefulError as exc:  # an MCP server that will not start, say
                deps = self.deps_for(task, listeners, continuous=continuous, toolset=_NO_TOOLS)
                await deps.channel.emit("error", {"error": str(exc)[:2000]})
                return RunResult(await self._end(deps, task, "error", str(exc)))
            memory = await self.engine.memory(
                episodic=spec.memory.episodic, knowledge=spec.memory.knowledge
            )
            deps = self.deps_for(
                task, listeners, continuous=continuous, toolset=toolset, memory=memory
            )
            return await self._run(task, deps, decision)

    async def _run(
        self, task: TaskRow, deps: AgentDeps, decision: ApprovalDecision | None
    ) -> RunResult:
        task_id = task.id
        graph = self.engine.graph
        config = self.config(task_id, deps.budgets)
        snapshot = await graph.aget_state(config)

        run_input: Any
        if not snapshot.values:
            run_input = initial_state(task.goal, time.time())
        elif snapshot.interrupts:
            if decision is None:
                return RunResult(task, await self.pending_interrupts(task_id))
            interrupt = snapshot.interrupts[0]
            await deps.channel.emit(
                APPROVAL_DECIDED,
                _decision_event(interrupt.value, decision),
                key=f"approval_decided:{interrupt.id}",
            )
            run_input = Command(resume=decision.model_dump())
        else:
            run_input = None  # resume from the last checkpoint

        if task.state != "working":
            task = await self._change_state(deps, task, "working")
        try:
            await graph.ainvoke(
                run_input,
                config,
                context=RunContext(deps=deps),
                durability=self.engine.settings.durability,
            )
        except GraphRecursionError:
            return RunResult(await self._end(deps, task, "recursion_limit", None))
        except Exception as exc:
            log.exception("task %s failed", task_id)
            await deps.channel.emit("error", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
            return RunResult(await self._end(deps, task, "error", f"{type(exc).__name__}: {exc}"))

        snapshot = await graph.aget_state(config)
        if snapshot.interrupts:
            for interrupt in snapshot.interrupts:
                await deps.channel.emit(
                    APPROVAL_REQUESTED, dict(interrupt.value), key=f"approval:{interrupt.id}"
                )
            task = await self._change_state(
                deps, task, "input-required", usage=snapshot.values.get("usage")
            )
            return RunResult(task, await self.pending_interrupts(task_id))
        values = snapshot.values
        stop_reason = values.get("stop_reason") or COMPLETED
        return RunResult(
            await self._end(deps, task, stop_reason, values.get("output"), values.get("usage"))
        )

    async def _change_state(
        self,
        deps: AgentDeps,
        task: TaskRow,
        state: TaskState,
        *,
        stop_reason: str | None = None,
        output: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> TaskRow:
        row = await self.records.set_state(
            task.id, state, stop_reason=stop_reason, output=output, usage=usage
        )
        await deps.channel.emit(
            STATE_CHANGE, {"from": task.state, "to": state, "stop_reason": stop_reason}
        )
        await deps.channel.flush()
        return row

    async def _end(
        self,
        deps: AgentDeps,
        task: TaskRow,
        stop_reason: str,
        output: str | None,
        usage: dict[str, Any] | None = None,
    ) -> TaskRow:
        state = task_state_for(stop_reason)
        return await self._change_state(
            deps, task, state, stop_reason=stop_reason, output=output, usage=usage
        )


def agent_memory(
    stores: MemoryStores, task: TaskRow, spec: AgentSpec, models: RoleModels
) -> AgentMemory:
    """The memory of the task's agent (tenant + agent name), with its dreamer."""
    consolidator = None
    if stores.episodic is not None and stores.knowledge is not None:
        from memory.consolidation import ConsolidationPolicy, Consolidator

        consolidator = Consolidator(
            stores.episodic,
            stores.knowledge,
            models["consolidator"].model,
            policy=ConsolidationPolicy(
                importance_threshold=spec.memory.consolidate_after_importance,
                every_n_iterations=spec.memory.consolidate_every_iterations,
            ),
        )
    return AgentMemory(
        stores,
        tenant=task.tenant,
        agent=task.agent,
        config=spec.memory,
        consolidator=consolidator,
    )


def _decision_event(request: dict[str, Any], decision: ApprovalDecision) -> dict[str, Any]:
    event: dict[str, Any] = {
        "tool": request.get("tool"),
        "tool_call_id": request.get("tool_call_id"),
        "action": decision.action,
        "decided_by": decision.decided_by,
        "comment": decision.comment,
    }
    if decision.action == "edit":
        before, after = request.get("args") or {}, decision.args or {}
        event["args_diff"] = {
            key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        }
    return event
