"""The jobs the queue runs: task runs, and maintenance (stalled-job retry, orphan
re-dispatch, pruning, alert webhooks). Job functions are thin: they find the process's
runtime in the job context.

Two queues: `wakeful` holds task runs (one job per run, procrastinate `lock` = task id, so
two runs of one task never overlap); `wakeful-maintenance` is served by its own worker
slot, so maintenance never waits behind long task runs.

Retries are counted apart by cause. A run cut short by a shutdown, a crash (re-dispatched by
the stalled-job check) or a database outage costs the task nothing: it resumes from its last
checkpoint (the lifecycle counts crashes on the task row and ends a crash loop). A task held
by another live run is tried again when that lease would expire. Only a run job that raises
counts against RUN_ERROR_ATTEMPTS, with backoff; then the task fails with a named reason
(`start_failed` when its tools never started, `run_failed` otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate import JobContext, RetryDecision
from procrastinate.exceptions import JobAborted
from procrastinate.retry import BaseRetryStrategy

from graphs.runner import INFRASTRUCTURE_ERRORS, RunStartFailed
from server.runtime import retention
from server.runtime.execution import JobInfo
from stack.lifecycle import LeaseHeld

if TYPE_CHECKING:
    from server.runtime.alerts import AlertEvaluator
    from server.runtime.execution import TaskExecution
    from server.runtime.killswitch import KillSwitch

log = logging.getLogger(__name__)

RUN_QUEUE = "wakeful"
MAINTENANCE_QUEUE = "wakeful-maintenance"
RUN_TASK = "wakeful.run_task"
RETRY_STALLED = "wakeful.retry_stalled_jobs"
PRUNE = "wakeful.prune_jobs"
SWEEP_KILLSWITCHES = "wakeful.sweep_killswitches"
DELIVER_ALERT = "wakeful.deliver_alert"
CONTEXT_KEY = "wakeful"

RUN_ERROR_ATTEMPTS = 5  # run jobs that raised (not the graph's own failures)
RETRY_BASE_SECONDS = 2.0  # backoff after the n-th error: base * 2**(n-1), at most a minute
REDISPATCH = "wakeful.redispatch_orphans"
ORPHANED_AFTER_SECONDS = 60
KEEP_FINISHED_RUN_JOBS_HOURS = 24 * 7


@dataclass
class JobRuntime:
    """What jobs need from their process (passed as the worker's additional context)."""

    execution: TaskExecution
    alerts: AlertEvaluator
    stalled_after_seconds: float
    killswitch: KillSwitch | None = None


def runtime_of(context: JobContext) -> JobRuntime:
    return context.additional_context[CONTEXT_KEY]


class RetryLater(Exception):
    """Run this job again in `seconds`; it counts against nothing."""

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(why)
        self.seconds = seconds


class RunRetry(BaseRetryStrategy):
    """A run cut short by a worker shutdown is queued again at once (it resumes from its last
    checkpoint); RetryLater says when; any other exception is final (run_task has counted
    it and raised RetryLater while attempts remain)."""

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError | JobAborted):
            return RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, RetryLater):
            return RetryDecision(retry_in={"seconds": exception.seconds})
        return None


class WebhookRetry(BaseRetryStrategy):
    """Exponential backoff from the job's own `backoff_seconds`, up to `max_attempts`."""

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        kwargs = job.task_kwargs
        if job.attempts + 1 >= int(kwargs.get("max_attempts", 5)):
            return None
        delay = float(kwargs.get("backoff_seconds", 2.0)) * 2**job.attempts
        return RetryDecision(retry_in={"seconds": delay})


async def run_task(
    context: JobContext,
    task_id: str,
    decision: dict[str, Any] | None = None,
    interrupt_id: str | None = None,
) -> str:
    job = context.job
    info = JobInfo(id=job.id or 0, attempt=job.attempts, worker=context.worker_name or "")
    execution = runtime_of(context).execution
    try:
        return await execution.run(task_id, info, decision=decision, interrupt_id=interrupt_id)
    except LeaseHeld as exc:
        raise RetryLater(max(1.0, exc.seconds_left + 1.0), str(exc)) from exc
    except INFRASTRUCTURE_ERRORS as exc:  # the database went away: try again, uncounted
        delay = min(30.0, 2.0 ** min(job.attempts, 5))
        raise RetryLater(delay, f"database unavailable: {exc}") from exc
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        attempts = await execution.lifecycle.count_run_error(task_id, error)
        if attempts < RUN_ERROR_ATTEMPTS:
            delay = min(60.0, RETRY_BASE_SECONDS * 2 ** (attempts - 1))
            raise RetryLater(delay, error) from exc
        reason = "start_failed" if isinstance(exc, RunStartFailed) else "run_failed"
        await execution.give_up(task_id, reason, error)
        return "failed"


