"""The heartbeat of a process's run leases: one thread and one connection per process,
however many runs it holds (a lease is a row, not a Postgres session per run).

The thread renews every held lease each `lease_seconds / 3` in one statement. It runs
apart from the event loop, so a loop kept busy by CPU work — or a machine loaded far
past its cores — does not let a live run's lease expire. A lease that is not renewed
(another run took the task over after it expired) is reported lost: the run's stop
callback fires, and its next write is refused by its epoch anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from stack.lifecycle import DEFAULT_LEASE_SECONDS, Lease

log = logging.getLogger(__name__)

OnLost = Callable[[], None]


class LeaseKeeper:
    def __init__(self, url: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self._held: dict[tuple[str, int], OnLost] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def keep(self, lease: Lease, on_lost: OnLost) -> Iterator[None]:
        """Renew `lease` while the block runs; `on_lost` is called (from the keeper's
        thread) if it is taken over meanwhile."""
        key = (lease.task_id, lease.epoch)
        with self._lock:
            self._held[key] = on_lost
            self._start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(key, None)

    def held(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._held)

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped.clear()
            self._thread = threading.Thread(
                target=self._beat, name="wakeful-lease-keeper", daemon=True
            )
            self._thread.start()

    def _beat(self) -> None:
        conn: psycopg.Connection | None = None
        interval = self.lease_seconds / 3
        while not self._stopped.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            held = self.held()
            if self._stopped.is_set() or not held:
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(
                        self.url, autocommit=True, connect_timeout=max(1, int(interval)),
                        application_name="wakeful-lease-keeper",
                    )
                self._renew(conn, held)
            except psycopg.Error as exc:  # the database is away: keep trying
                log.warning("could not renew %d run lease(s): %s", len(held), exc)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _renew(self, conn: psycopg.Connection, held: list[tuple[str, int]]) -> None:
        cur = conn.execute(
            "SELECT task_id, epoch FROM wakeful_renew_leases(%s, %s, %s)",
            ([t for t, _ in held], [e for _, e in held], self.lease_seconds),
        )
        kept = {(row[0], row[1]) for row in cur.fetchall()}
        for key in held:
            if key in kept:
                continue
            with self._lock:
                on_lost = self._held.pop(key, None)
            if on_lost is not None:
                log.warning("task %s: run lease (epoch %d) was taken over", *key)
                on_lost()
