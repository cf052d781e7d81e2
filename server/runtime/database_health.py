"""Is the database there? One watcher per process notices it going away and coming back,
says so once each way in the log, and lets the parts of the runtime wait for it instead of
dying with it.

Everything in a process talks to one Postgres; when it is down (killed, restarting, crash
recovery, a network cut) the process stays up, reports not-ready, and carries on where it
was once the database answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import psycopg
from procrastinate.exceptions import ConnectorException
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0
# What a lost or refused database connection raises, directly or as the cause of another.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, ConnectorException,
    ConnectionError, TimeoutError,
)


def is_outage(exc: BaseException | None) -> bool:
    """True when `exc`, or what caused it, is a lost database connection."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OUTAGE_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def outage_reason(exc: BaseException) -> str:
    """One line saying why the database did not answer (from the driver's own error when
    a wrapper such as procrastinate's ConnectorException hides it)."""
    root, seen = exc, 0
    while not isinstance(root, psycopg.Error) and seen < 10:
        cause = root.__cause__ or root.__context__
        if cause is None:
            break
        root, seen = cause, seen + 1
    if isinstance(root, psycopg.Error):
        exc = root
    if isinstance(exc, PoolTimeout):
        return "no database connection came free in time"
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:g}s"
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


async def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the database at `url` answers a query in time, else why not."""
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=max(2, int(timeout))
            )
            async with conn:
                await conn.execute("SELECT 1")
    except (psycopg.Error, OSError, TimeoutError) as exc:
        return outage_reason(exc)
    return None


class DatabaseWatch:
    """Probes the database every `every` seconds; logs an outage once when it starts and
    once when it ends, with how long it lasted. `revive` (blocking; the embedded server's
    restart) is tried while the database does not answer."""

    def __init__(
        self, url: str, *, every: float = 2.0, revive: Callable[[], bool] | None = None
    ) -> None:
        self.url = url
        self.every = every
        self.revive = revive
        self.down_since: float | None = None
        self.reason: str | None = None
        self.recoveries = 0  # how many outages ended
        self._poke = asyncio.Event()

    @property
    def up(self) -> bool:
        return self.down_since is None

    async def run(self, stop: asyncio.Event) -> None:
        quiet, short = _QuietPoolRetries(self), _ShortOutageErrors()
        pool_log = logging.getLogger("psycopg.pool")
        pool_log.addFilter(quiet)
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(short)
        try:
            while not stop.is_set():
                await self._look()
                self._poke.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), timeout=self.every)
        finally:
            pool_log.removeFilter(quiet)
            for handler in handlers:
                handler.removeFilter(short)

    async def wait_until_up(self, stop: asyncio.Event) -> None:
        """Returns once the database answers again (or `stop` is set)."""
        while not stop.is_set():
            if await self._look():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)

    def suspect(self) -> None:
        """A caller saw a database error: look again now rather than at the next round."""
        self._poke.set()

    async def _look(self) -> bool:
        """Probe (reviving the database when it does not answer); True when it answers."""
        reason = await probe(self.url)
        self._record(reason)
        if reason is not None and self.revive is not None:
            try:
                if await asyncio.to_thread(self.revive):
                    reason = await probe(self.url)
                    self._record(reason)
            except Exception as exc:
                log.warning("could not start the database again: %s", exc)
        return reason is None

    def _record(self, reason: str | None) -> None:
        if reason is None:
            if self.down_since is not None:
                log.warning("database is back after %.1fs; resuming",
                            time.monotonic() - self.down_since)
                self.recoveries += 1
            self.down_since, self.reason = None, None
            return
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("database unavailable (%s); staying up and retrying until it "
                        "answers", reason)
        self.reason = reason


class _QuietPoolRetries(logging.Filter):
    """The pools' first failed reconnection of an outage is said (and makes the watch look
    at once); the many that follow until the database is back are not."""

    def __init__(self, watch: DatabaseWatch) -> None:
        super().__init__()
        self.watch = watch
        self.spoke_for: int | None = None  # the outage (by watch.recoveries) already said

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("error connecting in"):
            return True
        if self.spoke_for == self.watch.recoveries:
            return False
        self.spoke_for = self.watch.recoveries
        self.watch.suspect()
        return True


class _ShortOutageErrors(logging.Filter):
    """A library's error about a lost database connection (procrastinate logs one with a
    traceback per side task) becomes one warning line: the outage is expected, handled, and
    said once by the watch."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_outage(exc):
            record.msg, record.args = f"{record.getMessage()} ({outage_reason(exc)})", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
