"""L4 knowledge graph: (:Entity)-[:RELATES_TO]->(:Entity) over Bolt, on FalkorDB or Neo4j.

Why it looks the way it does:
- Facts are bi-temporal (valid_at/invalid_at: true in the world; created_at/expired_at:
  believed by us). A contradicted fact is invalidated and expired, never deleted, so
  "what did we believe, and when" stays answerable; reads show current facts unless
  history is asked for.
- Entities merge on (tenant, agent, normalised name, type); a fact asserted again adds a
  mention and its episodes instead of a duplicate edge.
- Every query is in the Cypher subset FalkorDB and Neo4j share; schema, vector and
  full-text text come from memory.graph_dialect. Times are epoch seconds (FalkorDB has no
  temporal types).
- Queries run as managed transactions (session.execute_read/execute_write), which the
  driver retries on a dropped connection; each write is one statement, so it is atomic on
  both backends.
- Writes of one graph object are serialised (read current facts, then write), so
  contradiction checks in one process never interleave. Several processes writing facts
  of the same agent at once could race; the dreamer is one job per agent.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import neo4j

from memory.embeddings import Embedder, shared_embedder
from memory.facts import (
    MAX_SUMMARY_CHARS,
    Entity,
    EntityHit,
    EntityRef,
    Fact,
    FactInput,
    FactUpsert,
    Neighbourhood,
    normalize_label,
    normalize_name,
)
from memory.graph_dialect import ENTITY_FIELDS, GraphDialect, dialect_for

if TYPE_CHECKING:
    from stack.graphdb import GraphEndpoint

Clock = Callable[[], datetime]
MAX_HOPS = 3

# A fact bound to `r` is current: not expired, and not invalid as of $now.
_CURRENT = "(r.expired_at IS NULL AND (r.invalid_at IS NULL OR r.invalid_at > $now))"
_SHOWN = f"($history OR {_CURRENT})"
_PREDICATE_OK = "(size($predicates) = 0 OR r.predicate IN $predicates)"
_SUBJECT = "(s:Entity {tenant: $tenant, agent: $agent, name_norm: $s_norm, type: $s_type})"
_OBJECT = "(o:Entity {tenant: $tenant, agent: $agent, name_norm: $o_norm, type: $o_type})"
# Flat columns, not maps: column names travel once per response instead of once per row,
# and FalkorDB's Bolt answers stall ~40 ms once a response passes ~4 KB (see the
# graph_dialect docstring), so bytes per fact matter.
_FACT_ROW = (
    "WITH r, startNode(r) AS s, endNode(r) AS o "
    "RETURN r.fact_id AS fact_id, r.predicate AS predicate, r.fact AS fact, "
    "r.valid_at AS valid_at, r.invalid_at AS invalid_at, r.created_at AS created_at, "
    "r.expired_at AS expired_at, r.episodes AS episodes, r.mentions AS mentions, "
    "s.name AS s_name, s.name_norm AS s_norm, s.type AS s_type, "
    "o.name AS o_name, o.name_norm AS o_norm, o.type AS o_type"
)

MERGE_ENTITY = (
    "MERGE (e:Entity {tenant: $tenant, agent: $agent, name_norm: $name_norm, type: $type}) "
    "ON CREATE SET e.name = $name, e.summary = '', e.created_at = $now, "
    "e.embedding = {vector}"
)
SET_SUMMARY = (
    "MATCH (e:Entity {tenant: $tenant, agent: $agent, name_norm: $name_norm, type: $type}) "
    "SET e.summary = $summary"
)
CURRENT_OBJECTS = (
    f"MATCH {_SUBJECT}-[r:RELATES_TO {{predicate: $predicate}}]->(o:Entity) "
    f"WHERE {_CURRENT} "
    "RETURN r.fact_id AS fact_id, o.name_norm AS name_norm, o.type AS type, "
    "r.valid_at AS valid_at"
)
REINFORCE_FACT = (
    f"MATCH {_SUBJECT}-[r:RELATES_TO {{fact_id: $fact_id}}]->() "
    "SET r.mentions = coalesce(r.mentions, 1) + 1, "
    "r.episodes = coalesce(r.episodes, []) "
    "+ [x IN $episodes WHERE NOT x IN coalesce(r.episodes, [])], "
    "r.fact = CASE WHEN coalesce(r.fact, '') = '' THEN $fact ELSE r.fact END"
)
# Invalidation of the contradicted facts and creation of the new one in one statement,
# so no reader ever sees both current or neither.
CREATE_FACT = (
    f"MATCH {_SUBJECT} MATCH {_OBJECT} "
    "OPTIONAL MATCH (s)-[old:RELATES_TO]->() WHERE old.fact_id IN $invalidate "
    "WITH s, o, collect(old) AS olds "
    "FOREACH (x IN olds | SET x.invalid_at = $valid_at, x.expired_at = $now) "
    "CREATE (s)-[r:RELATES_TO]->(o) "
    "SET r.fact_id = $fact_id, r.predicate = $predicate, r.fact = $fact, "
    "r.valid_at = $valid_at, r.invalid_at = $invalid_at, r.created_at = $now, "
    "r.episodes = $episodes, r.mentions = 1 "
    "RETURN r.fact_id AS fact_id"
)
FIND_ENTITIES = (
    "MATCH (e:Entity {tenant: $tenant, agent: $agent, name_norm: $name_norm}) "
    "WHERE $type IS NULL OR e.type = $type "
    f"RETURN e {ENTITY_FIELDS} AS entity"
)
FACTS_ABOUT = (
    "MATCH (e:Entity {tenant: $tenant, agent: $agent, name_norm: $name_norm}) "
    "WHERE $type IS NULL OR e.type = $type "
    "MATCH (e)-[r:RELATES_TO]-(:Entity) "
    f"WHERE {_SHOWN} AND {_PREDICATE_OK} "
    f"{_FACT_ROW} ORDER BY valid_at DESC LIMIT $limit"
)
NEIGHBOURHOOD = (
    "MATCH (a:Entity {tenant: $tenant, agent: $agent, name_norm: $name_norm}) "
    "WHERE $type IS NULL OR a.type = $type "
    "MATCH p = (a)-[:RELATES_TO*1..{hops}]-(:Entity) "
    f"WHERE all(r IN relationships(p) WHERE {_SHOWN} AND {_PREDICATE_OK}) "
    "UNWIND relationships(p) AS r "
    # An edge's distance is the shortest path it lies on: nearer, then newer facts first,
    # so a limit cuts the far and old ones.
    "WITH r, min(length(p)) AS distance "
    "ORDER BY distance, r.valid_at DESC LIMIT $limit "
    f"{_FACT_ROW}"
)
FACTS_FROM_EPISODE = (
    "MATCH (:Entity {tenant: $tenant, agent: $agent})-[r:RELATES_TO]->(:Entity) "
    "WHERE $episode IN r.episodes "
    f"{_FACT_ROW}"
)

ALL_FACTS = (
    "MATCH (:Entity {tenant: $tenant, agent: $agent})-[r:RELATES_TO]->(:Entity) "
    f"WHERE {_SHOWN} "
    f"{_FACT_ROW} ORDER BY created_at DESC LIMIT $limit"
)
DELETE_FACT = (
    "MATCH (:Entity {tenant: $tenant, agent: $agent})-[r:RELATES_TO]->(:Entity) "
    "WHERE r.fact_id = $fact_id DELETE r RETURN count(*) AS deleted"
)
FACT_IDS_STARTING_WITH = (
    "MATCH (:Entity {tenant: $tenant, agent: $agent})-[r:RELATES_TO]->(:Entity) "
    "WHERE r.fact_id STARTS WITH $prefix RETURN DISTINCT r.fact_id AS fact_id LIMIT 10"
)
DELETE_AGENT = (
    "MATCH (e:Entity {tenant: $tenant, agent: $agent}) "
    "DETACH DELETE e RETURN count(*) AS deleted"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class KnowledgeGraph:
    """The L4 store over a neo4j driver the caller owns (or from_endpoint, which owns it)."""

    def __init__(
        self,
        driver: neo4j.Driver,
        *,
        database: str,
        dialect: GraphDialect | str,
        embedder: Embedder | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._driver = driver
        self._database = database
        self.dialect = dialect if isinstance(dialect, GraphDialect) else dialect_for(dialect)
        self._embedder = embedder or shared_embedder()
        self._clock = clock
        self._write_lock = threading.Lock()
        self._on_close: Callable[[], None] | None = None
        self.dialect.ensure_schema(self._write, self._embedder.dim)

    @classmethod
    def from_endpoint(cls, endpoint: GraphEndpoint, **kwargs: Any) -> KnowledgeGraph:
        """A graph with its own driver, closed (the backend's way) by close()."""
        driver = endpoint.driver()
        try:
            graph = cls(driver, database=endpoint.database, dialect=endpoint.dialect, **kwargs)
        except BaseException:
            endpoint.close_driver(driver)
            raise
        graph._on_close = lambda: endpoint.close_driver(driver)
        return graph

    def close(self) -> None:
        """Close the driver if this graph opened it; a passed-in driver stays open."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> KnowledgeGraph:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------

    def upsert_entity(
        self, tenant: str, agent: str, entity: EntityRef, *, summary: str | None = None
    ) -> None:
        """Create the entity if new (with its name embedding); set its summary if given."""
        self.upsert_entities(tenant, agent, [entity])
        if summary is not None:
            self._write(
                SET_SUMMARY,
                {**_entity_key(tenant, agent, entity), "summary": summary[:MAX_SUMMARY_CHARS]},
            )

    def upsert_entities(self, tenant: str, agent: str, entities: Iterable[EntityRef]) -> None:
        """Merge entities; a new one gets the first display name given for its key."""
        first_seen: dict[tuple[str, str], EntityRef] = {}
        for entity in entities:
            first_seen.setdefault(entity.key, entity)
        unique = list(first_seen.values())
        if not unique:
            return
        vectors = self._embedder.embed([e.name for e in unique])
        query = MERGE_ENTITY.replace("{vector}", self.dialect.vector_expr)
        now = _ts(self._clock())
        for entity, vector in zip(unique, vectors, strict=True):
            params = {
                **_entity_key(tenant, agent, entity),
                "name": entity.name,
                "now": now,
                "vector": self.dialect.encode_vector(vector),
            }
            self._write(query, params)

    def upsert_facts(self, tenant: str, agent: str, facts: Sequence[FactInput]) -> list[FactUpsert]:
        """Merge facts in valid_at order; results in input order.

        Per fact: a current fact with the same subject, predicate and object is
        reinforced (mentions + 1, episodes added). Otherwise a new fact is created; if it
        is exclusive, the subject's current facts with this predicate and another object
        are invalidated at its valid_at (or, when they are newer than it, the new fact is
        stored as history ending where they begin).
        """
        now = self._clock()
        with self._write_lock:
            self.upsert_entities(tenant, agent, [r for f in facts for r in (f.subject, f.object)])
            order = sorted(range(len(facts)), key=lambda i: facts[i].valid_at or now)
            results: dict[int, FactUpsert] = {}
            for i in order:
                results[i] = self._upsert_fact(tenant, agent, facts[i], now)
        return [results[i] for i in range(len(facts))]

    def _upsert_fact(self, tenant: str, agent: str, fact: FactInput, now: datetime) -> FactUpsert:
        keys = {
            "tenant": tenant,
            "agent": agent,
            "s_norm": fact.subject.name_norm,
            "s_type": fact.subject.type,
        }
        valid_at = _ts(fact.valid_at or now)
        current = self._read(
            CURRENT_OBJECTS, {**keys, "predicate": fact.predicate, "now": _ts(now)}
        )
        for row in current:
            if (row["name_norm"], row["type"]) == fact.object.key:
                self._write(
                    REINFORCE_FACT,
                    {
                        **keys,
                        "fact_id": row["fact_id"],
                        "episodes": fact.episodes,
                        "fact": fact.fact,
                    },
                )
                return FactUpsert(fact_id=row["fact_id"], outcome="reinforced")
        conflicting = current if fact.exclusive else []
        newer = [r["valid_at"] for r in conflicting if (r["valid_at"] or 0.0) > valid_at]
        invalidate = [r["fact_id"] for r in conflicting if (r["valid_at"] or 0.0) <= valid_at]
        fact_id = str(uuid.uuid4())
        self._write(
            CREATE_FACT,
            {
                **keys,
                "o_norm": fact.object.name_norm,
                "o_type": fact.object.type,
                "fact_id": fact_id,
                "predicate": fact.predicate,
                "fact": fact.fact,
                "valid_at": valid_at,
                "invalid_at": min(newer) if newer else None,
                "now": _ts(now),
                "episodes": fact.episodes,
                "invalidate": invalidate,
            },
        )
        return FactUpsert(fact_id=fact_id, outcome="created", invalidated=invalidate)

    # -- reads -------------------------------------------------------------------------

    def find_entities(
        self, tenant: str, agent: str, name: str, *, type: str | None = None
    ) -> list[Entity]:
        """Entities with this normalised name (one per type unless `type` is given)."""
        rows = self._read(FIND_ENTITIES, _name_params(tenant, agent, name, type))
        return [Entity.model_validate(row["entity"]) for row in rows]

    def facts_about(
        self,
        tenant: str,
        agent: str,
        name: str,
        *,
        type: str | None = None,
        predicates: Iterable[str] = (),
        include_history: bool = False,
        limit: int = 100,
    ) -> list[Fact]:
        """Facts with the entity as subject or object, newest valid_at first."""
        params = {
            **_name_params(tenant, agent, name, type),
            "now": _ts(self._clock()),
            "history": include_history,
            "predicates": _predicates(predicates),
            "limit": int(limit),
        }
        return [_fact(row) for row in self._read(FACTS_ABOUT, params)]

    def neighbourhood(
        self,
        tenant: str,
        agent: str,
        name: str,
        *,
        hops: int = 2,
        type: str | None = None,
        predicates: Iterable[str] = (),
        include_history: bool = False,
        limit: int = 100,
    ) -> Neighbourhood:
        """Facts on paths of up to `hops` (1-3) edges from the entity, in either direction,
        where every edge passes the filters (current unless include_history; predicate in
        `predicates` if given). At most `limit` facts, nearest and newest first: a hub
        (a status value many services share) would otherwise return hundreds."""
        if not 1 <= hops <= MAX_HOPS:
            raise ValueError(f"hops must be between 1 and {MAX_HOPS}, got {hops}")
        start = self.find_entities(tenant, agent, name, type=type)
        params = {
            **_name_params(tenant, agent, name, type),
            "now": _ts(self._clock()),
            "history": include_history,
            "predicates": _predicates(predicates),
            "limit": int(limit),
        }
        rows = self._read(NEIGHBOURHOOD.replace("{hops}", str(int(hops))), params)
        facts = [_fact(row) for row in rows]
        entities = {(e.name_norm, e.type): e for f in facts for e in (f.subject, f.object)}
        for entity in start:
            entities.pop((entity.name_norm, entity.type), None)
        return Neighbourhood(start=start, entities=list(entities.values()), facts=facts)

    def all_facts(
        self, tenant: str, agent: str, *, include_history: bool = False, limit: int = 100
    ) -> list[Fact]:
        """The agent's facts, newest first (current ones unless history is asked for)."""
        params = {
            "tenant": tenant,
            "agent": agent,
            "now": _ts(self._clock()),
            "history": include_history,
            "limit": int(limit),
        }
        return [_fact(row) for row in self._read(ALL_FACTS, params)]

    def delete_fact(self, tenant: str, agent: str, fact_id: str) -> bool:
        """Forget one fact (an operator's decision; contradictions invalidate instead)."""
        rows = self._write(DELETE_FACT, {"tenant": tenant, "agent": agent, "fact_id": fact_id})
        return bool(rows and rows[0]["deleted"])

    def fact_ids_starting_with(self, tenant: str, agent: str, prefix: str) -> list[str]:
        """Up to 10 of the agent's fact ids that start with `prefix` (shown shortened)."""
        rows = self._read(
            FACT_IDS_STARTING_WITH, {"tenant": tenant, "agent": agent, "prefix": prefix}
        )
        return [row["fact_id"] for row in rows]

    def delete_agent(self, tenant: str, agent: str) -> int:
        """Forget everything the agent knows: its entities and their facts."""
        rows = self._write(DELETE_AGENT, {"tenant": tenant, "agent": agent})
        return int(rows[0]["deleted"]) if rows else 0

    def facts_from_episode(self, tenant: str, agent: str, episode_id: str) -> list[Fact]:
        """Every fact (current or not) that cites the episode as provenance."""
        rows = self._read(
            FACTS_FROM_EPISODE, {"tenant": tenant, "agent": agent, "episode": episode_id}
        )
        return [_fact(row) for row in rows]

    def search_entities(
        self, tenant: str, agent: str, text: str, *, k: int = 5, min_similarity: float = -1.0
    ) -> list[EntityHit]:
        """Entities whose names are nearest to `text` (cosine), best first.

        The vector index is shared by all agents, so it is asked for more than k and
        filtered; if that leaves fewer than k, an exact scan of this agent's entities
        answers instead, so a small agent in a big graph still gets its k.
        """
        vector = self.dialect.encode_vector(self._embedder.embed_one(text))
        params = {
            "tenant": tenant,
            "agent": agent,
            "vector": vector,
            "k": int(k),
            "fetch": max(10 * int(k), 100),
        }
        rows = self._read(self.dialect.vector_search, params)
        if len(rows) < k:
            del params["fetch"]
            rows = self._read(self.dialect.exact_vector_search, params)
        hits = [
            EntityHit(entity=Entity.model_validate(r["entity"]), score=r["similarity"])
            for r in rows
        ]
        return [h for h in hits if h.score >= min_similarity]

    def search_entities_text(
        self, tenant: str, agent: str, text: str, *, k: int = 5
    ) -> list[EntityHit]:
        """Entities whose name or summary share words with `text` (full-text index)."""
        words = [w for w in normalize_label(text).split("_") if w]
        if not words:
            return []
        params = {
            "tenant": tenant,
            "agent": agent,
            "k": int(k),
            "fetch": max(10 * k, 100),
            "text": self.dialect.fulltext_text(words),
        }
        rows = self._read(self.dialect.fulltext_search, params)
        return [
            EntityHit(entity=Entity.model_validate(r["entity"]), score=r["similarity"])
            for r in rows
        ]

    # -- plumbing ----------------------------------------------------------------------

    def _read(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._run(query, params, write=False)

    def _write(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._run(query, params, write=True)

    def _run(self, query: str, params: dict[str, Any], *, write: bool) -> list[dict[str, Any]]:
        wire = self.dialect.prepare(params)

        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return tx.run(query, wire).data()

        with self._driver.session(database=self._database) as session:
            return session.execute_write(work) if write else session.execute_read(work)


def _entity_key(tenant: str, agent: str, entity: EntityRef) -> dict[str, str]:
    return {"tenant": tenant, "agent": agent, "name_norm": entity.name_norm, "type": entity.type}


def _name_params(tenant: str, agent: str, name: str, type: str | None) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "agent": agent,
        "name_norm": normalize_name(name),
        "type": normalize_label(type) if type else None,
    }


def _predicates(predicates: Iterable[str]) -> list[str]:
    return sorted({normalize_label(p) for p in predicates if normalize_label(p)})


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: graph timestamps must be timezone-aware (UTC)")
    return moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _fact(row: dict[str, Any]) -> Fact:
    return Fact(
        fact_id=row["fact_id"],
        subject=Entity(name=row["s_name"], name_norm=row["s_norm"], type=row["s_type"]),
        predicate=row["predicate"],
        object=Entity(name=row["o_name"], name_norm=row["o_norm"], type=row["o_type"]),
        fact=row["fact"] or "",
        valid_at=_dt(row["valid_at"]),
        invalid_at=_dt(row["invalid_at"]),
        created_at=_dt(row["created_at"]),
        expired_at=_dt(row["expired_at"]),
        episodes=list(row["episodes"] or []),
        mentions=int(row["mentions"] or 1),
    )
