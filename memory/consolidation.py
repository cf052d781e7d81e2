"""The dreamer: turns batches of L3 episodes into L4 facts, off the agent's hot path.

Why it looks the way it does:
- One `consolidator` model call per batch (structured output), so cost grows with the
  number of batches, not of facts; the model only extracts, the graph decides merging
  and contradiction (memory.knowledge_graph), so a sloppy model cannot delete anything.
- Episodes are numbered in the prompt and facts cite the numbers; a fact citing nothing
  is attributed to the whole batch, so provenance is never lost.
- Facts are written before episodes are marked consolidated: a crash in between makes the
  next run assert the same facts again, which only reinforces them.
- The stores are synchronous clients; `arun` runs the same work in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory.episode import Episode, UnconsolidatedStats
from memory.episodic import EpisodicMemory
from memory.facts import EntityRef, FactInput, FactUpsert
from memory.knowledge_graph import KnowledgeGraph
from memory.pruning import PrunePolicy
from stack.errors import WakefulError

log = logging.getLogger(__name__)


class ConsolidationFailed(WakefulError):
    """The consolidator model did not return facts; nothing was changed."""


Trigger = Literal["importance", "iterations", "idle", "forced"]

CONSOLIDATION_PROMPT = """\
You consolidate an agent's episodic memory into durable facts for its knowledge graph.

You get numbered episodes: things the agent did, saw, or was told. Extract the facts that
will still matter later: which things exist, how they relate, their state and changes of
state. Skip chatter, one-off numbers and anything the episodes do not support.

For each fact give:
- subject and object: short canonical names (e.g. "billing-api", "Postgres main"), with a
  short lowercase type (service, database, host, person, file, task, status, ...);
- predicate: a short snake_case verb phrase (depends_on, runs_on, status, owned_by);
- fact: one self-contained sentence stating it;
- valid_at: when it became true, if the episodes say (ISO 8601), else null;
- exclusive: true when the subject can have only one object for this predicate at a time
  (status, version, owner, location), so a new value replaces the old one;
- sources: the numbers of the episodes that support it.

