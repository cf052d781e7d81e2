"""The jobs the queue runs: task runs, and maintenance (stalled-job retry, pruning, alert
webhooks). Job functions are thin: they find the process's runtime in the job context.

Two queues: `wakeful` holds task runs (one job per run, procrastinate `lock` = task id, so
two runs of one task never overlap); `wakeful-maintenance` is served by its own worker
slot, so maintenance never waits behind long task runs.
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

from server.runtime.execution import JobInfo

if TYPE_CHECKING:
    from server.runtime.alerts import AlertEvaluator
    from server.runtime.execution import TaskExecution

log = logging.getLogger(__name__)

RUN_QUEUE = "wakeful"
MAINTENANCE_QUEUE = "wakeful-maintenance"
RUN_TASK = "wakeful.run_task"
RETRY_STALLED = "wakeful.retry_stalled_jobs"
PRUNE = "wakeful.prune_jobs"
DELIVER_ALERT = "wakeful.deliver_alert"
CONTEXT_KEY = "wakeful"

RUN_ATTEMPTS = 5  # a run job that keeps failing (not the graph: the database, say)
KEEP_FINISHED_RUN_JOBS_HOURS = 24 * 7


@dataclass
class JobRuntime:
    """What jobs need from their process (passed as the worker's additional context)."""

    execution: TaskExecution
    alerts: AlertEvaluator
    stalled_after_seconds: float


def runtime_of(context: JobContext) -> JobRuntime:
    return context.additional_context[CONTEXT_KEY]


class RunRetry(BaseRetryStrategy):
    """A run cut short by a worker shutdown is queued again at once (it resumes from its last
    checkpoint); a run job that raised is retried with backoff, a few times."""

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError | JobAborted):
            return RetryDecision(retry_in={"seconds": 0})
        if job.attempts + 1 >= RUN_ATTEMPTS:
            return None
        return RetryDecision(retry_in={"seconds": 2 ** (job.attempts + 1)})


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
    except Exception as exc:
        if job.attempts + 1 >= RUN_ATTEMPTS:
            await execution.give_up(task_id, exc)
        raise


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
    prune = app.task(name=PRUNE, queue=MAINTENANCE_QUEUE, pass_context=True)(prune_jobs)
    app.periodic(cron="17 * * * *", periodic_id="prune")(prune)
    app.task(
        name=DELIVER_ALERT, queue=MAINTENANCE_QUEUE, pass_context=True, retry=WebhookRetry()
    )(deliver_alert)
