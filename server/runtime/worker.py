"""A worker process's runtime: procrastinate workers for task runs and for maintenance,
and the scheduler of continuous agents, until told to stop.

Task runs: `concurrency` at a time. Every worker sends a heartbeat every
`heartbeat_seconds`; runs of a worker silent for `stalled_after_seconds` are put back in the
queue by the periodic stalled-job check (on the maintenance queue, which has its own slots,
so it is never stuck behind long runs), and resume from their last checkpoint. A stop lets
running tasks finish for `shutdown_grace_seconds`, then interrupts them: they are queued
again at once and resume from their last checkpoint on the next worker.

A database outage stops nothing for good: a procrastinate worker that lost its connection
is started again once the database answers (server/runtime/database_health.py); the runs
it had are re-dispatched by the stalled-job check and resume from their checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.runtime.database_health import is_outage, outage_reason, probe
from server.runtime.execution import TaskExecution
from server.runtime.jobs import CONTEXT_KEY, MAINTENANCE_QUEUE, RUN_QUEUE, JobRuntime
from server.runtime.scheduler import Scheduler
from stack.errors import ConfigError, WakefulError

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

MAINTENANCE_CONCURRENCY = 2
RESTART_WINDOW_S = 60.0
MAX_RESTARTS = 5  # a part stopping more often than this while the database answers is broken


class RuntimeFailed(WakefulError):
    """A part of the worker runtime keeps failing although the database answers."""


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 4
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 30.0
    shutdown_grace_seconds: float = 5.0
    poll_seconds: float = 1.0  # new jobs come by notification; retries and delays by polling
    scheduler: bool = True
    tasks: bool = True  # False: maintenance (and scheduler) only
    name: str = field(default_factory=default_name)

    def __post_init__(self) -> None:
        # A worker is declared dead after stalled_after_seconds without a heartbeat: with
        # less than two heartbeats in that window, a busy but live worker looks dead.
        if self.stalled_after_seconds < 2 * self.heartbeat_seconds:
            raise ConfigError(
                f"--stalled-after-seconds ({self.stalled_after_seconds:g}) must be at least "
                f"twice --heartbeat-seconds ({self.heartbeat_seconds:g}); every process on "
                "the database should use the same pair"
            )


class Worker:
    def __init__(self, services: Services, options: WorkerOptions | None = None) -> None:
        self.services = services
        self.options = options or WorkerOptions()
        engine = services.engine
        self.execution = TaskExecution(
            engine, services.stops, on_end=[services.evaluator.task_ended]
        )
        self.scheduler = (
            Scheduler(engine.pool, services.queue, services.listener, services.evaluator)
            if self.options.scheduler else None
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set. A part that loses the database is started again once it
        answers; one that keeps failing while it answers is raised (RuntimeFailed)."""
        watch = self.services.database
        parts = [
            asyncio.create_task(self._keep("maintenance worker", stop, lambda: self._queue_worker(
                MAINTENANCE_QUEUE, MAINTENANCE_CONCURRENCY, "successful"))),
            asyncio.create_task(watch.run(stop)),
        ]
        if self.options.tasks:
            parts.append(asyncio.create_task(self._keep("task worker", stop, lambda: (
                self._queue_worker(RUN_QUEUE, self.options.concurrency, "never")))))
        if self.scheduler is not None:
            scheduler = self.scheduler
            parts.append(asyncio.create_task(
                self._keep("scheduler", stop, lambda: scheduler.run(stop))))
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *parts], return_when=asyncio.FIRST_COMPLETED)
            for part in done:
                if part is not stopping and part.exception() is not None:
                    raise part.exception()  # type: ignore[misc]
        finally:
            stop.set()
            for part in [stopping, *parts]:
                part.cancel()
            for part in parts:
                with contextlib.suppress(asyncio.CancelledError):
                    await part

    async def _keep(
        self, name: str, stop: asyncio.Event, start: Callable[[], Awaitable[None]]
    ) -> None:
        """Run `start()` until `stop`; start it again when it ends on its own."""
        restarts: list[float] = []
        watch = self.services.database
        while not stop.is_set():
            problem: Exception | None = None
            try:
                await start()
            except Exception as exc:
                problem = exc
            if stop.is_set():
                return
            watch.suspect()
            if is_outage(problem) or await probe(watch.url) is not None:
                log.warning("%s: lost the database (%s); starting it again once it answers",
                            name, outage_reason(problem) if problem else "it stopped")
                await watch.wait_until_up(stop)
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(restarts) > MAX_RESTARTS:
                raise RuntimeFailed(
                    f"{name} stopped {len(restarts)} times in {RESTART_WINDOW_S:g}s while the "
                    f"database answered; last: {problem or 'stopped by itself'}"
                ) from problem
            log.warning("%s stopped (%s); starting it again", name, problem or "by itself",
                        exc_info=problem)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _queue_worker(self, queue: str, concurrency: int, delete_jobs: str) -> None:
        options = self.options
        context: dict[str, Any] = {
            CONTEXT_KEY: JobRuntime(
                execution=self.execution,
                alerts=self.services.evaluator,
                stalled_after_seconds=options.stalled_after_seconds,
                killswitch=self.services.killswitch,
            )
        }
        await self.services.queue.run_worker_async(
            queues=[queue],
            concurrency=concurrency,
            name=options.name if queue == RUN_QUEUE else f"{options.name}/maintenance",
            install_signal_handlers=False,
            update_heartbeat_interval=options.heartbeat_seconds,
            stalled_worker_timeout=options.stalled_after_seconds,
            shutdown_graceful_timeout=options.shutdown_grace_seconds,
            fetch_job_polling_interval=options.poll_seconds,
            delete_jobs=delete_jobs,
            additional_context=context,
        )
