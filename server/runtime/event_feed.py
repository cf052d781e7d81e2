"""Waiting for a task's next events: SSE streams sleep here until the events table has
something newer (a notification from its insert trigger) or their timeout passes."""

from __future__ import annotations

import asyncio
import contextlib

from psycopg_pool import AsyncConnectionPool

from server.runtime.listener import EVENTS, PgListener

_NEWER = "SELECT EXISTS (SELECT 1 FROM events WHERE task_id = %s AND seq > %s) AS newer"


class EventFeed:
    def __init__(self, pool: AsyncConnectionPool, listener: PgListener) -> None:
        self.pool = pool
        self._waiters: dict[str, list[tuple[int, asyncio.Event]]] = {}
        listener.subscribe(EVENTS, self._on_event)

    async def wait(self, task_id: str, after: int, timeout: float) -> None:
        """Return once the task has an event with seq > `after`, or after `timeout` seconds."""
        entry = (after, asyncio.Event())
        waiters = self._waiters.setdefault(task_id, [])
        waiters.append(entry)
        try:
            if await self._newer(task_id, after):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry[1].wait(), timeout)
        finally:
            waiters.remove(entry)
            if not waiters:
                self._waiters.pop(task_id, None)

    async def _newer(self, task_id: str, after: int) -> bool:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_NEWER, (task_id, after))).fetchone()
        return bool(row and row["newer"])

    def _on_event(self, payload: str | None) -> None:
        if payload is None:  # reconnected: anything may have happened
            for waiters in self._waiters.values():
                for _, event in waiters:
                    event.set()
            return
        task_id, _, seq = payload.rpartition(":")
        for after, event in self._waiters.get(task_id, ()):
            if int(seq) > after:
                event.set()
