"""L3 episodic memory: one Qdrant point per episode, retrieved by relevance, importance and
recency.

Why it looks the way it does:
- One collection per (tenant, agent). Agents can never see each other's episodes, and the
  hot path (search) needs no payload filter: Qdrant local mode, the default, evaluates
  filters in Python point by point (~20 us per point and condition, measured), which alone
  would cost ~400 ms per search at 10k episodes. A server handles tens to hundreds of
  collections without trouble; tenant and agent stay in the payload for audits.
- The point id is derived from (tenant, agent, content hash), so an identical write finds
  its twin with a by-id lookup instead of a payload scan, and two racing identical writes
  land on the same point.
- Retrieval ranking happens inside Qdrant (a formula query over a prefetch), as in
  Generative Agents: relevance (cosine) + importance + recency, recency decaying
  exponentially per hour since the episode was last accessed. The prefetch carries the
  relevance floor, so an irrelevant episode never ranks on importance and recency alone.
- The clock is injected, so tests and replays control `now`.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from qdrant_client import QdrantClient, models

from memory.embeddings import Embedder, shared_embedder
from memory.episode import (
    MAX_IMPORTANCE,
    Episode,
    EpisodeKind,
    NewEpisode,
    ScoredEpisode,
    UnconsolidatedStats,
    WriteResult,
    content_hash,
    to_rfc3339,
)
from memory.pruning import PrunePolicy, prunable_filter

Clock = Callable[[], datetime]

_ID_NAMESPACE = uuid.UUID("6f9b1c2e-4d0a-5b7e-9c3f-2a8d1e4b6c70")
_SCROLL_PAGE = 256
_SECONDS_PER_HOUR = 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class EpisodicConfig(BaseModel):
    """Retrieval and dedup knobs. Weights apply to terms that each lie in [0, 1]:
    cosine relevance, importance / 10, and recency = decay_per_hour ** hours."""

    model_config = ConfigDict(frozen=True)

    collection_prefix: str = Field(default="episodes", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    relevance_weight: float = Field(default=1.0, ge=0)
    importance_weight: float = Field(default=0.5, ge=0)
    recency_weight: float = Field(default=0.5, ge=0)
    decay_per_hour: float = Field(default=0.995, gt=0, lt=1)
    relevance_floor: float = Field(default=0.25, ge=-1, le=1)
    merge_threshold: float = Field(default=0.95, gt=0, le=1)
    # How many nearest episodes the formula re-ranks; recency and importance can only
    # reorder what relevance brought into this pool. Local mode re-ranks in Python at
    # ~0.25 ms per candidate, so the pool is a latency knob there.
    candidate_pool: int = Field(default=32, ge=1)


class EpisodicMemory:
    """The L3 store over a QdrantClient (local mode or server) that the caller owns."""

    def __init__(
        self,
        client: QdrantClient,
        *,
        embedder: Embedder | None = None,
        config: EpisodicConfig | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._client = client
        self._embedder = embedder or shared_embedder()
        self.config = config or EpisodicConfig()
        self._clock = clock
        self._known: set[str] = set()
        self._lock = threading.Lock()

    # -- collections -------------------------------------------------------------------

    def collection_name(self, tenant: str, agent: str) -> str:
        """The agent's collection: prefix plus a digest, since ids may hold any characters."""
        digest = hashlib.sha256(f"{tenant}\x1f{agent}".encode()).hexdigest()[:24]
        return f"{self.config.collection_prefix}-{digest}"

    def ensure_collection(self, tenant: str, agent: str) -> str:
        """Create the agent's collection if missing; returns its name."""
        name = self._collection(tenant, agent, create=True)
        assert name is not None
        return name

    def _collection(self, tenant: str, agent: str, *, create: bool) -> str | None:
        """The agent's collection name if it exists (made first when `create`), else None.

        On a server the payload indexes the filters use are made with it; local mode
        ignores payload indexes (and warns), so none are made there.
        """
        name = self.collection_name(tenant, agent)
        with self._lock:
            # Writes trust the cache (and recreate a collection dropped elsewhere, see
            # write_many); reads look, so a memory forgotten elsewhere reads as empty.
            if create and name in self._known:
                return name
            if not self._client.collection_exists(name):
                self._known.discard(name)
                if not create:
                    return None
                self._create(name)
            self._known.add(name)
        return name

    def _create(self, name: str) -> None:
        try:
            self._client.create_collection(
                name,
                vectors_config=models.VectorParams(
                    size=self._embedder.dim, distance=models.Distance.COSINE
                ),
            )
        except Exception:
            if not self._client.collection_exists(name):
                raise  # not a lost creation race: a real failure
        if not _is_local(self._client):
            for field, schema in _PAYLOAD_INDEXES.items():
                self._client.create_payload_index(name, field, field_schema=schema)

    def drop(self, tenant: str, agent: str) -> None:
        """Forget everything one agent remembers (its whole collection). Other stores (or
        processes) that knew the collection find out on their next call: reads see an
        empty memory and writes create it again."""
        name = self.collection_name(tenant, agent)
        with self._lock:
            self._known.discard(name)
            if self._client.collection_exists(name):
                self._client.delete_collection(name)

    # -- writes ------------------------------------------------------------------------

    def write(self, episode: NewEpisode) -> WriteResult:
        return self.write_many([episode])[0]

    def write_many(self, episodes: Sequence[NewEpisode]) -> list[WriteResult]:
        """Store episodes in order; one embedding batch for all of them.

        Each write is a no-op for content this agent already has (exact hash match, also
        against hashes merged earlier), a merge into the nearest episode of the same
        agent when cosine >= merge_threshold, or a new point.
        """
        vectors = self._embedder.embed([e.text for e in episodes])
        results = []
        for episode, vector in zip(episodes, vectors, strict=True):
            try:
                results.append(self._write_one(episode, vector))
            except Exception as exc:
                if not self._vanished(episode.tenant, episode.agent, exc):
                    raise
                results.append(self._write_one(episode, vector))  # made again
        return results

    def _vanished(self, tenant: str, agent: str, exc: Exception) -> bool:
        """Whether `exc` says the agent's collection is gone (dropped elsewhere); if so the
        cached knowledge of it is forgotten."""
        text = str(exc)
        missing = "not found" in text.lower() or getattr(exc, "status_code", None) == 404
        name = self.collection_name(tenant, agent)
        if (missing and name in text) or getattr(exc, "status_code", None) == 404:
            with self._lock:
                self._known.discard(name)
            return True
        return False

    def _write_one(self, new: NewEpisode, vector: np.ndarray) -> WriteResult:
        collection = self.ensure_collection(new.tenant, new.agent)
        sha = content_hash(new.text)
        point_id = episode_point_id(new.tenant, new.agent, sha)
        if self._client.retrieve(collection, [point_id], with_payload=False):
            return WriteResult(outcome="duplicate", episode_id=point_id)
        now = self._clock()
        near = self._client.query_points(
            collection,
            query=vector.tolist(),
            limit=1,
            score_threshold=self.config.merge_threshold,
            with_payload=True,
        ).points
        if near:
            target = Episode.from_payload(near[0].id, near[0].payload or {})
            return self._merge_into(collection, target, new, sha, now)
        episode = Episode(
            id=point_id,
            tenant=new.tenant,
            agent=new.agent,
            task=new.task,
            kind=new.kind,
            text=new.text,
            sha256=sha,
            created_at=now,
            last_accessed_at=now,
            importance=new.importance,
        )
        point = models.PointStruct(
            id=point_id, vector=vector.tolist(), payload=episode.to_payload()
        )
        self._client.upsert(collection, [point])
        return WriteResult(outcome="created", episode_id=point_id)

    def _merge_into(
        self, collection: str, target: Episode, new: NewEpisode, sha: str, now: datetime
    ) -> WriteResult:
        """Fold a near-duplicate into `target`: it keeps its text, takes the higher
        importance, and counts as fresh again (the same thing just happened again)."""
        if sha in target.merged_sha256:
            return WriteResult(outcome="duplicate", episode_id=target.id)
        self._client.set_payload(
            collection,
            payload={
                "importance": max(target.importance, new.importance),
                "merge_count": target.merge_count + 1,
                "merged_sha256": [*target.merged_sha256, sha],
                "last_accessed_at": to_rfc3339(now),
            },
            points=[target.id],
        )
        return WriteResult(outcome="merged", episode_id=target.id)

    # -- retrieval ---------------------------------------------------------------------

    def search(
        self,
        tenant: str,
        agent: str,
        query: str,
        *,
        limit: int = 5,
        task: str | None = None,
        kinds: Iterable[EpisodeKind] | None = None,
        include_consolidated: bool = True,
        touch: bool = True,
    ) -> list[ScoredEpisode]:
        """The best `limit` episodes for `query`, best first.

        Retrieved episodes get last_accessed_at = now and access_count + 1 (unless
        touch=False), which both keeps them fresh and protects them from pruning; the
        returned episodes show the bumped values. Concurrent searches may lose a count
        increment (Qdrant has no atomic increment); the timestamp is always right.
        """
        collection = self._collection(tenant, agent, create=False)
        if collection is None:
            return []
        now = self._clock()
        vector = self._embedder.embed_one(query)
        prefetch = models.Prefetch(
            query=vector.tolist(),
            filter=_filter(task=task, kinds=kinds, include_consolidated=include_consolidated),
            limit=max(self.config.candidate_pool, limit),
            score_threshold=self.config.relevance_floor,
        )
        points = self._client.query_points(
            collection,
            prefetch=prefetch,
            query=models.FormulaQuery(formula=self._score_formula(now)),
            limit=limit,
            with_payload=True,
            with_vectors=True,
        ).points
        results = [
            ScoredEpisode(
                episode=Episode.from_payload(p.id, p.payload or {}),
                score=p.score,
                relevance=float(np.dot(np.asarray(p.vector, dtype=np.float32), vector)),
            )
            for p in points
        ]
        if touch and results:
            results = self._touch(collection, results, now)
        return results

    def _score_formula(self, now: datetime) -> models.Expression:
        cfg = self.config
        recency = models.ExpDecayExpression(
            exp_decay=models.DecayParamsExpression(
                x=models.DatetimeKeyExpression(datetime_key="last_accessed_at"),
                target=models.DatetimeExpression(datetime=to_rfc3339(now)),
                scale=_SECONDS_PER_HOUR,
                midpoint=cfg.decay_per_hour,  # exp_decay(1 scale) == midpoint: per hour
            )
        )
        return models.SumExpression(
            sum=[
                models.MultExpression(mult=[cfg.relevance_weight, "$score"]),
                models.MultExpression(mult=[cfg.importance_weight / MAX_IMPORTANCE, "importance"]),
                models.MultExpression(mult=[cfg.recency_weight, recency]),
            ]
        )

    def touch(
        self, tenant: str, agent: str, results: list[ScoredEpisode]
    ) -> list[ScoredEpisode]:
        """Bump last_accessed_at / access_count of retrieved episodes: what `search` does
        with touch=True, for callers that bump later, off their hot path."""
        if not results:
            return results
        return self._touch(self.collection_name(tenant, agent), results, self._clock())

    def _touch(
        self, collection: str, results: list[ScoredEpisode], now: datetime
    ) -> list[ScoredEpisode]:
        stamp = to_rfc3339(now)
        bumped = [
            r.model_copy(
                update={
                    "episode": r.episode.model_copy(
                        update={"last_accessed_at": now, "access_count": r.episode.access_count + 1}
                    )
                }
            )
            for r in results
        ]
        operations = [
            models.SetPayloadOperation(
                set_payload=models.SetPayload(
                    payload={"last_accessed_at": stamp, "access_count": r.episode.access_count},
                    points=[r.episode.id],
                )
            )
            for r in bumped
        ]
        self._client.batch_update_points(collection, operations)
        return bumped

    def get(self, tenant: str, agent: str, ids: Sequence[str]) -> list[Episode]:
        """Episodes by id, in the order asked; unknown ids are skipped."""
        collection = self._collection(tenant, agent, create=False)
        if collection is None or not ids:
            return []
        points = self._client.retrieve(collection, list(ids), with_payload=True)
        by_id = {str(p.id): Episode.from_payload(p.id, p.payload or {}) for p in points}
        return [by_id[i] for i in ids if i in by_id]

    def recent(self, tenant: str, agent: str, *, limit: int = 20) -> list[Episode]:
        """The agent's newest episodes (for inspection; no access bump)."""
        name = self.collection_name(tenant, agent)
        if not self._client.collection_exists(name):
            return []
        points, _ = self._client.scroll(name, limit=10_000, with_payload=True)
        episodes = [Episode.from_payload(p.id, p.payload or {}) for p in points]
        return sorted(episodes, key=lambda e: e.created_at, reverse=True)[:limit]

    def delete(self, tenant: str, agent: str, ids: Sequence[str]) -> int:
        """Forget episodes by id; returns how many existed."""
        name = self.collection_name(tenant, agent)
        if not ids or not self._client.collection_exists(name):
            return 0
        found = self._client.retrieve(name, ids=list(ids), with_payload=False)
        if found:
            selector = models.PointIdsList(points=[p.id for p in found])
            self._client.delete(name, points_selector=selector)
        return len(found)

    def ids_starting_with(self, tenant: str, agent: str, prefix: str) -> list[str]:
        """The agent's episode ids that start with `prefix` (ids are shown shortened)."""
        collection = self._collection(tenant, agent, create=False)
        prefix = prefix.lower()
        return [str(p.id) for p in self._scan(collection, None, False)  # type: ignore[arg-type]
                if str(p.id).startswith(prefix)]

    def count(self, tenant: str, agent: str) -> int:
        collection = self._collection(tenant, agent, create=False)
        return 0 if collection is None else self._client.count(collection).count

    # -- consolidation support ---------------------------------------------------------

    def unconsolidated(self, tenant: str, agent: str, *, limit: int = 20) -> list[Episode]:
        """The oldest `limit` episodes not yet consolidated: the dreamer's next batch."""
        collection = self._collection(tenant, agent, create=False)
        if collection is None:
            return []
        points, _ = self._client.scroll(
            collection,
            scroll_filter=_filter(include_consolidated=False),
            limit=limit,
            order_by=models.OrderBy(key="created_at", direction=models.Direction.ASC),
            with_payload=True,
        )
        return [Episode.from_payload(p.id, p.payload or {}) for p in points]

    def unconsolidated_stats(self, tenant: str, agent: str) -> UnconsolidatedStats:
        """Count, summed importance and oldest time of the backlog (reads payload only)."""
        count, total, oldest = 0, 0, None
        collection = self._collection(tenant, agent, create=False)
        selector = _filter(include_consolidated=False)
        for point in self._scan(collection, selector, ["importance", "created_at"]):
            payload = point.payload or {}
            count += 1
            total += int(payload["importance"])
            created = datetime.fromisoformat(payload["created_at"])
            oldest = created if oldest is None or created < oldest else oldest
        return UnconsolidatedStats(count=count, importance_sum=total, oldest_created_at=oldest)

    def mark_consolidated(
        self, tenant: str, agent: str, links: Mapping[str, Sequence[str]]
    ) -> None:
        """Mark episodes consolidated and record the fact ids each one produced."""
        collection = self._collection(tenant, agent, create=False)
        if collection is None or not links:
            return
        operations = [
            models.SetPayloadOperation(
                set_payload=models.SetPayload(
                    payload={
                        "consolidated": True,
                        "fact_ids": list(dict.fromkeys([*episode.fact_ids, *links[episode.id]])),
                    },
                    points=[episode.id],
                )
            )
            for episode in self.get(tenant, agent, list(links))
        ]
        self._client.batch_update_points(collection, operations)

    def prune(self, tenant: str, agent: str, policy: PrunePolicy | None = None) -> list[str]:
        """Delete the episodes `policy` allows (see memory.pruning); returns their ids."""
        collection = self._collection(tenant, agent, create=False)
        selector = prunable_filter(policy or PrunePolicy(), self._clock())
        ids = sorted(str(p.id) for p in self._scan(collection, selector, False))
        if collection is not None and ids:
            self._client.delete(collection, models.PointIdsList(points=list(ids)))
        return ids

    def _scan(
        self, collection: str | None, selector: models.Filter, with_payload: bool | list[str]
    ) -> Iterator[models.Record]:
        offset = None
        while collection is not None:
            points, offset = self._client.scroll(
                collection,
                scroll_filter=selector,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=with_payload,
            )
            yield from points
            if offset is None:
                return


