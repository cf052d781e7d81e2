"""The scheduler of continuous agents.

An agent's row holds its schedule: `next_run_at` and the iteration still running
(`current_task_id`). Each iteration is a task linked to its agent, with the standing goal
re-injected, run with the stricter continuous tool policy. When it ends — however it ends —
a trigger frees the agent and sets `next_run_at` one interval later (so an iteration that
outlasts the interval never overlaps the next one). Ticks missed while nothing ran coalesce:
there is one `next_run_at`, so after downtime one catch-up iteration runs, then the normal
rhythm resumes. An iteration waiting for an approval (input-required) has not ended, so it
holds back the next tick until someone answers it or cancels it.

Any number of schedulers may run (one per worker process): starting an iteration is one
conditional update of the agent row. They wake on notifications (an iteration ended, an
agent was applied, paused or resumed, the kill switch flipped) and when the next agent is
due, and at least every `max_wait_seconds`.

An agent whose stored spec no longer parses is paused, with a `spec_invalid` alert naming
the field; the others keep their rhythm. A lost database pauses nothing: the loop logs it
once and carries on when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import procrastinate
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from graphs.spec import AgentSpec
from server.runtime.alerts import AlertEvaluator
from server.runtime.database_health import is_outage, outage_reason
from server.runtime.listener import AGENTS, KILLSWITCH, PgListener
from server.runtime.queue import defer_run
from stack.sql import load_queries
from stack.task_records import TaskRow, new_task_id

log = logging.getLogger(__name__)

_QUERIES = Path(__file__).with_suffix(".sql")


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class Scheduler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        queue: procrastinate.App,
        listener: PgListener,
        alerts: AlertEvaluator,
        *,
        max_wait_seconds: float = 15.0,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.alerts = alerts
        self.max_wait_seconds = max_wait_seconds
        self._wake = asyncio.Event()
        listener.subscribe(AGENTS, self._poke)
        listener.subscribe(KILLSWITCH, self._poke)

    def _poke(self, _payload: str | None) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start due iterations until `stop` is set."""
        last_sweep, outage = 0.0, False
        while not stop.is_set():
            self._wake.clear()
            try:
                started = await self.tick()
                if time.monotonic() - last_sweep >= self.max_wait_seconds:
                    await self.alerts.sweep()
                    last_sweep = time.monotonic()
                delay = await self.seconds_until_due()
                if delay == 0 and not started:
                    delay = 1.0  # due but not startable now (say, it failed just now)
                outage = False
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("scheduler tick failed")
                elif not outage:  # once per outage, not every second of it
                    log.warning("scheduler: the database does not answer (%s); retrying",
                                outage_reason(exc))
                outage = outage or is_outage(exc)
                delay = 1.0
            await _wait_any(self._wake, stop, timeout=min(delay, self.max_wait_seconds))

    async def tick(self) -> list[TaskRow]:
        """Start an iteration of every due agent; returns the iterations started. Each agent
        on its own: one that cannot start (its spec no longer parses, say) holds back no
        other."""
        async with self.pool.connection() as conn:
            due = await (await conn.execute(_q("due_agents"))).fetchall()
        started = []
        for agent in due:
            try:
                task = await self._start_parsed(agent)
            except Exception as exc:
                if is_outage(exc):
                    raise
                log.exception("agent %s: could not start an iteration", agent["name"])
                continue
            if task is not None:
                started.append(task)
        return started

    async def _start_parsed(self, agent: dict[str, Any]) -> TaskRow | None:
        try:
            AgentSpec.model_validate(agent["spec"])
        except ValidationError as exc:
            await self._pause_broken(agent, exc)
            return None
        return await self.start_iteration(agent)

    async def _pause_broken(self, agent: dict[str, Any], exc: ValidationError) -> None:
        """Pause an agent whose stored spec does not parse, with an alert naming the field."""
        problem = spec_problem(exc)
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("pause_broken_agent"), {"agent_id": agent["id"]})
            row = await cur.fetchone()
        if row is None:
            return  # paused, changed or started meanwhile
        log.warning("agent %s: paused, its spec does not parse (%s)", agent["name"], problem)
        await self.alerts.spec_invalid(row, problem)

    async def seconds_until_due(self) -> float:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("seconds_until_due"))).fetchone()
        seconds = row["seconds"] if row else None
        return self.max_wait_seconds if seconds is None else max(0.0, seconds)

    async def start_iteration(self, agent: dict[str, Any]) -> TaskRow | None:
        spec = AgentSpec.model_validate(agent["spec"])
        autonomous = spec.autonomous
        if autonomous is None:
            return None
        budgets = spec.budgets
        if autonomous.max_iter_runtime_seconds is not None:
            budgets = budgets.merged(max_runtime_seconds=min(
                budgets.max_runtime_seconds, autonomous.max_iter_runtime_seconds))
        if autonomous.daily_token_budget is not None:
            spent, day = await self._tokens_today(agent["id"])
            left = autonomous.daily_token_budget - spent
            if left <= 0:
                await self._defer_to_tomorrow(agent, day, spent)
                return None
            budgets = budgets.merged(max_tokens=min(budgets.max_tokens, left))
        params = {
            "task_id": new_task_id(), "agent_id": agent["id"], "goal": autonomous.goal,
            "budgets": Jsonb(budgets.model_dump()), "agent_spec": Jsonb(agent["spec"]),
        }
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(_q("start_iteration"), params)).fetchone()
            if row is None:
                return None  # another scheduler was first, or the agent changed meanwhile
            await defer_run(self.queue, conn, row["id"])
        log.info("agent %s: iteration %s started", agent["name"], row["id"])
        return TaskRow.from_row(row)

    async def _tokens_today(self, agent_id: str) -> tuple[int, str]:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("tokens_today"), {"agent_id": agent_id})).fetchone()
        assert row is not None
        return int(row["tokens"]), row["day"]

    async def _defer_to_tomorrow(self, agent: dict[str, Any], day: str, spent: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_q("defer_to_tomorrow"), {"agent_id": agent["id"]})
        await self.alerts.daily_budget_spent(agent, day, spent)


def spec_problem(exc: ValidationError) -> str:
    """The first error of a spec that does not parse, as `field.path: message`."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(the spec)"
    return f"{where}: {first['msg']}"


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
