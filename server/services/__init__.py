"""The domain API of the server, shared by the HTTP API, A2A and the CLI.

`open_services(settings)` opens everything a process needs to talk to wakeful's database:
the engine (migrations, checkpointer, records), the job queue (its schema applied when
missing), one LISTEN connection, and the services on top. Workers (server/runtime/worker.py)
run on the same object.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import procrastinate

from graphs.engine import Engine
from server.runtime.alerts import AlertEvaluator
from server.runtime.cancellation import RunStops
from server.runtime.database_health import DatabaseWatch
from server.runtime.event_feed import EventFeed
from server.runtime.killswitch import KillSwitch
from server.runtime.listener import PgListener
from server.runtime.queue import build_queue, ensure_queue_schema
from server.services.agents import AgentRow, AgentService
from server.services.alerts import AlertRow, AlertService
from server.services.auth import AuthService, Principal
from server.services.tasks import BudgetUse, TaskService, TaskView
from stack.lifecycle import TaskLifecycle
from stack.postgres import revive_embedded
from stack.settings import Settings

__all__ = [
    "AgentRow",
    "AgentService",
    "AlertRow",
    "AlertService",
    "AuthService",
    "BudgetUse",
    "Principal",
    "Services",
    "TaskService",
    "TaskView",
    "open_services",
]


@dataclass
class Services:
    engine: Engine
    tasks: TaskService
    agents: AgentService
    auth: AuthService
    alerts: AlertService
    killswitch: KillSwitch
    queue: procrastinate.App
    # runtime pieces the worker and the server share
    listener: PgListener
    stops: RunStops
    control: TaskLifecycle  # the one owner of task state changes (engine.lifecycle)
    evaluator: AlertEvaluator
    database: DatabaseWatch  # is the database there (run by the worker)

    async def close(self) -> None:
        await self.listener.close()
        with contextlib.suppress(Exception):
            await self.queue.close_async()
        await self.engine.close()

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_services(
    settings: Settings,
    *,
    url: str | None = None,
    stalled_check_seconds: int = 10,
    webhook_backoff_seconds: float = 2.0,
) -> Services:
    engine = await Engine.open(settings, url=url)
    queue = build_queue(engine.url, stalled_check_seconds=stalled_check_seconds)
    listener = PgListener(engine.url)
    try:
        await ensure_queue_schema(engine.url)
        await queue.open_async()
        await listener.start()
    except BaseException:
        await listener.close()
        with contextlib.suppress(Exception):
            await queue.close_async()
        await engine.close()
        raise
    control = engine.lifecycle
    killswitch = KillSwitch(engine.pool, control)
    evaluator = AlertEvaluator(engine.pool, queue, backoff_seconds=webhook_backoff_seconds)
    agents = AgentService(engine.pool, evaluator, control)
    feed = EventFeed(engine.pool, listener)
    return Services(
        engine=engine,
        tasks=TaskService(engine, queue, control, agents, killswitch, feed),
        agents=agents,
        auth=AuthService(engine.pool),
        alerts=AlertService(engine.pool),
        killswitch=killswitch,
        queue=queue,
        listener=listener,
        stops=RunStops(listener),
        control=control,
        evaluator=evaluator,
        database=DatabaseWatch(engine.url, revive=functools.partial(revive_embedded, settings)),
    )
