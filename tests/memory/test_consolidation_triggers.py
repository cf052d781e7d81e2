"""The dreamer's runtime triggers: every N-th iteration of an agent and when it is idle,
on real stores (Qdrant local, the graph over Bolt, the LangGraph Postgres store); only the
consolidator model is scripted."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langgraph.store.postgres.aio import AsyncPostgresStore

from graphs.agent_memory import AgentMemory, MemoryStores
from graphs.spec import MemoryConfig
from memory.consolidation import ConsolidationPolicy, Consolidator
from memory.episodic import EpisodicMemory
from memory.knowledge_graph import KnowledgeGraph

AGENT = "ops"  # the agent test_consolidation's episodes belong to


def _dreamer_tests() -> Any:
    """tests/memory/test_consolidation.py: its scripted consolidator and episodes."""
    path = Path(__file__).with_name("test_consolidation.py")
    spec = importlib.util.spec_from_file_location("wakeful_tests_consolidation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves its models' annotations there
    spec.loader.exec_module(module)
    return module


_dreamer = _dreamer_tests()
DEPENDS, ScriptedConsolidator = _dreamer.DEPENDS, _dreamer.ScriptedConsolidator
write_related = _dreamer.write_related


@pytest.fixture
async def summaries(pg_url: str) -> AsyncIterator[AsyncPostgresStore]:
    async with AsyncPostgresStore.from_conn_string(pg_url) as store:
        await store.setup()
        yield store


def memory_for(
    summaries: AsyncPostgresStore,
    episodic: EpisodicMemory,
    graph: KnowledgeGraph,
    tenant: str,
    policy: ConsolidationPolicy,
    replies: int = 1,
) -> AgentMemory:
    model = ScriptedConsolidator(replies=[{"facts": [{**DEPENDS, "sources": [1, 2, 3]}]}] * replies)
    stores = MemoryStores(summaries=summaries, episodic=episodic, knowledge=graph)
    consolidator = Consolidator(episodic, graph, model, policy=policy)
    config = MemoryConfig(knowledge=True, episodic=True)
    return AgentMemory(stores, tenant=tenant, agent=AGENT, config=config, consolidator=consolidator)


def finished_run() -> tuple[dict[str, Any], Any]:
    state = {"goal": "Watch billing", "stop_reason": "completed", "output": "ok", "messages": []}
    deps = SimpleNamespace(task_id=f"task-{uuid.uuid4().hex[:8]}", toolset=None)
    return state, deps


async def until_consolidated(episodic: EpisodicMemory, tenant: str, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while episodic.unconsolidated_stats(tenant, AGENT).count:
        assert asyncio.get_running_loop().time() < deadline, "no consolidation in time"
        await asyncio.sleep(0.1)


async def test_every_nth_iteration_consolidates(
    summaries: AsyncPostgresStore, episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    policy = ConsolidationPolicy(
        importance_threshold=10_000, every_n_iterations=3, idle_after=timedelta(hours=1)
    )
    memory = memory_for(summaries, episodic, graph, tenant, policy)
    for iteration in (1, 2):
        await memory.memorize(*finished_run())
        await memory.stores.drain()
        assert (await memory.activity())["iterations"] == iteration
        assert episodic.unconsolidated_stats(tenant, AGENT).count > 0  # not yet due
    write_related(episodic, tenant)
    await memory.memorize(*finished_run())
    await memory.stores.drain()
    assert (await memory.activity())["iterations"] == 3
    assert episodic.unconsolidated_stats(tenant, AGENT).count == 0
    facts = graph.facts_about(tenant, AGENT, "billing-api", type="service")
    assert [f.predicate for f in facts] == ["depends_on"]


async def test_an_idle_agent_consolidates(
    summaries: AsyncPostgresStore, episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    policy = ConsolidationPolicy(
        importance_threshold=10_000, every_n_iterations=1_000, idle_after=timedelta(seconds=1)
    )
    memory = memory_for(summaries, episodic, graph, tenant, policy)
    write_related(episodic, tenant)
    ended = datetime.now(UTC)
    await memory.memorize(*finished_run())
    assert episodic.unconsolidated_stats(tenant, AGENT).count > 0  # not due on the run itself
    await until_consolidated(episodic, tenant)
    assert datetime.now(UTC) - ended >= timedelta(seconds=1)
    await memory.stores.drain()
    assert graph.facts_about(tenant, AGENT, "billing-api", type="service")


async def test_a_new_run_keeps_the_agent_from_counting_as_idle(
    summaries: AsyncPostgresStore, episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    policy = ConsolidationPolicy(
        importance_threshold=10_000, every_n_iterations=1_000, idle_after=timedelta(seconds=1)
    )
    memory = memory_for(summaries, episodic, graph, tenant, policy)
    write_related(episodic, tenant)
    await memory.memorize(*finished_run())
    timer = memory.stores.idle_timers[(tenant, AGENT)]
    await memory.recall({"goal": "Watch billing"}, SimpleNamespace(channel=_Quiet()))
    assert (tenant, AGENT) not in memory.stores.idle_timers
    with pytest.raises(asyncio.CancelledError):
        await timer

    # A run elsewhere (another worker process) shows up in the store: the timer stands down.
    await memory.memorize(*finished_run())
    timer = memory.stores.idle_timers[(tenant, AGENT)]
    other = AgentMemory(
        memory.stores, tenant=tenant, agent=AGENT, config=memory.config, consolidator=None
    )
    await other.record_iteration()
    await asyncio.wait_for(timer, timeout=60)
    await memory.stores.drain()
    assert episodic.unconsolidated_stats(tenant, AGENT).count > 0


class _Quiet:
    async def emit(self, *args: Any, **kwargs: Any) -> None:
        return None
