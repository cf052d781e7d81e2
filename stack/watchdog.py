"""Stops an embedded server whose users all died without letting go (SIGKILL, OOM, a CI
timeout), so that no server outlives every process that used it.

A process that uses an embedded server makes sure one watchdog runs for its directory:
`python -m stack.watchdog graph|pg DIR`, detached. Each second it checks, under the same
lock the users take, whether any user is still alive; when none is, it stops the server,
and it exits as soon as the server is gone (stopped by its last user, or by itself).
At most one watchdog runs per directory (flock on DIR/.watchdog.lock).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from stack import process_share
from stack.errors import ServiceUnavailable
from stack.process_share import pid_alive

POLL_S = 1.0
STOP_TIMEOUT_S = 30.0
_LOCK_FILE = ".watchdog.lock"
_spawned: list[subprocess.Popen] = []


def ensure_watchdog(kind: str, directory: Path) -> None:
    """Start a watchdog for `directory` unless one already holds its lock."""
    _spawned[:] = [p for p in _spawned if p.poll() is None]  # reap those that ended
    if _lock_taken(directory):
        return
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p
    )}  # fmt: skip
    with open(directory / "watchdog.log", "ab") as log:
        _spawned.append(subprocess.Popen(
            [sys.executable, "-m", "stack.watchdog", kind, str(directory)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True,  # not killed with our process group: that is its job
        ))  # fmt: skip


def _lock_taken(directory: Path) -> bool:
    with open(directory / _LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def _graph_round(directory: Path) -> bool:
    return process_share.stop_if_orphaned(
        directory,
        is_running=lambda state: pid_alive(state["pid"], state["started"]),
        stop=lambda state: process_share.stop_pid(state["pid"], STOP_TIMEOUT_S),
        timeout_s=STOP_TIMEOUT_S,
    )


def _pg_round(pgdata: Path) -> bool:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
        from pgserver.postgres_server import PostgresServer
        from pgserver.utils import DiskList, PostmasterInfo

    with PostgresServer._lock:
        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError):
            return True  # postmaster.pid half written: look again next round
        if info is None or not info.is_running():
            return False
        handles = DiskList(pgdata / ".handle_pids.json")
        if any(pid_alive(pid) for pid in handles.get()):
            return True
        handles.put([])
        user = "pgserver" if os.geteuid() == 0 else None  # as pgserver runs it
        pgserver.pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)  # type: ignore[attr-defined]
        return False


def main(kind: str, directory: Path) -> None:
    watch = {"graph": _graph_round, "pg": _pg_round}[kind]
    with open(directory / _LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another watchdog watches this directory
        while True:
            time.sleep(POLL_S)
            try:
                if not watch(directory):
                    return
            except ServiceUnavailable:
                continue  # a user holds the lock for long (starting up): next round
            except FileNotFoundError:
                return  # the data dir is gone


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
