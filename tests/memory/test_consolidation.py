"""The dreamer on real stores; only the consolidator model is scripted (a chat model that
answers with a fixed structured-output tool call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from memory.consolidation import (
    ConsolidationFailed,
    ConsolidationPolicy,
    Consolidator,
    consolidation_due,
)
from memory.episode import NewEpisode, UnconsolidatedStats
from memory.episodic import EpisodicMemory
from memory.knowledge_graph import KnowledgeGraph
from memory.pruning import PrunePolicy

if TYPE_CHECKING:
    from conftest import ManualClock  # tests/memory/conftest.py

AGENT = "ops"
RELATED = [
    "billing-api reads its invoices from the Postgres main database.",
    "Postgres main is the database behind billing-api; invoices are read from it.",
    "The invoice queries of billing-api go to Postgres main.",
]
DEPENDS = {
    "subject": "billing-api",
    "subject_type": "service",
    "predicate": "depends_on",
    "object": "Postgres main",
    "object_type": "database",
    "fact": "billing-api depends on Postgres main for its invoices.",
}


class ScriptedConsolidator(BaseChatModel):
    """Answers call n with a tool call carrying replies[n]; None means no tool call."""

    replies: list[dict[str, Any] | None]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-consolidator"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedConsolidator:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.prompts.append(messages)
        reply = self.replies[len(self.prompts) - 1]
        calls = (
            []
            if reply is None
            else [{"name": "ExtractedFacts", "args": reply, "id": f"call-{len(self.prompts)}"}]
        )
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=calls))])


def write_related(episodic: EpisodicMemory, tenant: str, importance: int = 6) -> list[str]:
    episodes = [
        NewEpisode(tenant=tenant, agent=AGENT, text=t, importance=importance) for t in RELATED
    ]
    results = episodic.write_many(episodes)
    assert [r.outcome for r in results] == ["created"] * 3
    return [r.episode_id for r in results]


def test_related_episodes_become_one_fact_with_provenance_to_all(
    episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    ids = write_related(episodic, tenant)
    reply = {**DEPENDS, "sources": [1, 2, 3], "valid_at": "2026-02-27T08:00:00Z"}
    model = ScriptedConsolidator(replies=[{"facts": [reply]}])
    dreamer = Consolidator(episodic, graph, model, policy=ConsolidationPolicy(prune=None))

    report = dreamer.run(tenant, AGENT)

    assert len(model.prompts) == 1  # one model call for the batch
    prompt = model.prompts[0][-1].content
    assert all(text in prompt for text in RELATED)
    [batch] = report.batches
    [upsert] = batch.facts
    assert upsert.outcome == "created"
    [stored] = graph.facts_about(tenant, AGENT, "billing-api")
    assert (stored.predicate, stored.object.name) == ("depends_on", "Postgres main")
    assert sorted(stored.episodes) == sorted(ids)
    assert stored.valid_at == datetime(2026, 2, 27, 8, 0, tzinfo=UTC)
    for episode in episodic.get(tenant, AGENT, ids):
        assert episode.consolidated
        assert episode.fact_ids == [upsert.fact_id]
    assert episodic.unconsolidated_stats(tenant, AGENT).count == 0
    assert [f.fact_id for f in graph.facts_from_episode(tenant, AGENT, ids[1])] == [upsert.fact_id]


def test_a_fact_without_usable_sources_or_time_falls_back_to_the_batch(
    episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str, clock: ManualClock
) -> None:
    ids = write_related(episodic, tenant)
    clock.advance(hours=1)
    reply = {**DEPENDS, "sources": [7], "valid_at": "when the invoices moved"}
    model = ScriptedConsolidator(replies=[{"facts": [reply]}])
    Consolidator(episodic, graph, model, policy=ConsolidationPolicy(prune=None)).run(tenant, AGENT)
    [stored] = graph.facts_about(tenant, AGENT, "billing-api")
    assert sorted(stored.episodes) == sorted(ids)
    # An unreadable valid_at falls back to when the episodes were recorded, not to now.
    assert stored.valid_at == clock.now - timedelta(hours=1)


def test_a_model_without_facts_leaves_the_batch_unconsolidated(
    episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    write_related(episodic, tenant)
    dreamer = Consolidator(episodic, graph, ScriptedConsolidator(replies=[None]))
    with pytest.raises(ConsolidationFailed):
        dreamer.run(tenant, AGENT)
    assert episodic.unconsolidated_stats(tenant, AGENT).count == 3


def test_a_run_batches_episodes_and_prunes_what_became_stale(
    episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str, clock: ManualClock
) -> None:
    ids = write_related(episodic, tenant, importance=2)
    important = episodic.write(
        NewEpisode(
            tenant=tenant,
            agent=AGENT,
            importance=9,
            text="Disk usage on host-7 reached 91 percent on the /var partition.",
        )
    ).episode_id
    clock.advance(days=8)
    model = ScriptedConsolidator(replies=[{"facts": [DEPENDS]}, {"facts": []}])
    policy = ConsolidationPolicy(batch_size=3, prune=PrunePolicy(max_importance=3))

    report = Consolidator(episodic, graph, model, policy=policy).run(tenant, AGENT)

    assert [len(b.episodes) for b in report.batches] == [3, 1]
    assert report.pruned == sorted(ids)
    assert [e.id for e in episodic.get(tenant, AGENT, [*ids, important])] == [important]


def test_maybe_run_runs_only_once_enough_importance_piled_up(
    episodic: EpisodicMemory, graph: KnowledgeGraph, tenant: str
) -> None:
    write_related(episodic, tenant, importance=6)  # 18 in total
    model = ScriptedConsolidator(replies=[{"facts": [DEPENDS]}])
    patient = Consolidator(
        episodic, graph, model, policy=ConsolidationPolicy(importance_threshold=19)
    )
    eager = Consolidator(
        episodic, graph, model, policy=ConsolidationPolicy(importance_threshold=18)
    )

    assert patient.maybe_run(tenant, AGENT, iteration=7) is None
    report = eager.maybe_run(tenant, AGENT, iteration=7)

    assert report is not None
    assert report.trigger == "importance"
    assert len(model.prompts) == 1


@pytest.mark.parametrize(
    ("count", "importance", "iteration", "idle_minutes", "expected"),
    [
        (0, 0, 25, 60, None),  # nothing to consolidate, whatever else holds
        (4, 30, None, None, "importance"),
        (4, 12, 50, None, "iterations"),
        (4, 12, 51, 11, "idle"),
        (4, 12, 51, 9, None),
    ],
)
def test_consolidation_is_due_on_importance_iterations_or_idleness(
    count: int,
    importance: int,
    iteration: int | None,
    idle_minutes: int | None,
    expected: str | None,
) -> None:
    stats = UnconsolidatedStats(count=count, importance_sum=importance)
    idle = None if idle_minutes is None else timedelta(minutes=idle_minutes)
    assert (
        consolidation_due(stats, ConsolidationPolicy(), iteration=iteration, idle_for=idle)
        == expected
    )
