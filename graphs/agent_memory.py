"""The memory tiers as one agent's run sees them.

- `recall` (before planning): the L2 running summary (from the LangGraph Postgres store,
  so a continuous agent carries it from one iteration to the next), the top L3 episodes
  and current L4 facts about entities near the goal, within a token budget.
- `store_evicted` (on compaction): the evicted window becomes an L3 episode first.
- `memorize` (after the run): the iteration's outcome and notable tool results become L3
  episodes, the summary is stored, and consolidation (the dreamer) is started in the
  background when it is due, off the run's path: when enough unconsolidated importance
  has built up, every N-th iteration of the agent (counted in the store, so across
  processes), and when the agent has been idle (no run started or ended) for the policy's
  `idle_after`: a timer per agent, restarted by each run and checked against the store's
  last-run time before it dreams, so a run in another process also counts as activity.

The stores are synchronous clients (qdrant-client, the neo4j driver): calls go to a thread.
A tier that cannot be opened (Qdrant local mode held by another process, say) is reported
as a `memory_unavailable` event and the run goes on without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, ToolMessage

from graphs.spec import MemoryConfig
from memory.episode import NewEpisode
from memory.tokens import count_text_tokens
from memory.working_window import render_transcript
from tools.untrusted import unwrap

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

    from graphs.context import AgentDeps
    from graphs.state import AgentState
    from memory.consolidation import ConsolidationReport, Consolidator
    from memory.episodic import EpisodicMemory
    from memory.knowledge_graph import KnowledgeGraph

log = logging.getLogger(__name__)

SUMMARY_NAMESPACE = ("wakeful", "summaries")
SUMMARY_KEY = "running"
ACTIVITY_NAMESPACE = ("wakeful", "dreamer")
ACTIVITY_KEY = "activity"  # {"iterations": n, "last_run_at": iso time} per agent
SUMMARY_TOKENS = 600  # the stored running summary keeps its newest lines within this
RECALL_EPISODES = 5
RECALL_ENTITIES = 3
FACTS_PER_ENTITY = 5
ENTITY_MIN_SIMILARITY = 0.35


@dataclass
class Recalled:
    text: str
    summary: str
    episodes: int = 0
    facts: int = 0


@dataclass
class MemoryStores:
    """Process-wide handles to the tiers; None for a tier that is off or unavailable."""

    summaries: BaseStore
    qdrant: Any = None  # the QdrantClient behind `episodic`, released at shutdown
    episodic: EpisodicMemory | None = None
    knowledge: KnowledgeGraph | None = None
    problems: dict[str, str] = field(default_factory=dict)  # tier -> why it is missing
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    idle_timers: dict[tuple[str, str], asyncio.Task[Any]] = field(default_factory=dict)

    def spawn(self, coro: Any) -> None:
        """Run work off the request path; `drain` waits for it at shutdown."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def watch_idle(self, key: tuple[str, str], coro: Any) -> None:
        """(Re)start the idle timer of one agent; the previous one is cancelled."""
        self.stop_idle_timer(key)
        self.idle_timers[key] = asyncio.ensure_future(coro)

    def stop_idle_timer(self, key: tuple[str, str]) -> None:
        timer = self.idle_timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def drain(self, timeout: float = 60.0) -> None:
        for key in list(self.idle_timers):  # a timer is a wait, not work: never waited for
            self.stop_idle_timer(key)
        if self.background:
            await asyncio.wait(set(self.background), timeout=timeout)


