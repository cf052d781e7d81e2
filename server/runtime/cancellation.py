"""Stop events of the runs in this process, set the moment a cancel or the kill switch is
announced (LISTEN/NOTIFY), so an in-flight model call is abandoned at once.

The durable half is the task row's `cancel_requested` flag, which every node boundary reads:
a missed notification delays the stop to the next boundary, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from server.runtime.listener import CANCEL, KILLSWITCH, PgListener

log = logging.getLogger(__name__)


class RunStops:
    def __init__(self, listener: PgListener) -> None:
        self._events: dict[str, asyncio.Event] = {}
        listener.subscribe(CANCEL, self._on_cancel)
        listener.subscribe(KILLSWITCH, self._on_killswitch)

    @contextmanager
    def watch(self, task_id: str) -> Iterator[asyncio.Event]:
        """The stop event of `task_id`'s run, for as long as the block runs."""
        event = asyncio.Event()
        self._events[task_id] = event
        try:
            yield event
        finally:
            if self._events.get(task_id) is event:
                del self._events[task_id]

    def running(self) -> list[str]:
        return list(self._events)

    def stop(self, task_id: str) -> bool:
        event = self._events.get(task_id)
        if event is None:
            return False
        event.set()
        return True

    def _on_cancel(self, payload: str | None) -> None:
        if payload is not None and self.stop(payload):
            log.info("cancel of task %s reached its run", payload)

    def _on_killswitch(self, payload: str | None) -> None:
        if payload == "on":
            for task_id in self.running():
                self.stop(task_id)
