"""Task lifecycle moves the runtime makes outside a graph run: a job claiming its task,
cancel (now, or at the next boundary), the kill switch, answering an approval, and waiting
for one again.

Each move is one statement that locks the row, so concurrent callers (two workers, a cancel
racing a claim) see one order; each move that changes the state records a state_change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from graphs.events import STATE_CHANGE
from stack.errors import Conflict, NotFound
from stack.sql import load_queries
from stack.task_records import TaskRecords, TaskRow

_QUERIES = Path(__file__).with_suffix(".sql")


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class TaskControl:
    def __init__(self, records: TaskRecords) -> None:
        self.records = records
        self.pool = records.pool

    async def claim(self, task_id: str) -> tuple[TaskRow, str] | None:
        """Take the task for a run: (row, previous state), or None when it must not run."""
        row = await self._one(_q("claim_task"), {"id": task_id})
        if row is None:
            return None
        task, previous = TaskRow.from_row(row), row["previous_state"]
        if task.state == "canceled":  # the kill switch is on
            await self._record(task, previous, by="killswitch")
            return None
        return task, previous

    async def cancel(self, task_id: str, *, by: str) -> TaskRow:
        """Cancel: a queued or waiting task ends now; a running one stops at its next boundary."""
        row = await self._one(_q("cancel_tasks"), {"id": task_id})
        if row is None:
            task = await self.records.get_task(task_id)  # NotFound when there is none
            raise Conflict(f"task {task_id} already ended: {task.state}")
        task = TaskRow.from_row(row)
        if task.state == "canceled":
            await self._record(task, row["previous_state"], by=by)
        return task

    async def cancel_all(self, *, by: str) -> list[TaskRow]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("cancel_tasks"), {"id": None})
            rows = await cur.fetchall()
        tasks = []
        for row in rows:
            task = TaskRow.from_row(row)
            if task.state == "canceled":
                await self._record(task, row["previous_state"], by=by)
            tasks.append(task)
        return tasks

    async def answer(self, conn: AsyncConnection[Any], tenant: str, task_id: str) -> TaskRow:
        """In the caller's transaction: input-required → working; Conflict unless waiting."""
        cur = await conn.execute(_q("answer_task"), {"id": task_id, "tenant": tenant})
        row = await cur.fetchone()
        if row is None:
            raise Conflict(f"task {task_id} is not waiting for an approval")
        return TaskRow.from_row(row)

    async def park(self, task_id: str) -> TaskRow:
        row = await self._one(_q("park_task"), {"id": task_id})
        if row is None:
            raise NotFound(f"no working task with id {task_id}")
        return TaskRow.from_row(row)

    async def record_state_change(
        self, task: TaskRow, previous: str, **extra: Any
    ) -> None:
        await self._record(task, previous, **extra)

    async def _record(self, task: TaskRow, previous: str, **extra: Any) -> None:
        data = {"from": previous, "to": task.state, "stop_reason": task.stop_reason, **extra}
        await self.records.append_event(task.id, STATE_CHANGE, data)

    async def _one(self, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()
