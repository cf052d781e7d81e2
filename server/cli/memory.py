"""`wakeful memory show|forget`: look into an agent's memory tiers, and make it forget."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from graphs.agent_memory import AgentMemory
from graphs.engine import Engine
from graphs.spec import MemoryConfig
from server.cli.common import (
    console,
    handle_errors,
    open_engine,
    run_async,
    settings,
    unique_prefix_match,
)
from stack.errors import ConfigError, NotFound

app = typer.Typer(help="Inspect and prune an agent's memory.", no_args_is_help=True)

TenantOption = Annotated[str, typer.Option(help="the agent's tenant")]


class Tier(StrEnum):
    l2 = "l2"
    l3 = "l3"
    l4 = "l4"


async def _memory(engine: Engine, tenant: str, agent: str) -> AgentMemory:
    stores = await engine.memory()
    return AgentMemory(stores, tenant=tenant, agent=agent, config=MemoryConfig())


def _when(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if hasattr(moment, "strftime") else ""


@app.command("show")
@handle_errors
def show(
    agent: Annotated[str, typer.Argument(help="agent name")],
    tier: Annotated[Tier | None, typer.Option(help="only this tier")] = None,
    query: Annotated[str | None, typer.Option(help="rank episodes / entities by relevance")] = None,
    history: Annotated[bool, typer.Option(help="L4: include invalidated facts")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    tenant: TenantOption = "local",
) -> None:
    """The running summary (L2), episodes (L3) and facts (L4) of an agent."""
    config = settings()
    tiers = {tier} if tier else set(Tier)

    async def main() -> None:
        async with open_engine(config) as engine:
            memory = await _memory(engine, tenant, agent)
            if Tier.l2 in tiers:
                console.rule(f"L2 running summary · {agent}")
                console.print(await memory.stored_summary() or "(none)")
            if Tier.l3 in tiers:
                await _show_episodes(memory, query, limit)
            if Tier.l4 in tiers:
                await _show_facts(memory, query, history, limit)

    run_async(main())


async def _show_episodes(memory: AgentMemory, query: str | None, limit: int) -> None:
    store = memory.stores.episodic
    if store is None:
        console.print(f"L3 unavailable: {memory.stores.problems.get('episodic')}")
        return
    if query:
        hits = await asyncio.to_thread(
            store.search, memory.tenant, memory.agent, query, limit=limit, touch=False
        )
        rows = [(h.episode, f"{h.score:.3f}") for h in hits]
    else:
        rows = [(e, "") for e in await asyncio.to_thread(
            store.recent, memory.tenant, memory.agent, limit=limit)]
    table = Table(title=f"L3 episodes ({len(rows)})")
    for column in ("id", "kind", "imp", "created", "accessed", "cons.", "score", "text"):
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for episode, score in rows:
        table.add_row(
            str(episode.id), episode.kind, str(episode.importance), _when(episode.created_at),
            f"{episode.access_count}×", "yes" if episode.consolidated else "", score,
            episode.text[:200],
        )
    console.print(table)


async def _show_facts(memory: AgentMemory, query: str | None, history: bool, limit: int) -> None:
    graph = memory.stores.knowledge
    if graph is None:
        console.print(f"L4 unavailable: {memory.stores.problems.get('knowledge')}")
        return

    def read() -> list:
        if not query:
            return graph.all_facts(
                memory.tenant, memory.agent, include_history=history, limit=limit
            )
        facts = []
        for hit in graph.search_entities(memory.tenant, memory.agent, query, k=3):
            facts += graph.facts_about(
                memory.tenant, memory.agent, hit.entity.name, type=hit.entity.type,
                include_history=history, limit=limit,
            )
        return list({f.fact_id: f for f in facts}.values())[:limit]

    facts = await asyncio.to_thread(read)
    table = Table(title=f"L4 facts ({len(facts)}{', with history' if history else ''})")
    for column in ("id", "subject", "predicate", "object", "valid", "status", "fact"):
        table.add_column(column, overflow="fold" if column == "fact" else "ellipsis")
    for fact in facts:
        status = "current" if fact.expired_at is None and fact.invalid_at is None else (
            f"invalid {_when(fact.invalid_at or fact.expired_at)}"
        )
        table.add_row(
            fact.fact_id, fact.subject.name, fact.predicate, fact.object.name,
            _when(fact.valid_at), status, fact.fact,
        )
    console.print(table)


@app.command("forget")
@handle_errors
def forget(
    agent: Annotated[str, typer.Argument(help="agent name")],
    episode: Annotated[
        str | None, typer.Option(help="forget this L3 episode (id, or its start as shown)")
    ] = None,
    fact: Annotated[
        str | None, typer.Option(help="forget this L4 fact (id, or its start as shown)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="forget everything: L2, L3 and L4")] = False,
    tenant: TenantOption = "local",
) -> None:
    """Make an agent forget one episode, one fact, or everything."""
    if sum([episode is not None, fact is not None, all_]) != 1:
        raise ConfigError("give exactly one of --episode ID, --fact ID or --all")
    config = settings()

    async def main() -> None:
        async with open_engine(config) as engine:
            memory = await _memory(engine, tenant, agent)
            stores = memory.stores
            if episode is not None:
                if stores.episodic is None:
                    raise NotFound(f"agent {agent} has no episode {episode} (L3 unavailable)")
                matches = await asyncio.to_thread(
                    stores.episodic.ids_starting_with, tenant, agent, episode
                )
                full_id = unique_prefix_match(f"episode id of {agent}", episode, matches)
                await asyncio.to_thread(stores.episodic.delete, tenant, agent, [full_id])
                console.print(f"forgot episode {full_id}")
            elif fact is not None:
                if stores.knowledge is None:
                    raise NotFound(f"agent {agent} has no fact {fact} (L4 unavailable)")
                matches = await asyncio.to_thread(
                    stores.knowledge.fact_ids_starting_with, tenant, agent, fact
                )
                full_id = unique_prefix_match(f"fact id of {agent}", fact, matches)
                await asyncio.to_thread(stores.knowledge.delete_fact, tenant, agent, full_id)
                console.print(f"forgot fact {full_id}")
            else:
                await memory.save_summary("")
                if stores.episodic is not None:
                    await asyncio.to_thread(stores.episodic.drop, tenant, agent)
                removed = 0
                if stores.knowledge is not None:
                    removed = await asyncio.to_thread(stores.knowledge.delete_agent, tenant, agent)
                console.print(f"forgot everything of {agent}: summary, episodes, "
                              f"{removed} entities with their facts")

    run_async(main())
