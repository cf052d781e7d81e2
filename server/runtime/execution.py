"""Running one task job: take the run lease, claim the task, watch for a stop, run (or
resume) the graph, and tell whoever cares that the task ended.

A run job may be the first run, a resume after a crash (the graph continues from its last
checkpoint) or a resume with an approval decision. A decision names the interrupt it
answers; one that no longer matches what the graph waits for is dropped, so a retried job
can never answer a later approval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from graphs.approval import ApprovalDecision
from graphs.context import AgentDeps, open_toolset
from graphs.engine import Engine
from graphs.events import APPROVAL_REQUESTED, STATE_CHANGE
from graphs.runner import RunResult, TaskRunner
from graphs.spec import AgentSpec
from server.runtime.cancellation import RunStops
from server.runtime.lease import TaskLeases
from server.runtime.task_control import TaskControl
from stack.task_records import TaskRow

log = logging.getLogger(__name__)

RUN_STARTED = "run_started"  # event: a worker picked the task up (job id, attempt, worker)

TaskEnded = Callable[[TaskRow], Awaitable[None]]


@dataclass(frozen=True)
class JobInfo:
    id: int
    attempt: int
    worker: str


class TaskExecution:
    def __init__(
        self,
        engine: Engine,
        control: TaskControl,
        stops: RunStops,
        leases: TaskLeases,
        *,
        on_end: Sequence[TaskEnded] = (),
    ) -> None:
        self.engine = engine
        self.runner = TaskRunner(engine)
        self.control = control
        self.stops = stops
        self.leases = leases
        self.on_end = list(on_end)

    async def run(
        self,
        task_id: str,
        job: JobInfo,
        *,
        decision: dict[str, Any] | None = None,
        interrupt_id: str | None = None,
    ) -> str:
        """Run the task until it ends or waits; returns its state ("skipped": nothing to do)."""
        async with self.leases.hold(task_id):
            # A stale answer is dropped; the job then resumes a working task (its earlier run
            # crashed after applying the answer) and leaves a waiting one to a person.
            approval = await self._decision(task_id, decision, interrupt_id)
            # Watch before claiming: a cancel announced from here on reaches the run.
            with self.stops.watch(task_id) as stop:
                claimed = await self.control.claim(task_id)
                if claimed is None:
                    return "skipped"
                task, previous = claimed
                if task.cancel_requested:
                    stop.set()
                result = await self._run(task, previous, job, approval, stop)
        if result.task.terminal:
            await self._ended(result.task)
        return result.task.state

    async def _run(
        self,
        task: TaskRow,
        previous: str,
        job: JobInfo,
        approval: ApprovalDecision | None,
        stop: asyncio.Event,
    ) -> RunResult:
        async with self._deps(task) as deps:
            deps.extras["stop_event"] = stop
            channel = deps.channel
            await channel.emit(
                RUN_STARTED,
                {"job": job.id, "attempt": job.attempt, "worker": job.worker},
                key=f"run:{job.id}:{job.attempt}",
            )
            if approval is not None:  # the answer moved it to working, in TaskService.decide
                previous = "input-required"
            if previous != "working":
                await channel.emit(
                    STATE_CHANGE, {"from": previous, "to": "working", "stop_reason": None}
                )
            result = await self.runner.run(task.id, decision=approval, deps=deps)
            if result.task.state == "working" and result.interrupts:
                result = await self._park(deps, result)
            await channel.flush()
        return result

    async def _decision(
        self, task_id: str, decision: dict[str, Any] | None, interrupt_id: str | None
    ) -> ApprovalDecision | None:
        if decision is None:
            return None
        pending = await self.runner.pending_interrupts(task_id)
        if pending and pending[0]["id"] == interrupt_id:
            return ApprovalDecision.model_validate(decision)
        log.warning("task %s: dropping an answer to interrupt %s, which no longer waits",
                    task_id, interrupt_id)
        return None

    async def _park(self, deps: AgentDeps, result: RunResult) -> RunResult:
        """The graph waits for an approval nobody was told about (a crash in between)."""
        for interrupt in result.interrupts:
            data = {k: v for k, v in interrupt.items() if k != "id"}
            await deps.channel.emit(APPROVAL_REQUESTED, data, key=f"approval:{interrupt['id']}")
        task = await self.control.park(result.task.id)
        await deps.channel.emit(
            STATE_CHANGE, {"from": "working", "to": task.state, "stop_reason": None}
        )
        return RunResult(task, result.interrupts)

    @asynccontextmanager
    async def _deps(self, task: TaskRow) -> AsyncIterator[AgentDeps]:
        """What the run needs, as TaskRunner.run builds it: the agent's tools (its MCP
        servers up meanwhile) and its long-term memory."""
        spec = AgentSpec.model_validate(task.agent_spec)
        engine = self.engine
        async with open_toolset(
            spec, engine.settings, pool=engine.pool, continuous=task.continuous
        ) as toolset:
            memory = await engine.memory(
                episodic=spec.memory.episodic, knowledge=spec.memory.knowledge
            )
            yield self.runner.deps_for(
                task, continuous=task.continuous, toolset=toolset, memory=memory
            )

    async def give_up(self, task_id: str, exc: BaseException) -> None:
        """The run job failed for the last time (not the graph: the runtime around it)."""
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        task = await self.engine.records.get_task(task_id)
        if task.terminal:
            return
        task = await self.engine.records.set_state(
            task_id, "failed", stop_reason="error",
            output=f"The run could not be completed: {reason}",
        )
        await self.control.record_state_change(task, "working", error=reason)
        await self._ended(task)

    async def _ended(self, task: TaskRow) -> None:
        for hook in self.on_end:
            try:
                await hook(task)
            except Exception:
                log.exception("after-run hook failed for task %s", task.id)
