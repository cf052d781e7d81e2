"""An agent's memory as the console shows it, read and forgotten with the same calls as
`wakeful memory show|forget` (server/cli/memory.py): L2 from the store, L3 episodes from
Qdrant (ranked with their scores when searched), L4 facts with their history from the
graph, and a small circular graph of the facts' entities."""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphs.agent_memory import AgentMemory
from graphs.spec import MemoryConfig
from memory.facts import Fact
from server.services import Services
from stack.errors import NotFound

GRAPH_SIZE = 360
MAX_GRAPH_NODES = 24


@dataclass
class EpisodeView:
    id: str
    kind: str
    text: str
    importance: int
    created_at: Any
    access_count: int
    consolidated: bool
    score: float | None = None
    relevance: float | None = None


@dataclass
class GraphNode:
    name: str
    x: float
    y: float


@dataclass
class MemoryView:
    summary: str
    episodes: list[EpisodeView] | None  # None: L3 unavailable (see problems)
    facts: list[Fact] | None
    nodes: list[GraphNode] = field(default_factory=list)
    links: list[tuple[GraphNode, GraphNode, Fact]] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


async def agent_memory(
    services: Services, tenant: str, agent: str, *, episodic: bool = True, knowledge: bool = True
) -> AgentMemory:
    """The agent's memory, opening only the tiers asked for (L3 loads the embedder)."""
    await services.agents.get(tenant, agent)  # NotFound for another tenant's agent
    stores = await services.engine.memory(episodic=episodic, knowledge=knowledge)
    return AgentMemory(stores, tenant=tenant, agent=agent, config=MemoryConfig())


def _episodes(memory: AgentMemory, query: str | None, limit: int) -> list[EpisodeView]:
    store = memory.stores.episodic
    assert store is not None
    if query:
        hits = store.search(memory.tenant, memory.agent, query, limit=limit, touch=False)
        pairs = [(h.episode, h.score, h.relevance) for h in hits]
    else:
        pairs = [(e, None, None) for e in store.recent(memory.tenant, memory.agent, limit=limit)]
    return [
        EpisodeView(e.id, e.kind, e.text, e.importance, e.created_at, e.access_count,
                    e.consolidated, score, relevance)
        for e, score, relevance in pairs
    ]


def _facts(memory: AgentMemory, query: str | None, history: bool, limit: int) -> list[Fact]:
    graph = memory.stores.knowledge
    assert graph is not None
    if not query:
        return graph.all_facts(memory.tenant, memory.agent, include_history=history, limit=limit)
    facts: list[Fact] = []
    for hit in graph.search_entities(memory.tenant, memory.agent, query, k=3):
        facts += graph.facts_about(memory.tenant, memory.agent, hit.entity.name,
                                   type=hit.entity.type, include_history=history, limit=limit)
    return list({f.fact_id: f for f in facts}.values())[:limit]


def graph_of(facts: list[Fact]) -> tuple[list[GraphNode], list[tuple[GraphNode, GraphNode, Fact]]]:
    """Entities on a circle, facts as lines between them (the first MAX_GRAPH_NODES)."""
    names: list[str] = []
    for fact in facts:
        for name in (fact.subject.name, fact.object.name):
            if name not in names and len(names) < MAX_GRAPH_NODES:
                names.append(name)
    radius, centre = GRAPH_SIZE / 2 - 50, GRAPH_SIZE / 2
    nodes = {
        name: GraphNode(name, centre + radius * math.cos(2 * math.pi * i / len(names)),
                        centre + radius * math.sin(2 * math.pi * i / len(names)))
        for i, name in enumerate(names)
    }
    links = [
        (nodes[f.subject.name], nodes[f.object.name], f)
        for f in facts if f.subject.name in nodes and f.object.name in nodes
    ]
    return list(nodes.values()), links


async def memory_view(
    services: Services, tenant: str, agent: str, *, query: str | None, history: bool,
    limit: int = 50,
) -> MemoryView:
    memory = await agent_memory(services, tenant, agent)
    stores = memory.stores
    view = MemoryView(await memory.stored_summary(), None, None, problems=dict(stores.problems))
    if stores.episodic is not None:
        view.episodes = await asyncio.to_thread(_episodes, memory, query, limit)
    if stores.knowledge is not None:
        view.facts = await asyncio.to_thread(_facts, memory, query, history, limit)
        view.nodes, view.links = graph_of(view.facts)
    return view


async def forget(services: Services, tenant: str, agent: str, *, episode: str | None = None,
                 fact: str | None = None) -> str:
    """Forget one episode or one fact by its full id; returns what was forgotten."""
    memory = await agent_memory(services, tenant, agent, episodic=episode is not None,
                                knowledge=fact is not None)
    stores = memory.stores
    if episode is not None:
        if stores.episodic is None:
            raise NotFound(f"agent {agent} has no episode {episode} (L3 unavailable)")
        try:
            uuid.UUID(episode)  # Qdrant refuses ids of another shape with an error
        except ValueError:
            raise NotFound(f"agent {agent} has no episode {episode}") from None
        removed = await asyncio.to_thread(stores.episodic.delete, tenant, agent, [episode])
        if not removed:
            raise NotFound(f"agent {agent} has no episode {episode}")
        return f"forgot episode {episode}"
    if fact is not None:
        if stores.knowledge is None:
            raise NotFound(f"agent {agent} has no fact {fact} (L4 unavailable)")
        if not await asyncio.to_thread(stores.knowledge.delete_fact, tenant, agent, fact):
            raise NotFound(f"agent {agent} has no fact {fact}")
        return f"forgot fact {fact}"
    raise NotFound("name an episode or a fact to forget")
