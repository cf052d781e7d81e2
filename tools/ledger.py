"""The idempotency ledger: a Postgres record of side-effecting tool calls per (task, call id).

`begin` writes "started" before the tool runs and hands back any earlier record of the same
call; `complete` / `fail` write the outcome after. A resumed run that finds "completed" can
return the recorded result instead of acting again.

A call may also end with its outcome unknown: `mark_unknown` when it timed out, lost its
connection or was cancelled mid-call, or "started" alone when the process died mid-call.
Such a call waits for a person's answer to "did this happen?", recorded by `decide`: done
(it happened: completed), retry (run it again: started again), skip (it did not happen:
skipped). A new call repeating an unresolved one (same tool and arguments, another id) is
recorded "held" by `hold` and waits for the same answer. Queries live in tools/ledger.sql.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from stack.errors import WakefulError
from stack.sql import load_queries

LedgerStatus = Literal["started", "completed", "failed", "unknown", "held", "skipped"]
UNRESOLVED: frozenset[str] = frozenset({"started", "unknown", "held"})
"""Statuses that wait for a person: the call may have taken effect (or stands in for one)."""
LedgerAction = Literal["done", "retry", "skip", "unfit"]
"""An answer to "did this happen?"; `unfit` records an answer that was not one of the three
(it changes nothing, and the question is asked again)."""
_QUERIES = Path(__file__).with_suffix(".sql")


class LedgerError(WakefulError):
    """The ledger has no "started" record to finish for this tool call."""


class LedgerDecision(BaseModel):
    """One answer given for a call whose outcome was unknown."""

    model_config = ConfigDict(frozen=True)

    action: str
    decided_by: str
    comment: str | None = None
    at: datetime
    via: str | None = None  # the held repeat whose answer settled this call


class LedgerEntry(BaseModel):
    """One recorded tool call."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    tool_call_id: str
    tool: str
    args_hash: str
    status: LedgerStatus
    result: str | None
    started_at: datetime
    completed_at: datetime | None
    unknown_reason: str | None = None
    repeat_of: str | None = None  # for a held call: the unresolved call it repeats
    decisions: list[LedgerDecision] = Field(default_factory=list)

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class ToolLedger:
    """Ledger operations over a psycopg AsyncConnectionPool (autocommit recommended)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @property
    def pool(self) -> AsyncConnectionPool:
        return self._pool

    async def begin(
        self, task_id: str, tool_call_id: str, *, tool: str, args_hash: str
    ) -> LedgerEntry | None:
        """Record "started" for a new call; for a call seen before, return its record."""
        key = {"task_id": task_id, "tool_call_id": tool_call_id}
        async with self._pool.connection() as conn:
            inserted = await conn.execute(
                _q("insert_started"), {**key, "tool": tool, "args_hash": args_hash}
            )
            if await inserted.fetchone() is not None:
                return None
        # Read in a new statement so a row committed by a concurrent begin is visible.
        return await self.get(task_id, tool_call_id)

    async def get(self, task_id: str, tool_call_id: str) -> LedgerEntry | None:
        return await self._one("get_entry", {"task_id": task_id, "tool_call_id": tool_call_id})

    async def find_unknown(
        self, task_id: str, tool: str, args_hash: str, *, excluding: str = ""
    ) -> LedgerEntry | None:
        """Another call of `tool` with these arguments in this task whose outcome is unknown
        and not yet settled by a person. `excluding` is the asking call's own id."""
        params = {
            "task_id": task_id,
            "tool": tool,
            "args_hash": args_hash,
            "tool_call_id": excluding,
        }
        return await self._one("find_unknown", params)

    async def has_unknown_outcome(
        self, task_id: str, tool: str, args_hash: str, *, excluding: str = ""
    ) -> bool:
        """Whether `find_unknown` finds a call: a repeat of it could do the same thing twice."""
        return await self.find_unknown(task_id, tool, args_hash, excluding=excluding) is not None

    async def complete(self, task_id: str, tool_call_id: str, result: str) -> None:
        """Record the result the model was given for a call that ran to the end."""
        await self._finish("finish", task_id, tool_call_id, status="completed", result=result)

    async def fail(self, task_id: str, tool_call_id: str, error: str) -> None:
        """Record the error the model was given for a call that raised."""
        await self._finish("finish", task_id, tool_call_id, status="failed", result=error)

    async def mark_unknown(
        self, task_id: str, tool_call_id: str, *, reason: str, detail: str
    ) -> None:
        """Record that the call started and may or may not have taken effect (`reason`:
        timeout, connection_lost, canceled)."""
        await self._finish(
            "mark_unknown", task_id, tool_call_id, status="unknown", reason=reason, result=detail
        )

    async def hold(
        self, task_id: str, tool_call_id: str, *, tool: str, args_hash: str, repeat_of: str
    ) -> LedgerEntry:
        """Record a new call that repeats the unresolved call `repeat_of`; it does not run
        until a person answers. Returns its record (an existing one if already recorded)."""
        params = {
            "task_id": task_id,
            "tool_call_id": tool_call_id,
            "tool": tool,
            "args_hash": args_hash,
            "repeat_of": repeat_of,
        }
        async with self._pool.connection() as conn:
            await conn.execute(_q("insert_held"), params)
        entry = await self.get(task_id, tool_call_id)
        assert entry is not None
        return entry

    async def decide(
        self,
        task_id: str,
        tool_call_id: str,
        *,
        index: int,
        action: LedgerAction,
        decided_by: str,
        comment: str | None = None,
    ) -> LedgerEntry:
        """Apply answer number `index` (0 for the first) to an unresolved call, once.

        done: completed, with `comment` as its result; retry: started again (the caller then
        runs it); skip: skipped. For a held call the call it repeats is settled with it.
        An answer whose index was already applied changes nothing. Returns the record.
        """
        key = {"task_id": task_id, "tool_call_id": tool_call_id}
        params = {**key, "index": index, "action": action, "decided_by": decided_by}
        params["comment"] = comment
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_q("decide"), params)
            row = await cur.fetchone()
            repeat_of = _first(row) if row is not None else None
            if repeat_of and action != "unfit":
                earlier = {**params, "tool_call_id": repeat_of, "via": tool_call_id}
                await conn.execute(_q("settle_repeated"), earlier)
        entry = await self.get(task_id, tool_call_id)
        if entry is None:
            raise LedgerError(f"tool call {tool_call_id!r} of task {task_id!r} has no record")
        return entry

    async def _one(self, query: str, params: dict[str, object]) -> LedgerEntry | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_q(query), params)
            row = await cur.fetchone()
        return LedgerEntry.model_validate(row) if row else None

    async def _finish(
        self, query: str, task_id: str, tool_call_id: str, *, status: str, **fields: str
    ) -> None:
        params = {"task_id": task_id, "tool_call_id": tool_call_id, "status": status, **fields}
        async with self._pool.connection() as conn:
            cur = await conn.execute(_q(query), params)
            if cur.rowcount != 1:
                raise LedgerError(
                    f"tool call {tool_call_id!r} of task {task_id!r} has no 'started' ledger "
                    f"record to mark {status}"
                )


def _first(row: object) -> str | None:
    """The first column of a row, whatever the pool's row factory."""
    value = next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index]
    return None if value is None else str(value)
