"""L4 knowledge graph on FalkorDB over Bolt (and Neo4j 5.x when NEO4J_URI is set)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pytest

from memory.facts import EntityRef, FactInput
from memory.graph_dialect import FalkorDialect, GraphQueryTooLarge
from memory.knowledge_graph import KnowledgeGraph

if TYPE_CHECKING:
    from conftest import ManualClock  # tests/memory/conftest.py

AGENT = "ops"
BILLING = EntityRef(name="billing-api", type="service")
POSTGRES = EntityRef(name="Postgres main", type="database")
HOST = EntityRef(name="host-7", type="host")
RACK = EntityRef(name="rack B", type="location")


def fact(subject: EntityRef, predicate: str, obj: EntityRef, **kw: object) -> FactInput:
    text = f"{subject.name} {predicate.replace('_', ' ')} {obj.name}"
    return FactInput(subject=subject, predicate=predicate, object=obj, fact=text, **kw)


def status(value: str, **kw: object) -> FactInput:
    return fact(BILLING, "status", EntityRef(name=value, type="status"), exclusive=True, **kw)


def test_entities_merge_on_normalised_name_and_type(graph: KnowledgeGraph, tenant: str) -> None:
    graph.upsert_facts(
        tenant,
        AGENT,
        [
            fact(EntityRef(name="Billing  API", type="Service"), "depends_on", POSTGRES),
            fact(EntityRef(name="billing api.", type="service"), "depends_on", HOST),
            fact(EntityRef(name="billing api", type="team"), "owns", POSTGRES),
        ],
    )

    services = graph.find_entities(tenant, AGENT, "BILLING api", type="service")
    assert [(e.name, e.type) for e in services] == [("Billing API", "service")]
    assert {e.type for e in graph.find_entities(tenant, AGENT, "billing api")} == {
        "service",
        "team",
    }
    assert len(graph.facts_about(tenant, AGENT, "billing api", type="service")) == 2


def test_a_fact_asserted_again_is_reinforced(graph: KnowledgeGraph, tenant: str) -> None:
    first = graph.upsert_facts(
        tenant, AGENT, [fact(BILLING, "depends on", POSTGRES, episodes=["e1", "e2"])]
    )
    again = graph.upsert_facts(
        tenant, AGENT, [fact(BILLING, "Depends_On", POSTGRES, episodes=["e2", "e3"])]
    )

    assert again[0].outcome == "reinforced"
    assert again[0].fact_id == first[0].fact_id
    [stored] = graph.facts_about(tenant, AGENT, "billing-api")
    assert (stored.mentions, stored.episodes) == (2, ["e1", "e2", "e3"])


def test_contradiction_invalidates_the_old_fact_which_history_keeps(
    graph: KnowledgeGraph, tenant: str, clock: ManualClock
) -> None:
    healthy_since = clock.now
    [old] = graph.upsert_facts(tenant, AGENT, [status("healthy", valid_at=healthy_since)])
    failing_since = clock.advance(hours=2)
    clock.advance(minutes=5)  # learnt a little after it happened
    [new] = graph.upsert_facts(tenant, AGENT, [status("failing", valid_at=failing_since)])

    assert new.invalidated == [old.fact_id]
    current = graph.facts_about(tenant, AGENT, "billing-api")
    assert [f.object.name for f in current] == ["failing"]
    history = {
        f.fact_id: f for f in graph.facts_about(tenant, AGENT, "billing-api", include_history=True)
    }
    assert set(history) == {old.fact_id, new.fact_id}
    previous = history[old.fact_id]
    assert (previous.valid_at, previous.invalid_at) == (healthy_since, failing_since)
    assert previous.expired_at == clock.now
    assert history[new.fact_id].is_current(clock.now)


def test_a_contradiction_older_than_the_current_fact_becomes_history(
    graph: KnowledgeGraph, tenant: str, clock: ManualClock
) -> None:
    start = clock.now
    [current] = graph.upsert_facts(tenant, AGENT, [status("healthy", valid_at=start)])
    [late] = graph.upsert_facts(
        tenant, AGENT, [status("degraded", valid_at=start - timedelta(hours=1))]
    )

    assert late.invalidated == []
    assert [f.fact_id for f in graph.facts_about(tenant, AGENT, "billing-api")] == [current.fact_id]
    [degraded] = [
        f
        for f in graph.facts_about(tenant, AGENT, "billing-api", include_history=True)
        if f.fact_id == late.fact_id
    ]
    assert degraded.invalid_at == start
    assert degraded.expired_at is None  # true history, not a retracted belief


def test_non_exclusive_predicates_accumulate(graph: KnowledgeGraph, tenant: str) -> None:
    graph.upsert_facts(tenant, AGENT, [fact(BILLING, "depends_on", POSTGRES)])
    graph.upsert_facts(tenant, AGENT, [fact(BILLING, "depends_on", HOST)])
    objects = {f.object.name for f in graph.facts_about(tenant, AGENT, "billing-api")}
    assert objects == {"Postgres main", "host-7"}


def test_two_hop_neighbourhood_with_predicate_filter(
    graph: KnowledgeGraph, tenant: str, clock: ManualClock
) -> None:
    graph.upsert_facts(
        tenant,
        AGENT,
        [
            fact(BILLING, "depends_on", POSTGRES),
            fact(POSTGRES, "runs_on", HOST),
            fact(HOST, "located_in", RACK),
            fact(EntityRef(name="alice", type="person"), "owns", BILLING),
            status("healthy"),
        ],
    )
    clock.advance(hours=1)
    graph.upsert_facts(tenant, AGENT, [status("failing")])

    two = graph.neighbourhood(tenant, AGENT, "billing-api", hops=2)
    assert [e.name for e in two.start] == ["billing-api"]
    assert {e.name for e in two.entities} == {"Postgres main", "host-7", "alice", "failing"}
    assert ("host-7", "located_in", "rack B") not in triples(two.facts)

    filtered = graph.neighbourhood(
        tenant, AGENT, "rack b", hops=3, predicates=["located in", "runs_on"]
    )
    assert triples(filtered.facts) == {
        ("host-7", "located_in", "rack B"),
        ("Postgres main", "runs_on", "host-7"),
    }
    nearest = graph.neighbourhood(tenant, AGENT, "rack b", hops=3, limit=1)
    assert triples(nearest.facts) == {("host-7", "located_in", "rack B")}
    with_history = graph.neighbourhood(tenant, AGENT, "billing-api", hops=1, include_history=True)
    assert {"healthy", "failing"} <= {e.name for e in with_history.entities}
    with pytest.raises(ValueError, match="hops"):
        graph.neighbourhood(tenant, AGENT, "billing-api", hops=4)


def triples(facts: list) -> set[tuple[str, str, str]]:
    return {(f.subject.name, f.predicate, f.object.name) for f in facts}


def test_vector_search_finds_entities_by_name_within_the_agent(
    graph: KnowledgeGraph, tenant: str
) -> None:
    graph.upsert_facts(
        tenant, AGENT, [fact(BILLING, "depends_on", POSTGRES), fact(POSTGRES, "runs_on", HOST)]
    )
    graph.upsert_entities(tenant, "other-agent", [EntityRef(name="Postgres replica")])

    hits = graph.search_entities(tenant, AGENT, "postgres database", k=2)

    assert len(hits) == 2
    assert hits[0].entity.name == "Postgres main"
    assert all(h.entity.name != "Postgres replica" for h in hits)
    assert hits[0].score > hits[1].score
    assert graph.search_entities(tenant, AGENT, "postgres", k=3, min_similarity=0.99) == []


def test_full_text_search_over_names_and_summaries(graph: KnowledgeGraph, tenant: str) -> None:
    graph.upsert_entity(tenant, AGENT, POSTGRES, summary="Primary invoice store, 2 replicas")
    graph.upsert_entity(tenant, AGENT, HOST)
    assert [h.entity.name for h in graph.search_entities_text(tenant, AGENT, "invoice")] == [
        "Postgres main"
    ]
    assert graph.search_entities_text(tenant, "other-agent", "invoice") == []


def test_text_with_quotes_and_backslashes_round_trips(graph: KnowledgeGraph, tenant: str) -> None:
    awkward = "O'Neil's \"lab\" box at C:\\temp\\new; 100% {ok}"
    graph.upsert_facts(
        tenant,
        AGENT,
        [
            FactInput(
                subject=EntityRef(name="O'Neil"),
                predicate="uses",
                object=EntityRef(name="C:\\temp"),
                fact=awkward,
            ),
        ],
    )
    [stored] = graph.facts_about(tenant, AGENT, "o'neil")
    assert (stored.subject.name, stored.object.name, stored.fact) == ("O'Neil", "C:\\temp", awkward)


def test_falkordb_refuses_parameters_that_would_crash_it() -> None:
    dialect = FalkorDialect()
    vector = dialect.encode_vector(np.linspace(-1, 1, 384, dtype=np.float32))
    assert max(abs(x) for x in vector) == 127
    assert dialect.prepare({"vector": vector, "name": "x" * 1000})  # normal size passes
    with pytest.raises(GraphQueryTooLarge, match="FalkorDB"):
        dialect.prepare({"vector": vector, "text": "x" * 3000})