Several episodes saying the same thing give one fact citing all of them."""


class ExtractedFact(BaseModel):
    """One durable fact supported by the episodes."""

    subject: str = Field(description="short canonical name of the subject")
    subject_type: str = Field(default="entity", description="short lowercase type")
    predicate: str = Field(description="snake_case relation, e.g. depends_on")
    object: str = Field(description="short canonical name of the object")
    object_type: str = Field(default="entity", description="short lowercase type")
    fact: str = Field(description="one self-contained sentence stating the fact")
    # A string, parsed leniently: a model writing "yesterday" must not sink the batch.
    valid_at: str | None = Field(default=None, description="ISO 8601 time it became true")
    exclusive: bool = Field(default=False, description="one object at a time per subject")
    sources: list[int] = Field(default_factory=list, description="supporting episode numbers")


class ExtractedFacts(BaseModel):
    """The facts extracted from a batch of numbered episodes."""

    facts: list[ExtractedFact] = Field(default_factory=list)


class ConsolidationPolicy(BaseModel):
    """When to dream and how much per run."""

    model_config = ConfigDict(frozen=True)

    importance_threshold: int = Field(default=30, ge=1)
    every_n_iterations: int = Field(default=25, ge=1)
    idle_after: timedelta = timedelta(minutes=10)
    batch_size: int = Field(default=20, ge=1)
    max_batches: int = Field(default=5, ge=1)
    max_episode_chars: int = Field(default=2000, ge=100)
    prune: PrunePolicy | None = PrunePolicy()


class BatchReport(BaseModel):
    """One model call: the episodes it consumed, what happened to each extracted fact, and
    how many extracted facts were unusable (e.g. empty names)."""

    episodes: list[str]
    facts: list[FactUpsert]
    rejected: int = 0


class ConsolidationReport(BaseModel):
    """One run: why it ran, its batches, and the episodes pruned afterwards."""

    trigger: Trigger
    batches: list[BatchReport] = Field(default_factory=list)
    pruned: list[str] = Field(default_factory=list)


def consolidation_due(
    stats: UnconsolidatedStats,
    policy: ConsolidationPolicy,
    *,
    iteration: int | None = None,
    idle_for: timedelta | None = None,
) -> Trigger | None:
    """Why consolidation should run now, or None: enough unconsolidated importance, every
    N-th iteration, or the agent idle long enough. Never with an empty backlog."""
    if stats.count == 0:
        return None
    if stats.importance_sum >= policy.importance_threshold:
        return "importance"
    if iteration and iteration % policy.every_n_iterations == 0:
        return "iterations"
    if idle_for is not None and idle_for >= policy.idle_after:
        return "idle"
    return None


class Consolidator:
    """Runs consolidation for one (tenant, agent) at a time over the given stores."""

    def __init__(
        self,
        episodic: EpisodicMemory,
        graph: KnowledgeGraph,
        model: BaseChatModel,
        *,
        policy: ConsolidationPolicy | None = None,
    ) -> None:
        self.episodic = episodic
        self.graph = graph
        self.policy = policy or ConsolidationPolicy()
        self._extract = model.with_structured_output(ExtractedFacts)

    def maybe_run(
        self,
        tenant: str,
        agent: str,
        *,
        iteration: int | None = None,
        idle_for: timedelta | None = None,
    ) -> ConsolidationReport | None:
        """Run if consolidation_due says so; None when it is not due.

        Reading the backlog scans the agent's unconsolidated episodes (in local mode about
        20 us each), so call this from the background job, not on the agent's hot path.
        """
        stats = self.episodic.unconsolidated_stats(tenant, agent)
        trigger = consolidation_due(stats, self.policy, iteration=iteration, idle_for=idle_for)
        return None if trigger is None else self.run(tenant, agent, trigger=trigger)

    async def arun(
        self, tenant: str, agent: str, *, trigger: Trigger = "forced"
    ) -> ConsolidationReport:
        return await asyncio.to_thread(self.run, tenant, agent, trigger=trigger)

    def run(self, tenant: str, agent: str, *, trigger: Trigger = "forced") -> ConsolidationReport:
        """Consolidate up to max_batches batches of the oldest episodes, then prune."""
        report = ConsolidationReport(trigger=trigger)
        for _ in range(self.policy.max_batches):
            batch = self.episodic.unconsolidated(tenant, agent, limit=self.policy.batch_size)
            if not batch:
                break
            report.batches.append(self.consolidate_batch(tenant, agent, batch))
        if self.policy.prune is not None:
            report.pruned = self.episodic.prune(tenant, agent, self.policy.prune)
        log.info(
            "consolidated",
            extra={
                "tenant": tenant,
                "agent": agent,
                "trigger": trigger,
                "batches": len(report.batches),
                "pruned": len(report.pruned),
            },
        )
        return report

    def consolidate_batch(
        self, tenant: str, agent: str, episodes: Sequence[Episode]
    ) -> BatchReport:
        """One model call for the batch; facts merged into the graph; episodes marked
        consolidated with links to the facts they produced."""
        extracted = self._extract.invoke(
            [SystemMessage(CONSOLIDATION_PROMPT), HumanMessage(self._render(episodes))]
        )
        if not isinstance(extracted, ExtractedFacts):
            raise ConsolidationFailed(
                "the consolidator model returned no structured facts (no tool call?); "
                "the batch stays unconsolidated and will be retried"
            )
        inputs, rejected = self._fact_inputs(extracted.facts, episodes)
        upserts = self.graph.upsert_facts(tenant, agent, inputs)
        links: dict[str, list[str]] = {e.id: [] for e in episodes}
        for fact, upsert in zip(inputs, upserts, strict=True):
            for episode_id in fact.episodes:
                links[episode_id].append(upsert.fact_id)
        self.episodic.mark_consolidated(tenant, agent, links)
        return BatchReport(episodes=list(links), facts=upserts, rejected=rejected)

    def _render(self, episodes: Sequence[Episode]) -> str:
        limit = self.policy.max_episode_chars
        lines = []
        for number, episode in enumerate(episodes, start=1):
            text = episode.text if len(episode.text) <= limit else episode.text[:limit] + "…"
            lines.append(
                f"[{number}] {episode.created_at.isoformat(timespec='seconds')} "
                f"{episode.kind}, importance {episode.importance}"
                f"{f', task {episode.task}' if episode.task else ''}:\n{text}"
            )
        return "\n\n".join(lines)

    @staticmethod
    def _fact_inputs(
        extracted: Sequence[ExtractedFact], episodes: Sequence[Episode]
    ) -> tuple[list[FactInput], int]:
        inputs, rejected = [], 0
        for item in extracted:
            sources = [
                episodes[n - 1] for n in dict.fromkeys(item.sources) if 1 <= n <= len(episodes)
            ] or list(episodes)
            valid_at = _parse_time(item.valid_at) or max(e.created_at for e in sources)
            try:
                inputs.append(
                    FactInput(
                        subject=EntityRef(name=item.subject, type=item.subject_type),
                        predicate=item.predicate,
                        object=EntityRef(name=item.object, type=item.object_type),
                        fact=item.fact,
                        valid_at=valid_at,
                        exclusive=item.exclusive,
                        episodes=[e.id for e in sources],
                    )
                )
            except ValidationError as exc:
                rejected += 1
                log.warning("consolidator fact rejected", extra={"error": str(exc)})
        return inputs, rejected


def _parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (naive means UTC), or None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
