"""The Postgres checkpointer the engine runs on: AsyncPostgresSaver, the same tables, the
same statements and the same durability, minus two costs it pays on every node step.

- It serialises a checkpoint's blobs and a task's writes on a worker thread
  (`asyncio.to_thread`): for an agent's state that is tens of microseconds of msgpack
  against a thread hop that costs milliseconds on a loaded machine. Here it is inline.
- It holds one process-wide asyncio.Lock around every statement, which a single shared
  connection needs but a pool does not: every concurrent run in the process then waits
  for every other run's checkpoint. On a pool, each call takes its own connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from graphs.checkpoint_events import APPEND_EVENTS, EventOutbox, Parked
from stack.errors import LeaseLost


class LeanPostgresSaver(AsyncPostgresSaver):
    outbox: EventOutbox | None  # on a pool only: one connection pipelines anyway

    def __init__(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        self.outbox = EventOutbox() if isinstance(conn, AsyncConnectionPool) else None

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if not isinstance(self.conn, AsyncConnectionPool) or self.pipe is not None:
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        async with self.conn.connection() as conn:
            if pipeline and self.supports_pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            elif pipeline:
                async with (
                    conn.transaction(),
                    conn.cursor(binary=True, row_factory=dict_row) as cur,
                ):
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        # AsyncPostgresSaver.aput (langgraph-checkpoint-postgres 3.2.0), blobs dumped inline.
        configurable = config["configurable"].copy()
        thread_id = configurable.pop("thread_id")
        checkpoint_ns = configurable.pop("checkpoint_ns")
        checkpoint_id = configurable.pop("checkpoint_id", None)
        copy = checkpoint.copy()
        copy["channel_values"] = copy["channel_values"].copy()
        blob_values = {}
        for k, v in checkpoint["channel_values"].items():
            if isinstance(v, _DeltaSnapshot):
                blob_values[k] = copy["channel_values"].pop(k)
                copy["channel_values"][k] = True
            elif v is None or isinstance(v, (str, int, float, bool)):
                pass
            else:
                blob_values[k] = copy["channel_values"].pop(k)
        blob_versions = {k: v for k, v in new_versions.items() if k in blob_values}
        blobs = (
            self._dump_blobs(thread_id, checkpoint_ns, blob_values, blob_versions)
            if blob_versions
            else None
        )
        row = (
            thread_id,
            checkpoint_ns,
            checkpoint["id"],
            checkpoint_id,
            Jsonb(copy),
            Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
        )
        parked = self.outbox.take(thread_id) if self.outbox and checkpoint_ns == "" else None
        if parked is not None:
            async with self.conn.connection() as conn:  # type: ignore[union-attr]
                await self._put_with_events(conn, parked, blobs, row)
        else:
            async with self._cursor(pipeline=True) as cur:
                if blobs:
                    await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
                await cur.execute(self.UPSERT_CHECKPOINTS_SQL, row)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        query = (
            self.UPSERT_CHECKPOINT_WRITES_SQL
            if all(w[0] in WRITES_IDX_MAP for w in writes)
            else self.INSERT_CHECKPOINT_WRITES_SQL
        )
        configurable = config["configurable"]
        params = self._dump_writes(
            configurable["thread_id"],
            configurable["checkpoint_ns"],
            configurable["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        if self.outbox and configurable["checkpoint_ns"] == "" and self.outbox.defer_writes(
            configurable["thread_id"], task_id, query, params
        ):
            return  # written with the step's checkpoint (aput)
        async with self._cursor(pipeline=True) as cur:
            await cur.executemany(query, params)

    async def _put_with_events(
        self, conn: AsyncConnection, parked: Parked, blobs: Any, row: tuple[Any, ...]
    ) -> None:
        """The node run's writes, its events and usage, and the checkpoint, in one
        transaction; nothing at all when the run lost its lease."""
        async with (
            conn.pipeline() if self.supports_pipeline else nullcontext(),
            conn.transaction(),
            conn.cursor(binary=True, row_factory=dict_row) as cur,
            conn.cursor(row_factory=dict_row) as events,
        ):
            for query, params in parked.writes:
                await cur.executemany(query, params)
            if blobs:
                await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
            await cur.execute(self.UPSERT_CHECKPOINTS_SQL, row)
            # last: the task row stays locked from here to the commit
            await events.execute(APPEND_EVENTS, parked.params())
            result = await events.fetchone()
            assert result is not None
            if result["lease_lost"]:
                raise LeaseLost(f"task {parked.channel.task_id}: this run lost its lease")
        parked.channel.written(result)
