"""Task rows and their append-only event log in Postgres.

The tasks table holds lifecycle state (not agent memory); events are the record of what a
run did, the source for live views, SSE streams and evaluation.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from stack.errors import LeaseLost, NotFound
from stack.sql import load_queries

TaskState = Literal[
    "submitted", "working", "input-required", "completed", "failed", "canceled", "rejected"
]
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "canceled", "rejected"})

_QUERIES = Path(__file__).with_suffix(".sql")


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


@dataclass(frozen=True)
class TaskRow:
    id: str
    tenant: str
    agent: str
    goal: str
    state: str
    stop_reason: str | None
    budgets: dict[str, Any]
    usage: dict[str, Any]
    output: str | None
    agent_spec: dict[str, Any]
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    continuous: bool = False  # an iteration of a continuous agent (stricter tool policy)
    iteration_of: str | None = None  # that agent's id
    lease_owner: str | None = None  # the run holding the task (stack/lifecycle.py)
    lease_epoch: int = 0
    lease_expires_at: datetime | None = None
    idempotency_key: str | None = None
    dispatches: int = 0  # runs claimed
    crash_retries: int = 0  # re-claims after a run vanished (crash, kill, lost worker)
    error_retries: int = 0  # run jobs that raised

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TaskRow:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in fields})

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class EventRow:
    id: int
    task_id: str
    seq: int
    ts: datetime
    type: str
    data: dict[str, Any]


def new_task_id() -> str:
    return str(uuid.uuid4())


class TaskRecords:
    """Reads and writes task rows and events through a shared async pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def get_task(self, task_id: str) -> TaskRow:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("get_task"), {"id": task_id})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        return TaskRow.from_row(row)

    async def find_task(self, task_id_prefix: str) -> TaskRow:
        """A task by id or by an unambiguous id prefix (handy on a terminal)."""
        async with self.pool.connection() as conn:
            pattern = task_id_prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            cur = await conn.execute(_q("find_by_prefix"), {"pattern": pattern + "%"})
            rows = await cur.fetchall()
        if not rows:
            raise NotFound(f"no task with id {task_id_prefix}")
        if len(rows) > 1 and rows[0]["id"] != task_id_prefix:
            raise NotFound(f"task id prefix {task_id_prefix} is ambiguous; give more characters")
        return TaskRow.from_row(rows[0])

    async def list_tasks(
        self,
        *,
        tenant: str | None = None,
        state: str | None = None,
        agent: str | None = None,
        limit: int = 50,
    ) -> list[TaskRow]:
        params = {"tenant": tenant, "state": state, "agent": agent, "limit": limit}
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("list_tasks"), params)
            rows = await cur.fetchall()
        return [TaskRow.from_row(r) for r in rows]

    async def append_event(
        self, task_id: str, type: str, data: dict[str, Any], *, key: str | None = None
    ) -> tuple[bool, int | None]:
        """Append an event; returns (cancel requested, seq or None when deduplicated)."""
        return await self.append_events(task_id, [(type, data, key)])

    async def append_events(
        self,
        task_id: str,
        events: list[tuple[str, dict[str, Any], str | None]],
        *,
        epoch: int | None = None,
        usage: dict[str, Any] | None = None,
    ) -> tuple[bool, int | None]:
        """Append events in order in one round trip (with the run's usage so far, when
        given); returns (cancel requested, last seq or None when all were duplicates).

        With `epoch`, only while the run still holds its lease: LeaseLost otherwise."""
        params = {
            "task_id": task_id,
            "types": [e[0] for e in events],
            "datas": [Jsonb(e[1]) for e in events],
            "keys": [e[2] for e in events],
            "epoch": epoch,
            "usage": Jsonb(usage) if usage is not None else None,
        }
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(_q("append_events"), params)
                row = await cur.fetchone()
        except psycopg.Error as exc:
            if exc.sqlstate == "WK404":
                raise NotFound(f"no task with id {task_id}") from None
            raise
        assert row is not None
        if row["lease_lost"]:
            raise LeaseLost(f"task {task_id}: this run lost its lease; it stops here")
        return bool(row["cancel_requested"]), row["seq"]

    async def list_events(
        self, task_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[EventRow]:
        params = {"task_id": task_id, "after": after, "limit": limit}
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("list_events"), params)
            rows = await cur.fetchall()
        return [EventRow(**r) for r in rows]


class PostgresTaskChannel:
    """The graph's TaskChannel backed by the events table (see graphs/events.py).

    Events wait in a buffer and go out when the node ends (`flush`), in one statement that
    also saves the run's usage and reads the cancel flag: one round trip per node. A crash
    loses at most the events of the node that was running, and that node runs again on
    resume — under the same keys (`scope` + position), so nothing is recorded twice.
    With a lease epoch, a run that lost its lease writes nothing and gets LeaseLost.
    """

    def __init__(self, records: TaskRecords, task_id: str, *, epoch: int | None = None) -> None:
        self.records = records
        self.task_id = task_id
        self.epoch = epoch
        self._pending: list[tuple[str, dict[str, Any], str | None]] = []
        self._scope: str | None = None  # the node run events are keyed under
        self._position = 0
        self._stop: bool | None = None  # as of the last flush
        self._entry_write: asyncio.Task[tuple[bool, int | None]] | None = None

    async def emit(self, type: str, data: dict[str, Any], *, key: str | None = None) -> None:
        if key is None and self._scope is not None:
            key = f"{self._scope}#{self._position}"
        self._position += 1
        self._pending.append((type, data, key))

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        """Record entering `node`; the stop flag comes from the previous node's flush.

        `scope` names this run of the node (stable when it runs again after a crash), so its
        events are keyed. With `announce`, the entry is written at once, concurrently with
        the node's work, so watchers see a long node while it runs; otherwise it goes with
        the node's flush.
        """
        self._scope, self._position = scope, 0
        await self.emit("node", {"node": node})
        if self._stop is None:
            return await self.flush()
        if announce:
            batch, self._pending = self._pending, []
            self._entry_write = asyncio.ensure_future(
                self.records.append_events(self.task_id, batch, epoch=self.epoch)
            )
        return self._stop

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        """Write buffered events (and `usage`); returns whether the task was asked to stop."""
        if self._entry_write is not None:
            entry, self._entry_write = self._entry_write, None
            self._stop, _ = await entry
        if not self._pending and usage is None:
            task = await self.records.get_task(self.task_id)
            if self.epoch is not None and task.lease_epoch != self.epoch:
                raise LeaseLost(f"task {self.task_id}: this run lost its lease; it stops here")
            self._stop = task.cancel_requested
            return self._stop
        batch, self._pending = self._pending, []
        self._stop, _ = await self.records.append_events(
            self.task_id, batch, epoch=self.epoch, usage=usage
        )
        return self._stop
