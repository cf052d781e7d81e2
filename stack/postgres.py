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

External: DATABASE_URL is probed once with a short connect timeout; a URL that does not
answer raises ServiceUnavailable naming the variable (never a fallback to embedded).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import warnings
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
    import pgserver
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

DATABASE = "wakeful"
PROBE_TIMEOUT_S = 5  # libpq rounds connect_timeout up to at least 2 seconds



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
    return _ensure_embedded(settings.data_dir / "pg")


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


def probe_postgres(url: str) -> None:
    """Raise ServiceUnavailable naming DATABASE_URL unless `url` accepts a query."""
    try:
        with psycopg.connect(url, connect_timeout=PROBE_TIMEOUT_S, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            f"DATABASE_URL ({redact_url(url)}) does not answer: {_reason(exc, url)}"
        ) from None


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An open pool configured as langgraph-checkpoint-postgres requires."""
    pool: AsyncConnectionPool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
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
            _restart(entry.server)
        entry.users += 1
        return entry.server.get_uri(database=DATABASE)


def _start(pgdata: Path) -> PostgresServer:
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    # pgserver hands back a cached instance from an earlier use in this process without
    # re-adding our pid to the handle list; a fresh instance registers us again.
    PostgresServer._instances.pop(pgdata, None)
    errors = _PgserverErrors()
    logging.getLogger("pgserver").addHandler(errors)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
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


def _restart(server: PostgresServer) -> None:
    """The server died under us (killed, crashed): start it again on the same pgdata."""
    with PostgresServer._lock:
        server.ensure_postgres_running()


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