class AgentMemory:
    """One agent's view of the stores (tenant + agent name scope everything)."""

    def __init__(
        self,
        stores: MemoryStores,
        *,
        tenant: str,
        agent: str,
        config: MemoryConfig,
        consolidator: Consolidator | None = None,
    ) -> None:
        self.stores = stores
        self.tenant = tenant
        self.agent = agent
        self.config = config
        self.consolidator = consolidator
        self.episodic = stores.episodic if config.episodic else None
        self.knowledge = stores.knowledge if config.knowledge else None

    # -- L2 ----------------------------------------------------------------------------
    @property
    def _namespace(self) -> tuple[str, ...]:
        return (*SUMMARY_NAMESPACE, self.tenant, self.agent)

    async def stored_summary(self) -> str:
        item = await self.stores.summaries.aget(self._namespace, SUMMARY_KEY)
        return str(item.value.get("summary", "")) if item else ""

    async def save_summary(self, summary: str) -> None:
        await self.stores.summaries.aput(
            self._namespace,
            SUMMARY_KEY,
            {"summary": summary, "updated_at": datetime.now(UTC).isoformat()},
        )

    # -- recall ------------------------------------------------------------------------
    async def recall(self, state: AgentState, deps: AgentDeps) -> Recalled:
        self.stores.stop_idle_timer(self._key)  # a running agent is not idle
        summary = state.get("summary") or (
            await self.stored_summary() if self.config.summary else ""
        )
        goal = state["goal"]
        fact_lines = await self._fact_lines(goal) if self.knowledge else []
        episode_lines = await self._episode_lines(goal) if self.episodic else []
        sections = []
        if fact_lines:
            sections.append(("Facts you know (current):", fact_lines))
        if episode_lines:
            sections.append(("Past episodes (most relevant first):", episode_lines))
        text = _within_budget(sections, self.config.recall_tokens)
        recalled = Recalled(
            text=text, summary=summary, episodes=len(episode_lines), facts=len(fact_lines)
        )
        await deps.channel.emit(
            "memory_recalled",
            {
                "episodes": recalled.episodes,
                "facts": recalled.facts,
                "summary_chars": len(summary),
                "tokens": count_text_tokens(text),
                "unavailable": dict(self.stores.problems),
            },
        )
        return recalled

    async def _episode_lines(self, goal: str) -> list[str]:
        assert self.episodic is not None
        episodic = self.episodic
        hits = await asyncio.to_thread(
            episodic.search, self.tenant, self.agent, goal, limit=RECALL_EPISODES, touch=False
        )
        # The access bump is a write per point; it need not delay the run.
        self.stores.spawn(asyncio.to_thread(episodic.touch, self.tenant, self.agent, hits))
        return [
            f"- [{h.episode.kind}, importance {h.episode.importance}] {h.episode.text[:400]}"
            for h in hits
        ]

    async def _fact_lines(self, goal: str) -> list[str]:
        assert self.knowledge is not None
        knowledge = self.knowledge

        def read() -> list[str]:
            lines: list[str] = []
            seen: set[str] = set()
            hits = knowledge.search_entities(
                self.tenant, self.agent, goal, k=RECALL_ENTITIES,
                min_similarity=ENTITY_MIN_SIMILARITY,
            )
            for hit in hits:
                facts = knowledge.facts_about(
                    self.tenant, self.agent, hit.entity.name, type=hit.entity.type,
                    limit=FACTS_PER_ENTITY,
                )
                for fact in facts:
                    if fact.fact_id not in seen:
                        seen.add(fact.fact_id)
                        text = fact.fact or (
                            f"{fact.subject.name} {fact.predicate} {fact.object.name}"
                        )
                        lines.append(f"- {text}")
            return lines

        return await asyncio.to_thread(read)

    # -- writes ------------------------------------------------------------------------
    async def store_evicted(
        self, messages: list[BaseMessage], state: AgentState, deps: AgentDeps
    ) -> None:
        if self.episodic is None or not messages:
            return
        episode = NewEpisode(
            tenant=self.tenant,
            agent=self.agent,
            task=deps.task_id,
            kind="evicted_window",
            text=f"Goal: {state['goal']}\n{render_transcript(messages)}",
            importance=3,
        )
        await asyncio.to_thread(self.episodic.write, episode)

    async def memorize(self, state: AgentState, deps: AgentDeps) -> None:
        stop_reason = state.get("stop_reason") or "completed"
        output = (state.get("output") or "").strip()
        writes: list[Awaitable[Any]] = []
        if self.episodic is not None:
            episodes = [
                NewEpisode(
                    tenant=self.tenant,
                    agent=self.agent,
                    task=deps.task_id,
                    kind="iteration_outcome",
                    text=f"Goal: {state['goal']}\nOutcome: {stop_reason}\n{output[:1500]}",
                    # Failures teach more than routine successes.
                    importance=5 if stop_reason == "completed" else 7,
                ),
                *self._notable_tool_results(state, deps),
            ]
            writes.append(asyncio.to_thread(self.episodic.write_many, episodes))
        if self.config.summary:
            writes.append(self.save_summary(_next_summary(state, stop_reason, output)))
        dreams = self.consolidator is not None and self.episodic is not None
        if dreams:
            writes.append(self.record_iteration())
        # L3, L2 and the count at the same time; every one is awaited before a failure is
        # raised (a plain gather would leave the others running, their errors unread)
        done = await asyncio.gather(*writes, return_exceptions=True)
        failed = [result for result in done if isinstance(result, BaseException)]
        if failed:
            for extra in failed[1:]:
                log.warning("memorize: another write failed too: %s", extra)
            raise failed[0]
        if dreams:
            iteration, ended_at = done[-1]
            self.stores.spawn(self._consolidate(deps.task_id, iteration=iteration))
            self.stores.watch_idle(self._key, self._when_idle(ended_at))

    def _notable_tool_results(self, state: AgentState, deps: AgentDeps) -> list[NewEpisode]:
        """Results of calls that changed something (write / external scope) are remembered."""
        episodes = []
        for message in state.get("messages", []):
            if not isinstance(message, ToolMessage) or message.status == "error":
                continue
            entry = deps.toolset.lookup(message.name or "")
            if entry is None or not entry.registered.spec.has_side_effects:
                continue
            text = unwrap(str(message.content)).strip()
            if text:
                episodes.append(
                    NewEpisode(
                        tenant=self.tenant,
                        agent=self.agent,
                        task=deps.task_id,
                        kind="tool_result",
                        text=f"{message.name}: {text[:1500]}",
                        importance=6,
                    )
                )
        return episodes

    # -- the dreamer's triggers ---------------------------------------------------------
    @property
    def _key(self) -> tuple[str, str]:
        return (self.tenant, self.agent)

    async def activity(self) -> dict[str, Any]:
        """The agent's iteration count and last run time, as the dreamer keeps them."""
        item = await self.stores.summaries.aget(
            (*ACTIVITY_NAMESPACE, *self._key), ACTIVITY_KEY
        )
        return dict(item.value) if item else {}

    async def record_iteration(self) -> tuple[int, str]:
        """One more iteration of the agent, ended now; its number and time."""
        iteration = int((await self.activity()).get("iterations", 0)) + 1
        ended_at = datetime.now(UTC).isoformat()
        await self.stores.summaries.aput(
            (*ACTIVITY_NAMESPACE, *self._key),
            ACTIVITY_KEY,
            {"iterations": iteration, "last_run_at": ended_at},
        )
        return iteration, ended_at

    async def _when_idle(self, ended_at: str) -> None:
        """After `idle_after` with no run of the agent since `ended_at`, dream."""
        assert self.consolidator is not None
        await asyncio.sleep(self.consolidator.policy.idle_after.total_seconds())
        last = (await self.activity()).get("last_run_at")
        if last != ended_at:  # the agent ran since (maybe in another process)
            return
        self.stores.idle_timers.pop(self._key, None)
        idle_for = datetime.now(UTC) - datetime.fromisoformat(ended_at)
        self.stores.spawn(self._consolidate("(idle)", idle_for=idle_for))  # drained at shutdown

    async def _consolidate(
        self, task_id: str, *, iteration: int | None = None, idle_for: timedelta | None = None
    ) -> ConsolidationReport | None:
        assert self.consolidator is not None
        try:
            report = await asyncio.to_thread(
                self.consolidator.maybe_run,
                self.tenant,
                self.agent,
                iteration=iteration,
                idle_for=idle_for,
            )
        except Exception:  # the dreamer must never take a run down with it
            log.exception("consolidation for %s/%s failed", self.tenant, self.agent)
            return None
        if report is not None:
            log.info(
                "consolidated %s/%s (%s) after task %s: %d batches, %d pruned",
                self.tenant, self.agent, report.trigger, task_id, len(report.batches),
                len(report.pruned),
            )
        return report


def _next_summary(state: AgentState, stop_reason: str, output: str) -> str:
    """The running summary plus one line for this run, newest lines kept within budget."""
    first_line = next((line for line in output.splitlines() if line.strip()), "")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    line = f"[{stamp}] {state['goal'][:100]} → {stop_reason}: {first_line[:200]}".strip()
    lines = [*(state.get("summary") or "").splitlines(), line]
    while len(lines) > 1 and count_text_tokens("\n".join(lines)) > SUMMARY_TOKENS:
        lines.pop(0)
    return "\n".join(lines)


def _within_budget(sections: list[tuple[str, list[str]]], budget: int) -> str:
    """Headed sections, each line added while the total stays within `budget` tokens."""
    out: list[str] = []
    used = 0
    for heading, lines in sections:
        cost = count_text_tokens(heading)
        if used + cost > budget:
            break
        block = [heading]
        used += cost
        for line in lines:
            cost = count_text_tokens(line)
            if used + cost > budget:
                break
            block.append(line)
            used += cost
        if len(block) > 1:
            out.extend([*block, ""])
    return "\n".join(out).strip()
