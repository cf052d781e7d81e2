"""The durable pieces a run needs, opened once per process: Postgres pool, migrations,
the LangGraph checkpointer and store, task records, the task lifecycle and the heartbeat of
its run leases, the tool ledger, the compiled graph, the MCP servers kept for runs waiting
for a person, and (on first use) the memory tiers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import psycopg
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg_pool import AsyncConnectionPool

from graphs.agent_memory import MemoryStores
from graphs.graph import build_graph
from graphs.lean_saver import LeanPostgresSaver
from graphs.toolboxes import TaskToolboxes
from stack.errors import ServiceUnavailable
from stack.leases import LeaseKeeper
from stack.lifecycle import TaskLifecycle
from stack.migrate import apply_migrations
from stack.postgres import ensure_postgres, open_pool
from stack.settings import Settings
from stack.task_records import TaskRecords
from tools.ledger import ToolLedger

log = logging.getLogger(__name__)
_LANGGRAPH_SETUP_LOCK = 0x77616B6C  # "wakl"


@dataclass
class Engine:
    settings: Settings
    url: str
    pool: AsyncConnectionPool
    checkpointer: LeanPostgresSaver
    records: TaskRecords
    lifecycle: TaskLifecycle
    leases: LeaseKeeper
    ledger: ToolLedger
    graph: CompiledStateGraph
    store: AsyncPostgresStore
    toolboxes: TaskToolboxes
    _memory: MemoryStores | None = field(default=None, repr=False)
    _memory_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @classmethod
    async def open(cls, settings: Settings, *, url: str | None = None) -> Engine:
        url = url or ensure_postgres(settings)
        await apply_migrations(url)
        pool = await open_pool(url, max_size=settings.db_pool_size or 10)
        checkpointer = LeanPostgresSaver(pool)  # type: ignore[arg-type]
        store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
        # LangGraph's own migrations race when processes start together on a fresh
        # database (UniqueViolation, deadlocks on its concurrent index builds): one at a time.
        # The lock is polled, not waited on: a session blocked in pg_advisory_lock holds a
        # snapshot, which the holder's CREATE INDEX CONCURRENTLY would wait for forever.
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as lock:
            while not (await (await lock.execute(
                "SELECT pg_try_advisory_lock(%s)", (_LANGGRAPH_SETUP_LOCK,))).fetchone())[0]:
                await asyncio.sleep(0.1)
            try:
                await checkpointer.setup()
                await store.setup()
            finally:
                await lock.execute("SELECT pg_advisory_unlock(%s)", (_LANGGRAPH_SETUP_LOCK,))
        return cls(
            settings=settings,
            url=url,
            pool=pool,
            checkpointer=checkpointer,
            records=TaskRecords(pool),
            lifecycle=TaskLifecycle(pool),
            leases=LeaseKeeper(url, lease_seconds=settings.lease_seconds),
            ledger=ToolLedger(pool),
            graph=build_graph(checkpointer),
            store=store,
            toolboxes=TaskToolboxes(settings, pool),
        )

    async def memory(self, *, episodic: bool = True, knowledge: bool = True) -> MemoryStores:
        """The memory tiers, each opened on first use by a run that wants it: L3 in
        Qdrant, L4 in the graph database; L2 summaries live in the Postgres store.

        A tier that cannot be opened is recorded with the reason, and runs go on without it.
        """
        async with self._memory_lock:
            if self._memory is None:
                self._memory = MemoryStores(summaries=self.store)
            stores = self._memory
            if episodic and stores.episodic is None and "episodic" not in stores.problems:
                await asyncio.to_thread(self._open_episodic, stores)
            if knowledge and stores.knowledge is None and "knowledge" not in stores.problems:
                await asyncio.to_thread(self._open_knowledge, stores)
            return stores

    def _open_episodic(self, stores: MemoryStores) -> None:
        from memory.embeddings import shared_embedder
        from memory.episodic import EpisodicMemory
        from stack.qdrant import open_qdrant

        try:
            stores.qdrant = open_qdrant(self.settings)
        except ServiceUnavailable as exc:
            log.warning("episodic memory (L3) unavailable: %s", exc)
            stores.problems["episodic"] = str(exc)
            return
        stores.episodic = EpisodicMemory(
            stores.qdrant, embedder=shared_embedder(self.settings.embedding_model)
        )

    def _open_knowledge(self, stores: MemoryStores) -> None:
        from memory.knowledge_graph import KnowledgeGraph
        from stack.graphdb import ensure_graphdb

        try:
            stores.knowledge = KnowledgeGraph.from_endpoint(ensure_graphdb(self.settings))
        except ServiceUnavailable as exc:
            log.warning("knowledge graph (L4) unavailable: %s", exc)
            stores.problems["knowledge"] = str(exc)

    async def close(self) -> None:
        await self.toolboxes.aclose()
        if self._memory is not None:
            await self._memory.drain()
            await asyncio.to_thread(self._close_memory, self._memory)
            self._memory = None
        await asyncio.to_thread(self.leases.close)
        await self.pool.close()

    def _close_memory(self, stores: MemoryStores) -> None:
        if stores.knowledge is not None:
            from stack.graphdb import release_graphdb

            stores.knowledge.close()
            release_graphdb(self.settings)
        if stores.qdrant is not None:
            from stack.qdrant import release_qdrant

            release_qdrant(stores.qdrant)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
