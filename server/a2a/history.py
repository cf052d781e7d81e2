"""The client's own message ids in a task's history: the A2A message that created a task is
recorded with its `messageId`, so GetTask shows the history the client sent (our tasks table
keeps only the goal's text)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")


async def record_message(pool: AsyncConnectionPool, task_id: str, message_id: str) -> None:
    if not message_id:
        return
    async with pool.connection() as conn:
        await conn.execute(
            load_queries(_QUERIES)["record_message"], {"task_id": task_id, "id": message_id}
        )


async def goal_message_ids(pool: AsyncConnectionPool, task_ids: Iterable[str]) -> dict[str, str]:
    """task id → the messageId of the message that created it (A2A tasks only)."""
    ids = list(task_ids)
    if not ids:
        return {}
    async with pool.connection() as conn:
        cur = await conn.execute(load_queries(_QUERIES)["goal_message_ids"], {"ids": ids})
        rows = await cur.fetchall()
    return {row["task_id"]: row["message_id"] for row in rows}
