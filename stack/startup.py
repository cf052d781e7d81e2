"""News of backing services starting (Postgres, FalkorDB, Qdrant, the embedder, MCP
servers), for whoever shows progress: a first start takes minutes, and an operator should
see which service it is waiting for and how long each took.

Code that starts a service wraps the start in `starting(name, detail)`; a display
subscribes with `listening(callback)`. Only the innermost display hears the news (the
live view of a run takes over from the CLI's plain lines while it is up); with no display
nothing is reported. Callbacks may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceNews:
    service: str
    detail: str = ""
    seconds: float | None = None  # None: starting now; else: ready after this long
    failed: bool = False


Listener = Callable[[ServiceNews], None]

_lock = threading.Lock()
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send news of starting services to `listener` (and not to outer ones) meanwhile."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _tell(news: ServiceNews) -> None:
    with _lock:
        listener = _listeners[-1] if _listeners else None
    if listener is not None:
        listener(news)


@contextmanager
def starting(service: str, detail: str = "") -> Iterator[None]:
    """Announce that `service` starts now, and when it is ready (or failed) how long it took."""
    _tell(ServiceNews(service, detail))
    began = time.monotonic()
    try:
        yield
    except BaseException:
        _tell(ServiceNews(service, detail, time.monotonic() - began, failed=True))
        raise
    _tell(ServiceNews(service, detail, time.monotonic() - began))
