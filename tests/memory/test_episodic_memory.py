"""L3 episodic memory on Qdrant local mode: dedup, merge, ranking, access bumps, pruning."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from memory.embeddings import Embedder
from memory.episode import NewEpisode
from memory.episodic import EpisodicMemory
from memory.pruning import PrunePolicy

if TYPE_CHECKING:
    from conftest import ManualClock  # tests/memory/conftest.py

AGENT = "ops"
DEPLOY = "Deploy of billing-api failed: database migration 42 timed out after 300 seconds."
DEPLOY_AGAIN = (
    "Deploy of billing-api failed: the database migration 42 timed out after 300 seconds."
)
INVOICES_A = "billing-api reads its invoices from the Postgres main database."
INVOICES_B = "Postgres main is the database behind billing-api; invoices are read from it."
DISK = "Disk usage on host-7 reached 91 percent on the /var partition."
WEATHER = "Checked the weather forecast tool: it returned sunny skies for Berlin."


def episode(tenant: str, text: str, *, agent: str = AGENT, importance: int = 5) -> NewEpisode:
    return NewEpisode(tenant=tenant, agent=agent, text=text, importance=importance)


def cosine(embedder: Embedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


def test_identical_content_is_a_noop(
    episodic: EpisodicMemory, tenant: str, clock: ManualClock
) -> None:
    first = episodic.write(episode(tenant, DEPLOY, importance=4))
    clock.advance(hours=3)
    again = episodic.write(episode(tenant, DEPLOY + "\n", importance=9))

    assert (first.outcome, again.outcome) == ("created", "duplicate")
    assert again.episode_id == first.episode_id
    assert episodic.count(tenant, AGENT) == 1
    stored = episodic.get(tenant, AGENT, [first.episode_id])[0]
    assert stored.importance == 4  # the duplicate changed nothing
    assert stored.last_accessed_at == stored.created_at


def test_near_duplicate_merges_into_the_same_agents_episode(
    episodic: EpisodicMemory, tenant: str, embedder: Embedder, clock: ManualClock
) -> None:
    assert cosine(embedder, DEPLOY, DEPLOY_AGAIN) >= 0.95  # precondition of the test
    first = episodic.write(episode(tenant, DEPLOY, importance=4))
    clock.advance(hours=2)

    merged = episodic.write(episode(tenant, DEPLOY_AGAIN, importance=8))
    repeated = episodic.write(episode(tenant, DEPLOY_AGAIN, importance=8))
    elsewhere = episodic.write(episode(tenant, DEPLOY_AGAIN, agent="other-agent"))

    assert (merged.outcome, merged.episode_id) == ("merged", first.episode_id)
    assert (repeated.outcome, repeated.episode_id) == ("duplicate", first.episode_id)
    assert elsewhere.outcome == "created"  # merging never crosses agents
    assert episodic.count(tenant, AGENT) == 1
    stored = episodic.get(tenant, AGENT, [first.episode_id])[0]
    assert stored.text == DEPLOY
    assert (stored.importance, stored.merge_count) == (8, 1)
    assert stored.last_accessed_at == clock.now


def test_related_but_distinct_episodes_stay_apart(
    episodic: EpisodicMemory, tenant: str, embedder: Embedder
) -> None:
    assert cosine(embedder, INVOICES_A, INVOICES_B) < 0.95
    results = episodic.write_many([episode(tenant, INVOICES_A), episode(tenant, INVOICES_B)])
    assert [r.outcome for r in results] == ["created", "created"]
    assert episodic.count(tenant, AGENT) == 2


def test_of_two_equally_relevant_episodes_the_older_ranks_lower(
    episodic: EpisodicMemory, tenant: str, embedder: Embedder, clock: ManualClock
) -> None:
    query = "where do billing-api invoices come from?"
    # The older one is (slightly) more relevant, so only decay can put it second (which of
    # the two that is differs between the torch and the 8-bit ONNX encoder).
    old_text, new_text = sorted((INVOICES_A, INVOICES_B), key=lambda t: -cosine(embedder, query, t))
    older = episodic.write(episode(tenant, old_text)).episode_id
    clock.advance(hours=48)
    newer = episodic.write(episode(tenant, new_text)).episode_id
    relevance_old, relevance_new = (cosine(embedder, query, t) for t in (old_text, new_text))
    assert relevance_old >= relevance_new

    results = episodic.search(tenant, AGENT, query, limit=2)

    assert [r.episode.id for r in results] == [newer, older]
    cfg = episodic.config
    expected_gap = cfg.relevance_weight * (relevance_new - relevance_old) + cfg.recency_weight * (
        1 - cfg.decay_per_hour**48
    )
    assert results[0].score - results[1].score == pytest.approx(expected_gap, abs=1e-3)
    assert results[1].relevance == pytest.approx(relevance_old, abs=1e-4)


def test_relevance_floor_keeps_out_important_but_unrelated_episodes(
    episodic: EpisodicMemory, tenant: str
) -> None:
    episodic.write_many([episode(tenant, WEATHER, importance=10), episode(tenant, DISK)])
    results = episodic.search(tenant, AGENT, "disk space problems on hosts", limit=5)
    assert [r.episode.text for r in results] == [DISK]


def test_retrieval_bumps_access_of_what_it_returned(
    episodic: EpisodicMemory, tenant: str, clock: ManualClock
) -> None:
    disk = episodic.write(episode(tenant, DISK)).episode_id
    weather = episodic.write(episode(tenant, WEATHER)).episode_id
    clock.advance(hours=5)

    returned = episodic.search(tenant, AGENT, "disk space problems on hosts", limit=1)
    unbumped = episodic.search(tenant, AGENT, "disk space problems", limit=1, touch=False)

    assert returned[0].episode.access_count == 1
    stored = {e.id: e for e in episodic.get(tenant, AGENT, [disk, weather])}
    assert (stored[disk].access_count, stored[disk].last_accessed_at) == (1, clock.now)
    assert stored[weather].access_count == 0
    assert stored[weather].last_accessed_at == clock.now - timedelta(hours=5)
    assert unbumped[0].episode.access_count == 1  # touch=False read, no second bump


def test_recency_counts_from_the_last_access(
    episodic: EpisodicMemory, tenant: str, clock: ManualClock
) -> None:
    episodic.write(episode(tenant, DISK))
    clock.advance(hours=24)
    before = episodic.search(tenant, AGENT, "disk space problems on hosts")[0].score
    after = episodic.search(tenant, AGENT, "disk space problems on hosts")[0].score
    # The first search made it fresh: 24 h of decay are gone from the second score.
    assert after - before == pytest.approx(
        episodic.config.recency_weight * (1 - math.pow(episodic.config.decay_per_hour, 24)),
        abs=1e-4,
    )


def test_agents_and_tenants_do_not_see_each_other(episodic: EpisodicMemory, tenant: str) -> None:
    other_disk = "Disk usage on host-9 reached 95 percent on the /data partition."
    mine = episodic.write(episode(tenant, DISK)).episode_id
    theirs = episodic.write(episode(tenant, other_disk, agent="someone-else")).episode_id
    query = "disk space problems on hosts"

    assert [r.episode.id for r in episodic.search(tenant, AGENT, query)] == [mine]
    assert [r.episode.id for r in episodic.search(tenant, "someone-else", query)] == [theirs]
    assert episodic.search(tenant + "-x", AGENT, query) == []
    assert episodic.get(tenant, AGENT, [theirs]) == []


def test_backlog_is_served_oldest_first_with_its_importance(
    episodic: EpisodicMemory, tenant: str, clock: ManualClock
) -> None:
    ids = []
    for text, importance in ((DISK, 2), (WEATHER, 7), (INVOICES_A, 5)):
        ids.append(episodic.write(episode(tenant, text, importance=importance)).episode_id)
        clock.advance(minutes=1)
    episodic.mark_consolidated(tenant, AGENT, {ids[1]: ["fact-1"]})

    stats = episodic.unconsolidated_stats(tenant, AGENT)
    batch = episodic.unconsolidated(tenant, AGENT, limit=10)

    assert (stats.count, stats.importance_sum) == (2, 7)
    assert [e.id for e in batch] == [ids[0], ids[2]]
    assert episodic.get(tenant, AGENT, [ids[1]])[0].fact_ids == ["fact-1"]


def test_pruning_removes_exactly_the_eligible_episodes(
    episodic: EpisodicMemory, tenant: str, clock: ManualClock
) -> None:
    texts = {
        "eligible": DISK,
        "not_consolidated": WEATHER,
        "accessed": INVOICES_A,
        "important": DEPLOY,
        "recent": "Cleaned up the temporary files in the build cache directory.",
    }
    ids = {}
    for name in ("eligible", "not_consolidated", "accessed", "important"):
        importance = 9 if name == "important" else 2
        ids[name] = episodic.write(episode(tenant, texts[name], importance=importance)).episode_id
    clock.advance(days=8)
    ids["recent"] = episodic.write(episode(tenant, texts["recent"], importance=1)).episode_id
    hit = episodic.search(tenant, AGENT, "where do billing-api invoices come from?", limit=1)
    assert [r.episode.id for r in hit] == [ids["accessed"]]
    episodic.mark_consolidated(tenant, AGENT, {ids[n]: [] for n in ids if n != "not_consolidated"})

    pruned = episodic.prune(tenant, AGENT, PrunePolicy(max_importance=3, min_age=timedelta(days=7)))

    assert pruned == [ids["eligible"]]
    remaining = {e.id for e in episodic.get(tenant, AGENT, list(ids.values()))}
    assert remaining == set(ids.values()) - {ids["eligible"]}


def test_touch_later_bumps_like_search(qdrant_client) -> None:
    """search(touch=False) leaves counters alone; touch() then bumps exactly those hits."""
    from memory.episode import NewEpisode
    from memory.episodic import EpisodicMemory

    memory = EpisodicMemory(qdrant_client)
    tenant, agent = "t-touch", "a-touch"
    memory.write(NewEpisode(tenant=tenant, agent=agent, text="the disk of db-1 filled up"))
    [hit] = memory.search(tenant, agent, "disk full on db-1", limit=1, touch=False)
    assert memory.get(tenant, agent, [hit.episode.id])[0].access_count == 0
    [bumped] = memory.touch(tenant, agent, [hit])
    stored = memory.get(tenant, agent, [hit.episode.id])[0]
    assert stored.access_count == bumped.episode.access_count == 1
    assert stored.last_accessed_at >= hit.episode.last_accessed_at
    memory.drop(tenant, agent)
