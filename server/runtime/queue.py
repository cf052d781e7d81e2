"""The procrastinate job queue on wakeful's own Postgres database.

Its schema is applied at start when it is missing (under an advisory lock, so processes
starting together apply it once). Upgrading procrastinate to a version with schema changes
needs its migrations (`procrastinate schema --migrations`), which this does not run.
"""

from __future__ import annotations

from typing import Any

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager

from server.runtime import jobs
from stack.lifecycle import JobFields

_SCHEMA_LOCK = 0x77616B71  # "wakq"


async def ensure_queue_schema(url: str) -> bool:
    """Apply procrastinate's schema unless it is there; True when this call applied it."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cur.fetchone()
            if row and row[0]:
                return False
            async with conn.transaction():
                await conn.execute(SchemaManager.get_schema().encode())
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def build_queue(
    url: str, *, stalled_check_seconds: int = 10, pool_size: int = 4
) -> procrastinate.App:
    """The queue app with wakeful's jobs registered (open it with `open_async`)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=url, min_size=1, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)
    jobs.register(app, stalled_check_seconds=stalled_check_seconds)
    return app


async def defer_run(
    app: procrastinate.App,
    conn: Any,
    task_id: str,
    *,
    decision: dict[str, Any] | None = None,
    interrupt_id: str | None = None,
) -> int:
    """Queue a run of `task_id` inside the caller's transaction on `conn` (with the answer
    to the approval that interrupt `interrupt_id` waits for, when given)."""
    deferrer = app.configure_task(
        jobs.RUN_TASK, lock=task_id, queue=jobs.RUN_QUEUE, connection=conn
    )
    kwargs: dict[str, Any] = {"task_id": task_id}
    if decision is not None:
        kwargs.update(decision=decision, interrupt_id=interrupt_id)
    return await deferrer.defer_async(**kwargs)


def run_job(app: procrastinate.App, task_id: str) -> JobFields:
    """The job `defer_run` queues for a first run of `task_id`, for a caller that queues it in
    its own statement (TaskLifecycle.submit)."""
    job = app.configure_task(jobs.RUN_TASK, lock=task_id, queue=jobs.RUN_QUEUE).make_new_job(
        task_id=task_id
    )
    assert job.queueing_lock is None and job.scheduled_at is None, job
    return JobFields(job.queue, job.task_name, job.priority, job.lock, job.task_kwargs)