async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Put back in the queue the jobs of workers whose heartbeat stopped."""
    manager = context.app.job_manager
    stalled = list(
        await manager.get_stalled_jobs(
            seconds_since_heartbeat=runtime_of(context).stalled_after_seconds
        )
    )
    for job in stalled:
        log.warning("retrying job %s (task %s): its worker stopped", job.id,
                    job.task_kwargs.get("task_id"))
        await manager.retry_job(job)
    return len(stalled)


async def redispatch_orphans(context: JobContext, timestamp: int) -> int:
    """Queue a run for every unfinished task that no run holds and no job will run (its job
    was lost, or the CLI that ran it died): no task is ever left behind."""
    app = context.app
    orphans = await runtime_of(context).execution.lifecycle.orphans(
        older_than_seconds=ORPHANED_AFTER_SECONDS
    )
    for task_id in orphans:
        log.warning("task %s has no run and no job; queuing one", task_id)
        await app.configure_task(RUN_TASK, lock=task_id, queue=RUN_QUEUE).defer_async(
            task_id=task_id
        )
    return len(orphans)


async def sweep_killswitches(context: JobContext, timestamp: int) -> int:
    """Stop the open tasks a kill switch that is on still left (its own sweep ran in the
    process that flipped it, which may be gone)."""
    killswitch = runtime_of(context).killswitch
    return await killswitch.sweep_all() if killswitch is not None else 0


async def prune_jobs(context: JobContext, timestamp: int) -> None:
    """Forget finished run jobs after a week (the task rows and events stay)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=KEEP_FINISHED_RUN_JOBS_HOURS, queue=RUN_QUEUE,
        include_failed=True, include_cancelled=True, include_aborted=True,
    )


async def deliver_alert(
    context: JobContext, delivery_id: int, backoff_seconds: float = 2.0, max_attempts: int = 5
) -> str:
    final = context.job.attempts + 1 >= max_attempts
    return await runtime_of(context).alerts.deliver(delivery_id, final=final)


def every_seconds(seconds: int) -> str:
    """A procrastinate cron (6th column: seconds) firing every `seconds` (1..59)."""
    seconds = max(1, min(59, int(seconds)))
    return f"* * * * * */{seconds}"


def register(app: procrastinate.App, *, stalled_check_seconds: int) -> None:
    app.task(name=RUN_TASK, queue=RUN_QUEUE, pass_context=True, retry=RunRetry())(run_task)
    reaper = app.task(name=RETRY_STALLED, queue=MAINTENANCE_QUEUE, pass_context=True)(
        retry_stalled_jobs
    )
    app.periodic(cron=every_seconds(stalled_check_seconds), periodic_id="stalled")(reaper)
    redispatch = app.task(name=REDISPATCH, queue=MAINTENANCE_QUEUE, pass_context=True)(
        redispatch_orphans
    )
    app.periodic(cron="* * * * *", periodic_id="orphans")(redispatch)
    sweep = app.task(name=SWEEP_KILLSWITCHES, queue=MAINTENANCE_QUEUE, pass_context=True)(
        sweep_killswitches
    )
    app.periodic(cron="* * * * *", periodic_id="killswitch_sweep")(sweep)
    prune = app.task(name=PRUNE, queue=MAINTENANCE_QUEUE, pass_context=True)(prune_jobs)
    app.periodic(cron="17 * * * *", periodic_id="prune")(prune)
    app.task(
        name=DELIVER_ALERT, queue=MAINTENANCE_QUEUE, pass_context=True, retry=WebhookRetry()
    )(deliver_alert)
    retention.register(app, queue=MAINTENANCE_QUEUE,
                       engine_of=lambda context: runtime_of(context).execution.engine)
