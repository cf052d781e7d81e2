"""What an operator asks about an agent: is it scheduled, how did its runs go, what waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from psycopg_pool import AsyncConnectionPool

from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")


@dataclass(frozen=True)
class AgentStatus:
    name: str
    state: Literal["active", "paused"]
    continuous: bool
    interval_seconds: float | None
    running_task_id: str | None  # the iteration that has not ended yet
    last_started_at: datetime | None
    last_completed_at: datetime | None
    last_succeeded_at: datetime | None
    last_outcome: str | None  # stop reason of the last iteration that ended
    consecutive_failures: int
    next_run_at: datetime | None  # None: not continuous, or waiting for a running iteration
    queue_depth: int  # tasks of this agent waiting for a worker
    tokens_today: int  # used by iterations since midnight UTC
    daily_token_budget: int | None
    open_alerts: int
    killswitch: bool  # the global kill switch is on: nothing is scheduled

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgentStatus:
        autonomous = (row["spec"] or {}).get("autonomous") or {}
        running = row["current_task_id"]
        return cls(
            name=row["name"],
            state="paused" if row["paused"] else "active",
            continuous=row["continuous"],
            interval_seconds=row["interval_seconds"],
            running_task_id=running,
            last_started_at=row["last_started_at"],
            last_completed_at=row["last_completed_at"],
            last_succeeded_at=row["last_succeeded_at"],
            last_outcome=row["last_outcome"],
            consecutive_failures=row["consecutive_failures"],
            next_run_at=None if running else row["next_run_at"],
            queue_depth=int(row["queue_depth"]),
            tokens_today=int(row["tokens_today"]),
            daily_token_budget=autonomous.get("daily_token_budget"),
            open_alerts=int(row["open_alerts"]),
            killswitch=bool(row["killswitch"]),
        )


async def agent_status(pool: AsyncConnectionPool, tenant: str, name: str) -> AgentStatus | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            load_queries(_QUERIES)["agent_status"], {"tenant": tenant, "name": name}
        )
        row = await cur.fetchone()
    return AgentStatus.from_row(row) if row else None