def episode_point_id(tenant: str, agent: str, sha256: str) -> str:
    """Deterministic point id: identical content of one agent always maps to one point."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{tenant}\x1f{agent}\x1f{sha256}"))


def _filter(
    *,
    task: str | None = None,
    kinds: Iterable[EpisodeKind] | None = None,
    include_consolidated: bool = True,
) -> models.Filter | None:
    """Optional narrowing within an agent's collection; None (no filter) by default."""
    must: list[models.Condition] = []
    if task is not None:
        must.append(models.FieldCondition(key="task", match=models.MatchValue(value=task)))
    if kinds is not None:
        must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=list(kinds))))
    if not include_consolidated:
        must.append(models.FieldCondition(key="consolidated", match=models.MatchValue(value=False)))
    return models.Filter(must=must) if must else None


def _is_local(client: QdrantClient) -> bool:
    options = client.init_options
    return options.get("path") is not None or options.get("location") == ":memory:"


_PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType] = {
    "task": models.PayloadSchemaType.KEYWORD,
    "kind": models.PayloadSchemaType.KEYWORD,
    "consolidated": models.PayloadSchemaType.BOOL,
    "importance": models.PayloadSchemaType.INTEGER,
    "access_count": models.PayloadSchemaType.INTEGER,
    "created_at": models.PayloadSchemaType.DATETIME,
    "last_accessed_at": models.PayloadSchemaType.DATETIME,
}
