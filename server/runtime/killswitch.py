"""The global kill switch: one flag for every process sharing the database.

On: every task that has not ended is stopped (running ones at their next node boundary,
their in-flight model call abandoned at once; queued or waiting ones end canceled now), no
iteration of a continuous agent starts, and new tasks are refused. Off: scheduling resumes,
with one catch-up iteration per agent whose tick was missed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from server.runtime.task_control import TaskControl
from stack.sql import load_queries
from stack.task_records import TaskRow

_QUERIES = Path(__file__).with_suffix(".sql")


@dataclass(frozen=True)
class KillSwitchState:
    on: bool
    changed_by: str | None
    changed_at: datetime | None


class KillSwitch:
    def __init__(self, pool: AsyncConnectionPool, control: TaskControl) -> None:
        self.pool = pool
        self.control = control

    async def set(self, on: bool, by: str) -> list[TaskRow]:
        """Flip the switch; returns the tasks it stopped (none when turned off)."""
        async with self.pool.connection() as conn:
            await conn.execute(load_queries(_QUERIES)["set_killswitch"], {"on": on, "by": by})
        if not on:
            return []
        return await self.control.cancel_all(by=f"killswitch ({by})")

    async def is_on(self) -> bool:
        return (await self.state()).on

    async def state(self) -> KillSwitchState:
        async with self.pool.connection() as conn:
            cur = await conn.execute(load_queries(_QUERIES)["get_killswitch"])
            row = await cur.fetchone()
        if row is None:
            return KillSwitchState(False, None, None)
        return KillSwitchState(bool(row["value"]), row["changed_by"], row["changed_at"])
