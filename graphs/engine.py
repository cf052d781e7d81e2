"""The durable pieces a run needs, opened once per process: Postgres pool, migrations,
the LangGraph checkpointer, task records, the tool ledger and the compiled graph."""

from __future__ import annotations

from dataclasses import dataclass

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph
from psycopg_pool import AsyncConnectionPool

from graphs.graph import build_graph
from stack.migrate import apply_migrations
from stack.postgres import ensure_postgres, open_pool
from stack.settings import Settings
from stack.task_records import TaskRecords
from tools.ledger import ToolLedger


@dataclass
class Engine:
    settings: Settings
    url: str
    pool: AsyncConnectionPool
    checkpointer: AsyncPostgresSaver
    records: TaskRecords
    ledger: ToolLedger
    graph: CompiledStateGraph

    @classmethod
    async def open(cls, settings: Settings, *, url: str | None = None) -> Engine:
        url = url or ensure_postgres(settings)
        await apply_migrations(url)
        pool = await open_pool(url)
        checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await checkpointer.setup()
        return cls(
            settings=settings,
            url=url,
            pool=pool,
            checkpointer=checkpointer,
            records=TaskRecords(pool),
            ledger=ToolLedger(pool),
            graph=build_graph(checkpointer),
        )

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
