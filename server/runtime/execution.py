"""Running one task job: watch for a stop, run the task through the one run entry point
(graphs/runner.py: claim, lease, graph, end), and tell whoever cares that it ended.

A run job may be the first run, a resume after a crash (the graph continues from its last
checkpoint) or a resume with a person's answer. An answer names the request it answers; one
that no longer matches what the graph waits for is dropped, so a retried job can never
answer a later request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphs.approval import ApprovalDecision
from graphs.engine import Engine
from graphs.runner import TaskRunner
from server.runtime.cancellation import RunStops
from stack.errors import TransitionRefused
from stack.task_records import TaskRow

log = logging.getLogger(__name__)

TaskEnded = Callable[[TaskRow], Awaitable[None]]


@dataclass(frozen=True)
class JobInfo:
    id: int
    attempt: int
    worker: str


class TaskExecution:
    def __init__(
        self, engine: Engine, stops: RunStops, *, on_end: Sequence[TaskEnded] = ()
    ) -> None:
        self.engine = engine
        self.lifecycle = engine.lifecycle
        self.stops = stops
        self.on_end = list(on_end)

    async def run(
        self,
        task_id: str,
        job: JobInfo,
        *,
        decision: dict[str, Any] | None = None,
        interrupt_id: str | None = None,
    ) -> str:
        """Run the task until it ends or waits; returns its state."""
        runner = TaskRunner(self.engine, role=f"worker/job{job.id}")
        answer = ApprovalDecision.model_validate(decision) if decision is not None else None
        # Watch before claiming: a cancel announced from here on reaches the run.
        with self.stops.watch(task_id) as stop:
            result = await runner.run(
                task_id, decision=answer, interrupt_id=interrupt_id, stop_event=stop,
                run_detail={"job": job.id, "attempt": job.attempt, "worker": job.worker},
            )
        if result.task.terminal:
            await self._ended(result.task)
        return result.task.state

    async def give_up(self, task_id: str, reason: str, error: str) -> None:
        """The run job failed for the last time (not the graph: the runtime around it, or an
        agent whose tools never started): the task fails with a named reason."""
        try:
            task = await self.lifecycle.transition(
                task_id, "failed", stop_reason=reason,
                output=f"The run could not be completed: {error}", detail={"error": error},
            )
        except TransitionRefused as exc:  # it ended, or waits for a person, meanwhile
            log.info("not failing task %s: %s", task_id, exc)
            return
        await self._ended(task)

    async def _ended(self, task: TaskRow) -> None:
        for hook in self.on_end:
            try:
                await hook(task)
            except Exception:
                log.exception("after-run hook failed for task %s", task.id)
