"""PostgreSQL: embedded (pgserver) when DATABASE_URL is unset, otherwise the configured server.

Embedded: pgserver keeps one server per pgdata (`data_dir/pg`) for all processes, listening
on a Unix socket only, with a list of the pids using it in `pgdata/.handle_pids.json`; the
last process to exit stops it. pgserver never drops the pid of a process that died without
exiting (SIGKILL), so one such death would keep the server up forever; we prune dead pids
under pgserver's own lock before adopting the server and before letting go of it, and a
watchdog (stack.watchdog) stops the server if its last users all die that way. Running
as root, pgserver runs postgres as the OS user `pgserver`, chowns pgdata to it and opens
read/traverse permission on every parent directory of pgdata (a parent that is made
private again later, as pytest does to /tmp/pytest-of-root, breaks the next start).

A server that died (killed, OOM) is started again by the next process that asks for it, or
by a process holding it (revive_embedded, called when its database stops answering). After
a kill, Postgres runs crash recovery before it accepts connections, which can take far
longer than pgserver's 10 s start timeout: a start waits up to RECOVERY_TIMEOUT_S for the
postmaster to say it is ready.

External: DATABASE_URL is probed once with a short connect timeout; a URL that does not
answer raises ServiceUnavailable naming the variable (never a fallback to embedded).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import select
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from stack import watchdog
from stack.errors import ServiceUnavailable
from stack.process_share import pid_alive
from stack.redact import redact_url
from stack.settings import Settings
from stack.startup import starting

with warnings.catch_warnings():
    # pgserver keeps its cross-process lock in the user runtime dir; /tmp/runtime-<uid>
    # is the documented fallback when XDG_RUNTIME_DIR is unset, so the warning is noise.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList, PostmasterInfo

DATABASE = "wakeful"
PROBE_TIMEOUT_S = 5  # libpq rounds connect_timeout up to at least 2 seconds
STARTING_WAIT_S = 120.0  # a server in crash recovery, at most (stack.postgres.probe_postgres)
STARTING_POLL_S = 0.5
RECOVERY_TIMEOUT_S = 120.0  # a start after a crash: how long crash recovery may take
_READY_POLL_S = 0.2

log = logging.getLogger(__name__)


class _RecoveringServer(PostgresServer):
    """pgserver's server, whose start waits for crash recovery instead of giving up."""

    def ensure_postgres_running(self) -> None:
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while True:
            try:
                with _quiet_pgserver():
                    super().ensure_postgres_running()
                return
            except subprocess.TimeoutExpired:
                # pg_ctl gave up waiting after 10 s; the postmaster it started did not.
                self._postmaster_info = _wait_until_ready(self.pgdata, deadline)
                return
            except subprocess.CalledProcessError:
                # Backends of the killed server may still hold its shared memory for a
                # moment, and the new postmaster then refuses to start: try again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)


def _wait_until_ready(pgdata: Path, deadline: float) -> PostmasterInfo:
    """The postmaster's info once it accepts connections; ServiceUnavailable at `deadline`."""
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, ValueError):  # pid file half written
            info = PostmasterInfo.read_from_pgdata(pgdata)
            if info is not None and info.is_running() and info.status == "ready":
                return info
        time.sleep(_READY_POLL_S)
    raise ServiceUnavailable(
        f"embedded PostgreSQL in {pgdata} was not ready {RECOVERY_TIMEOUT_S:g}s after its "
        f"start (crash recovery?); see {pgdata / 'log'}"
    )


