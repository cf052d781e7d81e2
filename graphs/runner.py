"""The one entry point of a task's run, for every caller: the CLI's run and resume, the
server's workers, tests.

`submit` creates the row (through the lifecycle, stack/lifecycle.py). `run` claims the task
with a lease (the same claim whoever runs it: a task held by a live run is refused, naming
the holder), keeps the lease alive while the graph runs — a first run, a resume after a
crash from the last checkpoint, or an answer to a pending request — and ends the task, or
parks it for a person, through the lifecycle. Its state changes, events and usage are
written by the lifecycle in one transaction each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from langgraph.errors import GraphRecursionError
from langgraph.types import Command
from psycopg_pool import PoolTimeout

from graphs.agent_memory import AgentMemory, MemoryStores
from graphs.approval import ApprovalDecision
from graphs.budgets import Budgets
from graphs.checkpoint_events import CheckpointedChannel
from graphs.context import AgentDeps, RunContext, semantic_embedder, toolset_for
from graphs.engine import Engine
from graphs.events import (
    APPROVAL_DECIDED,
    APPROVAL_REQUESTED,
    Listener,
    ListeningChannel,
    TaskChannel,
)
from graphs.models import RoleModels, build_models
from graphs.nodes.finalize import COMPLETED
from graphs.spec import AgentSpec
from graphs.state import initial_state
from graphs.tracing import task_run, traced
from stack.errors import ConfigError, LeaseLost, TransitionRefused, WakefulError
from stack.lifecycle import Lease, LeaseHeld, run_owner
from stack.task_records import TaskRow, TaskState

log = logging.getLogger(__name__)
INTERRUPT = "__interrupt__"  # the key of pending interrupts in ainvoke's output

# The database went away mid-run: the run is not the task's fault, and resumes later.
INFRASTRUCTURE_ERRORS = (psycopg.OperationalError, PoolTimeout)


class RunStartFailed(WakefulError):
    """The run could not start its tools (an MCP server that will not start, say): often
    transient, so the caller may try again before the task fails `start_failed`."""


@dataclass
class RunResult:
    task: TaskRow
    interrupts: list[dict[str, Any]] = field(default_factory=list)  # pending requests

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
    def __init__(self, engine: Engine, *, role: str = "cli") -> None:
        self.engine = engine
        self.records = engine.records
        self.lifecycle = engine.lifecycle
        self.role = role  # names this caller in lease owners: "cli", "worker/job42"

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
        task, _ = await self.lifecycle.create(
            goal=goal,
            agent=spec.name,
            budgets=(budgets or spec.budgets).model_dump(),
            agent_spec=self_contained(spec, spec_dir),
            tenant=tenant,
            task_id=task_id,
        )
        return task

    def deps_for(
        self,
        task: TaskRow,
        listeners: tuple[Listener, ...] = (),
        *,
        toolset: Any = None,
        memory: MemoryStores | None = None,
        lease: Lease | None = None,
    ) -> AgentDeps:
        """What a run of `task` needs; `toolset` comes from `engine.toolboxes` for MCP agents,
        `memory` from `Engine.memory()` (without it the run has no long-term memory)."""
        settings = self.engine.settings
        spec = AgentSpec.model_validate(task.agent_spec)
        channel = self._channel(
            task.id,
            epoch=lease.epoch if lease else None,
            # the claim just read the row: the first node need not ask again
            stop=task.cancel_requested if lease else None,
        )
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
            toolset=toolset or toolset_for(spec, settings, continuous=task.continuous),
            channel=ListeningChannel(channel, *listeners) if listeners else channel,
            budgets=Budgets.model_validate(task.budgets),
            ledger=self.engine.ledger,
            embedder=semantic_embedder(spec, settings),
            continuous=task.continuous,
        )

    def _channel(self, task_id: str, *, epoch: int | None, stop: bool | None) -> TaskChannel:
        """With durability "sync" on a pooled saver, node events go with the checkpoints."""
        outbox = getattr(self.engine.checkpointer, "outbox", None)
        if self.engine.settings.durability != "sync":
            outbox = None
        return CheckpointedChannel(self.records, task_id, outbox, epoch=epoch, stop=stop)

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
        interrupt_id: str | None = None,
        listeners: tuple[Listener, ...] = (),
        stop_event: asyncio.Event | None = None,
        run_detail: dict[str, Any] | None = None,
    ) -> RunResult:
        """Run until the task ends or waits for a person (`run_detail`, such as the job and
        worker, goes into the run_started event).

        A `decision` answers the pending request (the one `interrupt_id` names, when given:
        an answer to a request that no longer waits is dropped). LeaseHeld when another run
        holds the task; RunStartFailed when its tools cannot start. The agent's MCP servers
        (if any) run for the duration of this call.
        """
        if decision is not None:
            await self._answer(task_id, decision)
        claim = await self.lifecycle.claim(
            task_id, run_owner(self.role), lease_seconds=self.engine.leases.lease_seconds,
            detail=run_detail,
        )
        if claim.held_by is not None:
            raise LeaseHeld(claim.task, claim.held_by, claim.task.lease_expires_at)
        if claim.lease is None:  # ended, or waiting for a person
            task = claim.task
            waiting = task.state == "input-required"
            return RunResult(task, await self.pending_interrupts(task_id) if waiting else [])
        lease, stop = claim.lease, stop_event or asyncio.Event()
        if claim.task.cancel_requested:
            stop.set()
        loop = asyncio.get_running_loop()
        try:
            with (
                self.engine.leases.keep(lease, lambda: loop.call_soon_threadsafe(stop.set)),
                task_run(claim.task, lease) as trace,
            ):
                return trace.ended(await self._run_claimed(
                    claim.task, lease, decision, interrupt_id, (*listeners, *trace.listeners),
                    stop,
                ))
        finally:
            with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
                await self.lifecycle.release(lease)

    async def _answer(self, task_id: str, decision: ApprovalDecision) -> None:
        """A person's answer given to this call (the CLI): the waiting task works again."""
        task = await self.records.get_task(task_id)
        if task.state == "input-required":
            await self.lifecycle.transition(
                task_id, "working",
                detail={"by": decision.decided_by, "decision": decision.action},
            )

    async def _run_claimed(
        self,
        task: TaskRow,
        lease: Lease,
        decision: ApprovalDecision | None,
        interrupt_id: str | None,
        listeners: tuple[Listener, ...],
        stop: asyncio.Event,
    ) -> RunResult:
        spec = AgentSpec.model_validate(task.agent_spec)
        engine = self.engine
        async with AsyncExitStack() as stack:
            try:
                tools = await stack.enter_async_context(
                    engine.toolboxes.open(task.id, spec, continuous=task.continuous)
                )
            except WakefulError as exc:  # an MCP server that will not start, say
                raise RunStartFailed(str(exc)) from exc
            memory = await engine.memory(
                episodic=spec.memory.episodic, knowledge=spec.memory.knowledge
            )
            deps = self.deps_for(
                task, listeners, toolset=tools.toolset, memory=memory, lease=lease
            )
            deps.extras["stop_event"] = stop
            result = await self._drive(task, lease, deps, decision, interrupt_id)
            if result.task.state == "input-required":
                tools.keep()  # a stateful MCP server keeps its state across the answer
            return result

    async def _drive(
        self,
        task: TaskRow,
        lease: Lease,
        deps: AgentDeps,
        decision: ApprovalDecision | None,
        interrupt_id: str | None,
    ) -> RunResult:
        graph = self.engine.graph
        config = traced(self.config(task.id, deps.budgets))
        snapshot = await graph.aget_state(config)

        run_input: Any
        if not snapshot.values:
            run_input = initial_state(task.goal, time.time())
        elif snapshot.interrupts:
            # several wait when parallel plan steps each ask: answered one at a time, by id
            pending = next(
                (i for i in snapshot.interrupts if i.id == interrupt_id), snapshot.interrupts[0]
            )
            if decision is None or interrupt_id not in (None, pending.id):
                # nobody answered this request yet (a crash came between the interrupt and
                # its bookkeeping, or the answer was for an earlier request): wait again
                return await self._wait_for_person(task, lease, deps, snapshot.values)
            await deps.channel.emit(
                APPROVAL_DECIDED,
                _decision_event(pending.value, decision),
                key=f"approval_decided:{pending.id}",
            )
            run_input = Command(resume={pending.id: decision.model_dump()})
        else:
            run_input = None  # resume from the last checkpoint

        try:
            try:
                final = await graph.ainvoke(
                    run_input,
                    config,
                    context=RunContext(deps=deps),
                    durability=self.engine.settings.durability,
                )
            except (LeaseLost, *INFRASTRUCTURE_ERRORS):
                raise  # cut short: what a node parked is dropped below, it runs again
            except Exception:
                # the run ends here: a parked node's events and usage go with its end
                if isinstance(deps.channel, CheckpointedChannel):
                    deps.channel.take_back_parked()
                raise
            finally:
                if isinstance(deps.channel, CheckpointedChannel):
                    deps.channel.discard_parked()
        except GraphRecursionError:
            return await self._end(task, lease, deps, "recursion_limit", None)
        except LeaseLost as exc:
            log.warning("%s", exc)
            return RunResult(await self.records.get_task(task.id))
        except INFRASTRUCTURE_ERRORS:
            raise  # the database went away: the run is retried once it is back
        except Exception as exc:
            if isinstance(exc, WakefulError):  # says what went wrong by itself
                log.warning("task %s failed: %s", task.id, exc)
            else:
                log.exception("task %s failed", task.id)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            await deps.channel.emit("error", {"error": error}, key=f"error:{lease.epoch}")
            return await self._end(task, lease, deps, "error", error)

        values = final if isinstance(final, dict) else {}
        if INTERRUPT in values or "stop_reason" not in values:  # else: the state at the end
            snapshot = await graph.aget_state(config)
            if snapshot.interrupts:
                return await self._wait_for_person(task, lease, deps, snapshot.values)
            values = snapshot.values
        stop_reason = values.get("stop_reason") or COMPLETED
        return await self._end(
            task, lease, deps, stop_reason, values.get("output"), values.get("usage")
        )

    async def _wait_for_person(
        self, task: TaskRow, lease: Lease, deps: AgentDeps, values: dict[str, Any]
    ) -> RunResult:
        """Tell about every pending request, then park the task for a person (a cancel
        that came meanwhile wins: the task ends canceled instead)."""
        interrupts = await self.pending_interrupts(task.id)
        for interrupt in interrupts:
            data = {k: v for k, v in interrupt.items() if k != "id"}
            await deps.channel.emit(APPROVAL_REQUESTED, data, key=f"approval:{interrupt['id']}")
        parked = await self._move(
            task, lease, deps, "input-required", usage=values.get("usage")
        )
        return RunResult(parked, interrupts if parked.state == "input-required" else [])

    async def _end(
        self,
        task: TaskRow,
        lease: Lease,
        deps: AgentDeps,
        stop_reason: str,
        output: str | None,
        usage: dict[str, Any] | None = None,
    ) -> RunResult:
        ended = await self._move(
            task, lease, deps, task_state_for(stop_reason),
            stop_reason=stop_reason, output=output, usage=usage,
        )
        return RunResult(ended)

    async def _move(
        self,
        task: TaskRow,
        lease: Lease,
        deps: AgentDeps,
        state: TaskState,
        **changes: Any,
    ) -> TaskRow:
        """Write the run's last events, then the transition (its state_change event with it).
        Refused (someone ended the task meanwhile) or fenced (the lease was lost): the task
        as it is now."""
        try:
            await deps.channel.flush()
            return await self.lifecycle.transition(task.id, state, lease=lease, **changes)
        except (TransitionRefused, LeaseLost) as exc:
            log.warning("task %s: %s", task.id, exc)
            return await self.records.get_task(task.id)


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
