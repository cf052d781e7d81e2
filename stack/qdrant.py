"""Qdrant: local mode in `data_dir/qdrant` when QDRANT_URL is unset, else the server at it.

Local mode is qdrant-client's own embedded engine: it loads every collection into this
process's memory and takes an exclusive, non-blocking flock on `qdrant/.lock`, so exactly
one client in one process may open a data dir. We do not fake a server around it:

- within a process, open_qdrant hands out one shared client per data dir (counted; give
  it back with release_qdrant, never client.close());
- a second process waits a few seconds (LOCAL_LOCK_WAIT_S, enough for a previous command
  to exit), then gets ServiceUnavailable naming the pid that holds the lock (read from
  /proc/locks) and telling to set QDRANT_URL to share Qdrant between processes;
- the sync and the async client of local mode are two engines over the same files, so
  they cannot both be open on one data dir, even in one process;
- local mode's engine is not safe for concurrent use (two threads corrupt its in-memory
  arrays, and its SQLite storage rejects nested transactions), so every call into the
  shared client's engine is serialised by one lock.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, QdrantClient

from stack.errors import ServiceUnavailable
from stack.redact import redact_url
from stack.settings import Settings
from stack.startup import starting

LOCAL_LOCK_WAIT_S = 5.0
PROBE_TIMEOUT_S = 5

_C = TypeVar("_C", QdrantClient, AsyncQdrantClient)


@dataclass
class _Shared:
    """The one local-mode client of a data dir in this process, counted per user."""

    client: QdrantClient
    users: int = 0


_lock = threading.Lock()
_local: dict[Path, _Shared] = {}  # by data dir


class _Serialized:
    """Forwards every method call of the wrapped engine through one re-entrant lock."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._call_lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._call_lock:
                return attr(*args, **kwargs)

        return call


def open_qdrant(settings: Settings) -> QdrantClient:
    """A sync client: the configured server (probed), or the shared local-mode client."""
    if settings.qdrant_url:
        _probe(settings)
        return QdrantClient(**_remote_options(settings))
    path = settings.data_dir / "qdrant"
    with _lock:
        entry = _local.get(path)
        if entry is None:
            with starting("Qdrant", f"local mode, {path}"):
                _wait_for_lock(path, min(LOCAL_LOCK_WAIT_S, settings.service_start_timeout_s))
                client = _open_local(lambda: QdrantClient(path=str(path)), path)
            client._client = _Serialized(client._client)  # type: ignore[assignment]
            entry = _local[path] = _Shared(client)
        entry.users += 1
        return entry.client


def open_async_qdrant(settings: Settings) -> AsyncQdrantClient:
    """An async client; in local mode a new engine that holds the data dir until closed."""
    if settings.qdrant_url:
        _probe(settings)
        return AsyncQdrantClient(**_remote_options(settings))
    path = settings.data_dir / "qdrant"
    _wait_for_lock(path, min(LOCAL_LOCK_WAIT_S, settings.service_start_timeout_s))
    return _open_local(lambda: AsyncQdrantClient(path=str(path)), path)


def release_qdrant(client: QdrantClient) -> None:
    """Give back a client from open_qdrant; the last user of a local client closes it."""
    with _lock:
        for path, entry in _local.items():
            if entry.client is client:
                entry.users -= 1
                if entry.users == 0:
                    del _local[path]
                    client.close()
                return
    client.close()


@atexit.register
def _close_all() -> None:
    # Close before interpreter shutdown; qdrant-client's __del__ fails once imports are gone.
    with _lock:
        entries = list(_local.values())
        _local.clear()
    for entry in entries:
        entry.client.close()


def lock_holder(path: Path) -> int | None:
    """The pid holding the local-mode flock on `path/.lock`, from /proc/locks (Linux)."""
    try:
        st = (path / ".lock").stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->" or fields[1] != "FLOCK":
            continue
        dev_inode = fields[5].split(":")
        if len(dev_inode) == 3 and int(dev_inode[2]) == st.st_ino and (
            int(dev_inode[0], 16) == os.major(st.st_dev)
            and int(dev_inode[1], 16) == os.minor(st.st_dev)
        ):
            return int(fields[4])
    return None


def _wait_for_lock(path: Path, timeout_s: float) -> None:
    """Poll the local-mode lock (without loading any data) until it is free or time is up."""
    lock_file = path / ".lock"
    if not lock_file.exists():
        return
    if lock_holder(path) == os.getpid():
        raise _busy(path, 0)  # waiting for ourselves would only waste the time
    deadline = time.monotonic() + timeout_s
    with open(lock_file, "r+") as probe:
        while True:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(probe, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _busy(path, timeout_s) from None
                time.sleep(0.05)


def _open_local(factory: Callable[[], _C], path: Path) -> _C:
    path.mkdir(parents=True, exist_ok=True)
    try:
        return factory()
    except RuntimeError as exc:  # qdrant-client's words for "the flock is taken"
        if "already accessed" in str(exc):
            raise _busy(path, 0) from None
        raise


def _busy(path: Path, waited_s: float) -> ServiceUnavailable:
    holder = lock_holder(path)
    who = "an unknown process" if holder is None else f"pid {holder}"
    if holder == os.getpid():
        who = f"this process (pid {holder}) through another client"
    waited = f" (waited {waited_s:.0f}s)" if waited_s else ""
    return ServiceUnavailable(
        f"Qdrant local mode at {path} is held by {who}{waited}; local mode allows one "
        "client in one process per data dir: set QDRANT_URL to share a Qdrant server"
    )


def _remote_options(settings: Settings) -> dict[str, Any]:
    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    # Our probe is the compatibility check; the client's own would warn instead of fail.
    return {"url": settings.qdrant_url, "api_key": key, "check_compatibility": False}


def _probe(settings: Settings) -> None:
    """Raise ServiceUnavailable naming QDRANT_URL unless the server lists collections."""
    url = settings.qdrant_url or ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the real client repeats any warning that matters
            client = QdrantClient(**_remote_options(settings), timeout=PROBE_TIMEOUT_S)
        try:
            client.get_collections()
        finally:
            client.close()
    except Exception as exc:  # httpx, grpc and qdrant's own errors all mean "no answer"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(
            f"QDRANT_URL ({redact_url(url)}) does not answer: {reason}"
        ) from None
