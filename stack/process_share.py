"""Share one embedded server between the wakeful processes that use the same data dir.

A server directory holds a lock file and a small JSON state file: the server's pid, its
ports, and the handles (pid plus process start time) of the processes using it. Under the
lock a process adopts the running server or starts one, and adds its handle; on release
it removes its handle, drops handles of processes that died (SIGKILL, OOM), and stops the
server when no live handle is left. When the last users all die without letting go, the
watchdog (stack.watchdog) stops the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from stack.errors import ServiceUnavailable

State = dict[str, Any]
Handle = list[float]  # [pid, process start time]

_STATE_FILE = "server.json"
_LOCK_FILE = ".lock"


def pid_alive(pid: int, started: float | None = None) -> bool:
    """True if `pid` runs and is not a zombie (and, given `started`, is that same process)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 0.01
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def own_handle() -> Handle:
    pid = os.getpid()
    return [pid, psutil.Process(pid).create_time()]


@contextlib.contextmanager
def locked(directory: Path, timeout_s: float, what: str, *, create: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on `directory/.lock`, polling until `timeout_s` passes."""
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(directory / _LOCK_FILE, "a+") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"{what}: another process has held {directory / _LOCK_FILE} "
                        f"for more than {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_state(directory: Path) -> State | None:
    try:
        return json.loads((directory / _STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(directory: Path, state: State | None) -> None:
    path = directory / _STATE_FILE
    if state is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def _live(handles: list[Handle]) -> list[Handle]:
    return [h for h in handles if pid_alive(int(h[0]), h[1])]


def acquire(
    directory: Path,
    *,
    is_running: Callable[[State], bool],
    start: Callable[[State | None], State],
    timeout_s: float,
    what: str,
) -> State:
    """Adopt the running server in `directory` or start one; register this process."""
    with locked(directory, timeout_s, what):
        state = read_state(directory)
        if state is None or not is_running(state):
            state = start(state)
            state["handles"] = []
        mine = own_handle()
        handles = [h for h in _live(state.get("handles", [])) if int(h[0]) != mine[0]]
        state["handles"] = [*handles, mine]
        _write_state(directory, state)
        return state


def release(
    directory: Path,
    *,
    stop: Callable[[State], None],
    timeout_s: float,
    what: str,
) -> bool:
    """Drop this process's handle; stop the server if no live handle is left. True if stopped."""
    with locked(directory, timeout_s, what):
        state = read_state(directory)
        if state is None:
            return False
        pid = os.getpid()
        was_user = any(int(h[0]) == pid for h in state.get("handles", []))
        state["handles"] = [h for h in _live(state.get("handles", [])) if int(h[0]) != pid]
        if state["handles"] or not was_user:
            # Others still use it, or this process (say, a forked child) never held it.
            _write_state(directory, state)
            return False
        stop(state)
        _write_state(directory, None)
        return True


def stop_if_orphaned(
    directory: Path,
    *,
    is_running: Callable[[State], bool],
    stop: Callable[[State], None],
    timeout_s: float,
) -> bool:
    """For the watchdog: stop the server if every user died. True while it runs with users."""
    # create=False: a removed data dir must stay removed (FileNotFoundError ends the watch).
    with locked(directory, timeout_s, "watchdog", create=False):
        state = read_state(directory)
        if state is None or not is_running(state):
            return False
        if _live(state.get("handles", [])):
            return True
        stop(state)
        _write_state(directory, None)
        return False


def stop_pid(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process outlives `timeout_s`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