class _NoTimeoutDump(logging.Filter):
    """pgserver logs its whole server log at ERROR when pg_ctl times out; we wait on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout starting server" not in record.getMessage()


@contextlib.contextmanager
def _quiet_pgserver() -> Iterator[None]:
    quiet, logger = _NoTimeoutDump(), logging.getLogger("pgserver")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)



@dataclass
class _Held:
    """One embedded server as this process holds it: counted per in-process user."""

    server: PostgresServer
    users: int = 0


_lock = threading.Lock()
_servers: dict[Path, _Held] = {}  # by pgdata


def ensure_postgres(settings: Settings) -> str:
    """A connection URL for the wakeful database, starting embedded Postgres if needed.

    Each embedded call takes one in-process reference; give it back with release_postgres
    (or let process exit do it).
    """
    if settings.database_url:
        with starting("Postgres", redact_url(settings.database_url)):
            probe_postgres(settings.database_url)
        return settings.database_url
    url = _ensure_embedded(settings.data_dir / "pg")
    # Started by another process, it may still be in crash recovery: wait for it.
    probe_postgres(url, name="embedded PostgreSQL")
    return url


def release_postgres(settings: Settings) -> None:
    """Give back one reference; the last one in the last process stops embedded Postgres."""
    if settings.database_url:
        return
    pgdata = settings.data_dir / "pg"
    with _lock:
        entry = _servers.get(pgdata)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _servers[pgdata]
        _let_go(pgdata, entry.server)


def probe_postgres(
    url: str, *, starting_wait_s: float = STARTING_WAIT_S, name: str = "DATABASE_URL"
) -> None:
    """Raise ServiceUnavailable naming `name` (DATABASE_URL) unless `url` accepts a query.

    A server that says it is starting up (crash recovery after an outage, say) is waited
    for, up to `starting_wait_s`: it will answer soon, and a process started by its
    supervisor at that moment should come up rather than exit. Anything else fails at once.
    """
    deadline, told = time.monotonic() + starting_wait_s, False
    while True:
        try:
            with psycopg.connect(url, connect_timeout=PROBE_TIMEOUT_S, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            if _still_starting(exc) and time.monotonic() < deadline:
                if not told:
                    log.warning("Postgres at %s is starting up; waiting", redact_url(url))
                    told = True
                time.sleep(STARTING_POLL_S)
                continue
            raise ServiceUnavailable(
                f"{name} ({redact_url(url)}) does not answer: {_reason(exc, url)}"
            ) from None


def _still_starting(exc: psycopg.Error) -> bool:
    """The server refused with 57P03 (cannot_connect_now) because it is starting up or
    recovering — not shutting down, and not a standby that takes no connections."""
    text = str(exc)  # libpq reports connection-time refusals as text only
    if "shutting down" in text or "hot standby" in text:
        return False
    if exc.sqlstate == "57P03":
        return True
    return any(
        phrase in text
        for phrase in (
            "the database system is starting up",
            "the database system is in recovery mode",
            "the database system is not yet accepting connections",
        )
    )


def pool_size_for(concurrency: int) -> int:
    """Engine pool connections for a process running `concurrency` tasks at once.

    A run holds a connection only while one of its queries runs (its lease is a row that
    one heartbeat thread per process renews), so a few connections serve many runs; what
    waits is a task's next write, never a Postgres session per task. Five workers at 256
    tasks each then take 5 x (9 + procrastinate's 4 + listener, heartbeat) of the embedded
    server's 100 connections (benchmarks/scale.py measures it)."""
    return max(4, min(9, 4 + concurrency // 48))


def sized_for(settings: Settings, concurrency: int) -> Settings:
    """`settings` with the engine pool sized for `concurrency` (unless set explicitly)."""
    if settings.db_pool_size is not None:
        return settings
    return settings.model_copy(update={"db_pool_size": pool_size_for(concurrency)})


async def check_if_closed(conn: psycopg.AsyncConnection) -> None:
    """The pool's check on taking a connection, without a round trip when it is healthy.

    A connection the server closed (restart, terminated backend) has its socket readable:
    the server's last message and EOF wait there. Only then is the real check run (an
    empty query), which raises so the pool replaces the connection. An idle pooled
    connection otherwise has nothing to read, and a query per checkout (the stock check)
    was nearly half of a durable agent task's round trips (benchmarks/graph_profile.py).
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An open pool configured as langgraph-checkpoint-postgres requires."""
    pool: AsyncConnectionPool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # A connection broken by a database restart is replaced when it is taken, rather
        # than failing its next query.
        check=check_if_closed,
        # Every statement is prepared (the checkpointer's requirement); force_custom_plan
        # plans each execution for its values, so `(%(state)s IS NULL OR state = ...)` and
        # `id LIKE 'ab%'` keep their indexes instead of falling to a generic plan that
        # cannot use them (tests/server/runtime/test_query_plans.py explains them so).
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                "options": "-c plan_cache_mode=force_custom_plan"},
    )
    try:
        await pool.open(wait=True, timeout=30)
    except PoolTimeout as exc:
        await pool.close()
        raise ServiceUnavailable(
            f"PostgreSQL at {redact_url(url)} gave no connection within 30s: {exc}"
        ) from None
    return pool


def _ensure_embedded(pgdata: Path) -> str:
    with _lock:
        entry = _servers.get(pgdata)
        if entry is None:
            with starting("Postgres", f"embedded, {pgdata}"):
                entry = _servers[pgdata] = _Held(_start(pgdata))
        elif not entry.server.get_postmaster_info().is_running():
            _restart(pgdata, entry.server)
        entry.users += 1
        return entry.server.get_uri(database=DATABASE)


def _start(pgdata: Path) -> PostgresServer:
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    pgdata.mkdir(exist_ok=True)
    # pgserver hands back a cached instance from an earlier use in this process without
    # re-adding our pid to the handle list; a fresh instance registers us again.
    PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    errors = _PgserverErrors()
    logging.getLogger("pgserver").addHandler(errors)
    try:
        server = _RecoveringServer(pgdata.expanduser().resolve(), cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess/assertion errors
        raise ServiceUnavailable(
            f"embedded PostgreSQL in {pgdata} did not start: {errors.text() or repr(exc)}; "
            "set DATABASE_URL to use another server"
        ) from exc
    finally:
        logging.getLogger("pgserver").removeHandler(errors)
    # After pgserver registered its own exit hook, so that ours runs first (atexit is LIFO)
    # and prunes dead pids before pgserver decides whether it is the last user.
    atexit.register(_at_exit, pgdata)
    watchdog.ensure_watchdog("pg", pgdata)
    _create_database(server.get_uri(database="postgres"))
    return server


class _PgserverErrors(logging.Handler):
    """Keeps what pgserver logs when a command fails (it is not in the exception)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())

    def text(self) -> str:
        return " | ".join(line.strip() for r in self.records for line in r.splitlines()
                          if line.strip())[-2000:]  # fmt: skip


def _let_go(pgdata: Path, server: PostgresServer) -> None:
    _prune_dead_handles(pgdata)
    server.cleanup()  # removes our pid; stops the server if no other pid is left
    if PostgresServer._instances.get(pgdata) is server:
        del PostgresServer._instances[pgdata]


def _at_exit(pgdata: Path) -> None:
    with _lock:
        entry = _servers.pop(pgdata, None)
    if entry is not None:
        _let_go(pgdata, entry.server)


def revive_embedded(settings: Settings) -> bool:
    """Start the embedded server this process holds again if it died; True if it did (or
    another process did first). For a process whose database stopped answering."""
    if settings.database_url:
        return False
    pgdata = settings.data_dir / "pg"
    with _lock:
        entry = _servers.get(pgdata)
        if entry is None or entry.server.get_postmaster_info().is_running():
            return False
        _restart(pgdata, entry.server)
        return True


def _restart(pgdata: Path, server: PostgresServer) -> None:
    """The server died under us (killed, crashed): start it again on the same pgdata (or
    adopt the one another process started meanwhile), crash recovery included."""
    log.warning("embedded PostgreSQL in %s is not running; starting it again", pgdata)
    started = time.monotonic()
    with PostgresServer._lock:
        server.ensure_postgres_running()
    log.warning("embedded PostgreSQL is back after %.1fs", time.monotonic() - started)
    watchdog.ensure_watchdog("pg", pgdata)  # the old one left when the server died


def _create_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if exists.fetchone():
            return
        # Another process may create it between our check and ours.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without pgserver's atexit hook running."""
    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        pids = handles.get()
        live = [pid for pid in pids if pid_alive(pid)]
        if live != pids:
            handles.put(live)


def _reason(exc: Exception, url: str) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    return text.replace(str(password), "***") if password else text
