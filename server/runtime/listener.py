"""One LISTEN connection per process, shared by everything that waits for Postgres
notifications (cancel requests, the kill switch, new events, agent schedule changes).

Callbacks run on the event loop and must not block. After the connection is lost and made
again, every callback is called with `None`: notifications may have been missed meanwhile,
so subscribers re-read what they watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from server.runtime.database_health import outage_reason

log = logging.getLogger(__name__)

Callback = Callable[[str | None], None]

EVENTS = "wakeful_events"  # payload "task_id:seq" (stack/migrations/0004_runtime.sql)
CANCEL = "wakeful_cancel"  # payload task_id
KILLSWITCH = "wakeful_killswitch"  # payload "on" | "off"
AGENTS = "wakeful_agents"  # payload agent id: its schedule may have changed
CHANNELS = (EVENTS, CANCEL, KILLSWITCH, AGENTS)

APPLICATION_NAME = "wakeful-listener"  # how the connection shows in pg_stat_activity
_LIVENESS_S = 30.0  # an idle connection is probed this often


class PgListener:
    def __init__(self, url: str, channels: Iterable[str] = CHANNELS) -> None:
        self.url = url
        self.channels = tuple(channels)
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Call `callback(payload)` for each notification on `channel`; returns unsubscribe."""
        if channel not in self.channels:
            raise ValueError(f"this listener does not LISTEN on {channel!r}")
        self._subscribers[channel].append(callback)
        return lambda: self._subscribers[channel].remove(callback)

    async def start(self, timeout: float = 30.0) -> None:
        """Connect and LISTEN; returns once notifications are being received."""
        self._task = asyncio.create_task(self._run(), name="wakeful-pg-listener")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            await self.close()
            raise TimeoutError(f"could not LISTEN on Postgres within {timeout}s")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay, lost = 0.1, False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name=APPLICATION_NAME
                ) as conn:
                    for channel in self.channels:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if self._ready.is_set():
                        self._resync()
                    if lost:
                        log.warning("LISTEN connection is back")
                    self._ready.set()
                    delay, lost = 0.1, False
                    await self._receive(conn)
            except (psycopg.Error, OSError) as exc:
                # Any lost connection (a killed or restarting server included): say it once
                # per outage, then keep trying quietly until the database answers.
                if not lost:
                    log.warning("LISTEN connection lost (%s); reconnecting until it answers",
                                outage_reason(exc))
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _receive(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            async for note in conn.notifies(timeout=_LIVENESS_S):
                self._dispatch(note.channel, note.payload)
            await conn.execute("SELECT 1")  # raises OperationalError on a dead connection

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                log.exception("notification handler for %s failed", channel)

    def _resync(self) -> None:
        for channel in self.channels:
            self._dispatch(channel, None)
