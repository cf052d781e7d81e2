"""A task's run lease: a Postgres session advisory lock held for the whole run.

procrastinate's job lock already keeps two jobs of one task from running at once, and a
job is retried only when its worker stopped sending heartbeats. The lease closes the last
gap: if a live but unresponsive worker were taken for dead, the second run waits here until
the first one ends. A worker that dies loses its session, and with it the lease.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

_LOCK = "SELECT {}(hashtextextended(%s, 2003921765))"  # seed 0x77616B65, "wake"


async def _release_all(conn: AsyncConnection[Any]) -> None:
    await conn.execute("SELECT pg_advisory_unlock_all()")


class TaskLeases:
    def __init__(self, url: str, *, size: int) -> None:
        # reset= runs when a connection comes back: a run cut short cannot leave a lock
        # behind on a pooled session.
        self.pool = AsyncConnectionPool(
            url, min_size=0, max_size=max(1, size), open=False,
            kwargs={"autocommit": True}, reset=_release_all,
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def hold(self, task_id: str) -> AsyncIterator[None]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_LOCK.format("pg_try_advisory_lock"), (task_id,))
            row = await cur.fetchone()
            if not (row and row[0]):
                log.warning("task %s is still held by another run; waiting for it", task_id)
                await conn.execute(_LOCK.format("pg_advisory_lock"), (task_id,))
            try:
                yield
            finally:
                await conn.execute(_LOCK.format("pg_advisory_unlock"), (task_id,))
