"""Delivering A2A push notifications from the durable outbox (stack/migrations/0006).

A trigger writes one outbox row per push config each time a task's state changes, in the
transaction that changes it; nothing is lost if no server runs then. Every `wakeful serve`
runs a `PushDelivery` loop: it takes due rows (SKIP LOCKED, with a lease, so several
servers share the work and a crashed one's rows are taken again), POSTs each as a
StreamResponse (a statusUpdate; the whole task once it has ended), and marks it delivered
on a 2xx. Otherwise it retries with exponential backoff, the next notification of that
config waiting behind it (in order), until `max_attempts`; a 4xx other than 408/429 is final
(the receiver refuses it). New events wake the loop; it also wakes when a retry is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.json_format import MessageToDict
from psycopg_pool import AsyncConnectionPool

from server.a2a.history import goal_message_ids
from server.a2a.mapping import a2a_task, status_update
from server.runtime.listener import EVENTS, PgListener
from stack.sql import load_queries
from stack.task_records import TaskRow

log = logging.getLogger(__name__)
_QUERIES = Path(__file__).with_suffix(".sql")
TOKEN_HEADER = "X-A2A-Notification-Token"
IDLE_WAKE_S = 30.0  # re-check at least this often, whatever the notifications say
# Every task event notifies; a burst of them is one scan (a scan per event took as much of
# the API's loop and pool as POST /tasks did: benchmarks/server.py, issue 12).
COALESCE_S = 0.05


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


@dataclasses.dataclass(frozen=True)
class PushPolicy:
    backoff_seconds: float = 2.0  # first retry after this; doubles each time
    max_backoff_seconds: float = 300.0
    max_attempts: int = 10
    timeout_seconds: float = 10.0  # per request (A2A recommends 10-30 s)
    lease_seconds: float = 60.0
    batch: int = 20

    @classmethod
    def from_env(cls) -> PushPolicy:
        """WAKEFUL_PUSH_BACKOFF_SECONDS / _MAX_ATTEMPTS / _TIMEOUT_SECONDS override these."""
        def number(name: str, default: float) -> float:
            raw = os.environ.get(f"WAKEFUL_PUSH_{name}")
            return float(raw) if raw else default

        return cls(
            backoff_seconds=number("BACKOFF_SECONDS", cls.backoff_seconds),
            max_attempts=int(number("MAX_ATTEMPTS", cls.max_attempts)),
            timeout_seconds=number("TIMEOUT_SECONDS", cls.timeout_seconds),
        )

    def delay(self, attempts: int) -> float:
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(attempts - 1, 0))


class PushDelivery:
    def __init__(
        self, pool: AsyncConnectionPool, listener: PgListener, policy: PushPolicy | None = None
    ) -> None:
        self.pool = pool
        self.listener = listener
        self.policy = policy or PushPolicy.from_env()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    def start(self) -> None:
        self._unsubscribe = self.listener.subscribe(EVENTS, lambda _: self._wake.set())
        self._task = asyncio.create_task(self._run(), name="wakeful-a2a-push")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.policy.timeout_seconds) as client:
            while True:
                try:
                    while await self.deliver_due(client):
                        pass
                    wait = await self._next_due()
                except Exception:  # the database is away: try again later, never die
                    log.warning("push delivery: database unavailable", exc_info=True)
                    wait = IDLE_WAKE_S
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                await asyncio.sleep(COALESCE_S)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Deliver one batch of due notifications; returns how many were taken."""
        params = {"limit": self.policy.batch, "lease": self.policy.lease_seconds}
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("claim_due"), params)).fetchall()
        await asyncio.gather(*(self._deliver(client, row) for row in rows))
        return len(rows)

    async def _next_due(self) -> float:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("next_due"))).fetchone()
        seconds = row["seconds"] if row else None
        return IDLE_WAKE_S if seconds is None else min(float(seconds), IDLE_WAKE_S)

    async def _deliver(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        status: int | None = None
        try:
            payload = await self._payload(row)
            response = await client.post(row["url"], json=payload, headers=headers_for(row))
            status = response.status_code
            if 200 <= status < 300:
                await self._update("delivered", id=row["id"], status=status)
                return
            error = f"HTTP {status}"
            final = 400 <= status < 500 and status not in (408, 429)
        except httpx.HTTPError as exc:
            error, final = f"{type(exc).__name__}: {exc}"[:500], False
        if final or row["attempts"] >= self.policy.max_attempts:
            log.warning("push to %s for task %s given up: %s", row["url"], row["task_id"], error)
            await self._update("give_up", id=row["id"], status=status, error=error)
        else:
            delay = self.policy.delay(row["attempts"])
            await self._update("retry", id=row["id"], status=status, error=error, delay=delay)

    async def _payload(self, row: dict[str, Any]) -> dict[str, Any]:
        async with self.pool.connection() as conn:
            found = await (await conn.execute(_q("task"), {"id": row["task_id"]})).fetchone()
        assert found is not None  # outbox rows go with their task (ON DELETE CASCADE)
        task = TaskRow.from_row(found)
        if task.terminal and task.state == row["state"]:
            goal_ids = await goal_message_ids(self.pool, [task.id])
            return {"task": MessageToDict(a2a_task(task, goal_id=goal_ids.get(task.id)))}
        # the state this notification announces, not whatever the task is in by now
        then = dataclasses.replace(
            task, state=row["state"], stop_reason=row["stop_reason"], updated_at=row["changed_at"]
        )
        return {"statusUpdate": MessageToDict(status_update(then))}

    async def _update(self, query: str, **params: Any) -> None:
        params.setdefault("error", None)
        async with self.pool.connection() as conn:
            await conn.execute(_q(query), params)


def headers_for(row: dict[str, Any]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if row["token"]:
        headers[TOKEN_HEADER] = row["token"]
    if row["auth_scheme"] and row["auth_credentials"]:
        headers["Authorization"] = f"{row['auth_scheme']} {row['auth_credentials']}"
    return headers
