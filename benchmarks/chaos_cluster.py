"""The processes the chaos benchmark (benchmarks/chaos.py) runs and kills: one Postgres
(embedded pgserver in the run's own data dir, or a fresh database on DATABASE_URL's
server), `wakeful serve` and `wakeful worker` processes, each restarted when it dies, as a
supervisor would. Its own kills are told apart from deaths it did not cause.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from stack.postgres import ensure_postgres, release_postgres, revive_embedded
from stack.process_share import pid_alive
from stack.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Database:
    """The run's database. Embedded: this process holds the pgserver (so it can kill its
    postmaster and start it again, as stack/postgres.py does after a crash); external: a
    fresh database on DATABASE_URL's server, which is not killed."""

    def __init__(self, data_dir: Path, external_url: str | None) -> None:
        self.external_url = external_url
        self.settings = Settings(WAKEFUL_DATA_DIR=data_dir / "postgres", DATABASE_URL=None)
        self._dbname: str | None = None
        if external_url:
            self._dbname = f"wk_chaos_{secrets.token_hex(4)}"
            with psycopg.connect(self._admin_url(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self._dbname)))
            self.url = psycopg.conninfo.make_conninfo(external_url, dbname=self._dbname)
        else:
            self.url = ensure_postgres(self.settings)

    @property
    def embedded(self) -> bool:
        return not self.external_url

    def _admin_url(self) -> str:
        assert self.external_url
        return psycopg.conninfo.make_conninfo(self.external_url, dbname="postgres")

    def postmaster_pid(self) -> int:
        pid_file = self.settings.data_dir / "pg" / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])

    def kill(self) -> int:
        """SIGKILL the postmaster (its backends then exit); returns its pid."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def restart(self) -> float:
        """Start the killed server again (crash recovery included); seconds it took."""
        started = time.monotonic()
        # revive_embedded takes a killed postmaster that init has not reaped yet (a zombie)
        # for a running one: try again until it is gone
        while not revive_embedded(self.settings):
            if time.monotonic() - started > 120:
                raise RuntimeError("embedded Postgres could not be started again in 120 s")
            time.sleep(0.2)
        return time.monotonic() - started

    def close(self) -> None:
        if self._dbname is not None:
            with psycopg.connect(self._admin_url(), autocommit=True) as conn:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(self._dbname)))
        else:
            release_postgres(self.settings)


class Queries:
    """One connection of this process to the run's database, re-opened after an outage;
    a query retries until `timeout` (the database may be down for a while)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    def rows(self, query: str, params: Any = None, *, timeout: float = 300) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(
                        self.url, autocommit=True, row_factory=dict_row, connect_timeout=3
                    )
                return list(self._conn.execute(query, params).fetchall())
            except psycopg.OperationalError:
                with contextlib.suppress(Exception):
                    if self._conn is not None:
                        self._conn.close()
                self._conn = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass
class Member:
    """One supervised process (serve or a worker), restarted whenever it dies."""

    name: str
    command: list[str]
    ready_marker: str  # text its log shows once it takes work
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    incarnation: int = 0
    started_at: float = 0.0
    fault: dict[str, str] = field(default_factory=dict)  # fault-injection env of this life
    killed_by_us: bool = False

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.name}-{self.incarnation}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            return self.ready_marker in self.log_path.read_text(errors="replace")
        return False

    def tail(self, chars: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


class Cluster:
    """serve + workers on one database, all sharing one data dir (the admin token, MCP
    server logs); `on_exit` hears of every death this cluster did not cause."""

    def __init__(
        self,
        db_url: str,
        data_dir: Path,
        *,
        port: int,
        workers: int,
        concurrency: int,
        on_exit: Callable[[Member, int], None],
    ) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.port = port
        self.on_exit = on_exit
        logs = data_dir / "process-logs"
        logs.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        # serve heartbeats every 10 s and takes no such options: a worker that called a
        # worker stalled sooner would prune serve's live worker rows (its job fetches then
        # fail on procrastinate_jobs_worker_id_fkey) and re-queue its running jobs
        failover = ["--heartbeat-seconds", "1", "--stalled-after-seconds", "25",
                    "--stalled-check-seconds", "2", "--shutdown-grace-seconds", "1"]
        self.serve = Member(
            "serve",
            [python, "-m", "server.cli.main", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--concurrency", str(concurrency), "--no-view"],
            "API", logs,
        )
        self.workers = [
            Member(f"worker-{i}",
                   [python, "-m", "server.cli.worker", "--name", f"worker-{i}", "--concurrency",
                    str(concurrency), *failover],
                   "at a time", logs)
            for i in range(workers)
        ]

    @property
    def members(self) -> list[Member]:
        return [self.serve, *self.workers]

    def env(self, fault: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WAKEFUL_CONFIG")
               and not k.startswith("WAKEFUL_CRASH")}
        env.update(DATABASE_URL=self.db_url, WAKEFUL_DATA_DIR=str(self.data_dir),
                   LANGSMITH_TRACING="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", **fault)
        return env

    def spawn(self, member: Member, fault: dict[str, str] | None = None) -> None:
        member.incarnation += 1
        member.fault = dict(fault or {})
        member.killed_by_us = False
        with member.log_path.open("wb") as out:
            member.process = subprocess.Popen(
                member.command, cwd=REPO, env=self.env(member.fault), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        member.started_at = time.monotonic()

    def kill(self, member: Member) -> None:
        """SIGKILL the member and everything it started (its MCP servers), as the kernel's
        OOM killer or a pulled plug would."""
        if member.process is None:
            return
        member.killed_by_us = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(member.process.pid, signal.SIGKILL)
        member.process.wait(timeout=60)

    def supervise(self, members: list[Member] | None = None) -> None:
        """Start again every member (of `members`) that is not running; report deaths we
        did not cause."""
        for member in self.members if members is None else members:
            if member.alive():
                continue
            if member.process is not None and not member.killed_by_us:
                self.on_exit(member, member.process.returncode)
            self.spawn(member)

    def stop(self) -> None:
        for member in self.members:
            if member.alive():
                member.killed_by_us = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(member.pid, signal.SIGTERM)
        for member in self.members:
            if member.process is None:
                continue
            try:
                member.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(member)
            # children (MCP servers) of a member that died on its own may be left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(member.pid, signal.SIGKILL)

