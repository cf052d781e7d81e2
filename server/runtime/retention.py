"""Retention and the metric rollup as periodic maintenance jobs (stack/retention.py does the
work): the rollup every minute keeps /metrics reading a handful of rows; retention every
hour keeps storage bounded (`wakeful db prune` runs the same pass by hand)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import procrastinate
from procrastinate import JobContext

from graphs.engine import Engine
from stack import retention

log = logging.getLogger(__name__)

RETENTION = "wakeful.retention"
ROLLUP = "wakeful.rollup_metrics"

EngineOf = Callable[[JobContext], Engine]


def register(app: procrastinate.App, *, queue: str, engine_of: EngineOf) -> None:
    """Add both jobs to `app`; `engine_of` finds the process's engine in a job's context."""

    async def retention_pass(context: JobContext, timestamp: int) -> dict[str, dict[str, int]]:
        engine = engine_of(context)
        report = await retention.prune(
            engine.pool, retention.RetentionPolicy.from_settings(engine.settings)
        )
        if any(n for counts in report.removed.values() for n in counts.values()):
            log.info("retention removed %s", report.removed)
        return report.removed

    async def rollup(context: JobContext, timestamp: int) -> int:
        return await retention.rollup_metrics(engine_of(context).pool)

    task = app.task(name=RETENTION, queue=queue, pass_context=True)(retention_pass)
    app.periodic(cron="41 * * * *", periodic_id="retention")(task)
    task = app.task(name=ROLLUP, queue=queue, pass_context=True)(rollup)
    app.periodic(cron="* * * * *", periodic_id="rollup_metrics")(task)
