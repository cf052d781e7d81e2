"""The idempotency ledger: a Postgres record of side-effecting tool calls per (task, call id).

`begin` writes "started" before the tool runs and hands back any earlier record of the same
call; `complete` / `fail` write the outcome after. A resumed run that finds "completed" can
return the recorded result instead of acting again; "started" alone means the earlier attempt
died mid-call and its outcome is unknown; `has_unknown_outcome` finds such a call for a new
call id with the same tool and arguments. Queries live in tools/ledger.sql.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict

from stack.errors import WakefulError
from stack.sql import load_queries

LedgerStatus = Literal["started", "completed", "failed"]
_QUERIES = Path(__file__).with_suffix(".sql")


class LedgerError(WakefulError):
    """The ledger has no "started" record to finish for this tool call."""


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


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class ToolLedger:
    """Ledger operations over a psycopg AsyncConnectionPool (autocommit recommended)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

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
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_q("get_entry"), {"task_id": task_id, "tool_call_id": tool_call_id})
            row = await cur.fetchone()
        return LedgerEntry.model_validate(row) if row else None

    async def has_unknown_outcome(
        self, task_id: str, tool: str, args_hash: str, *, excluding: str = ""
    ) -> bool:
        """Whether another call of `tool` with these arguments in this task started and never
        finished (its process died mid-call). `excluding` is the asking call's own id.

        A repeat of such a call could do the same thing twice, so it needs approval.
        """
        params = {
            "task_id": task_id,
            "tool": tool,
            "args_hash": args_hash,
            "tool_call_id": excluding,
        }
        async with self._pool.connection() as conn:
            cur = await conn.execute(_q("has_unknown_outcome"), params)
            row = await cur.fetchone()
        return bool(row and (row["found"] if isinstance(row, dict) else row[0]))

    async def complete(self, task_id: str, tool_call_id: str, result: str) -> None:
        """Record the result the model was given for a call that ran to the end."""
        await self._finish(task_id, tool_call_id, "completed", result)

    async def fail(self, task_id: str, tool_call_id: str, error: str) -> None:
        """Record the error the model was given for a call that raised."""
        await self._finish(task_id, tool_call_id, "failed", error)

    async def _finish(
        self, task_id: str, tool_call_id: str, status: LedgerStatus, result: str
    ) -> None:
        params = {
            "task_id": task_id,
            "tool_call_id": tool_call_id,
            "status": status,
            "result": result,
        }
        async with self._pool.connection() as conn:
            cur = await conn.execute(_q("finish"), params)
            if cur.rowcount != 1:
                raise LedgerError(
                    f"tool call {tool_call_id!r} of task {task_id!r} has no 'started' ledger "
                    f"record to mark {status}"
                )
