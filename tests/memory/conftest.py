"""Memory stores on the session's real services: Qdrant local mode and embedded FalkorDB
(from tests/conftest.py), plus Neo4j when NEO4J_URI is set.

Every test gets its own tenant, so tests share servers and collections without seeing
each other (FalkorDB over Bolt has a single graph; isolation is by tenant anyway).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import neo4j
import pytest
from qdrant_client import QdrantClient

from memory.embeddings import Embedder, shared_embedder
from memory.episodic import EpisodicConfig, EpisodicMemory
from memory.knowledge_graph import KnowledgeGraph
from stack.graphdb import GraphEndpoint, ensure_graphdb, release_graphdb
from stack.settings import Settings

TEST_PREFIX = "test-episodes"


class ManualClock:
    """A clock the test moves by hand: `now` is injected, never slept for."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def episodic(qdrant_client: QdrantClient, embedder: Embedder, clock: ManualClock) -> EpisodicMemory:
    return EpisodicMemory(
        qdrant_client,
        embedder=embedder,
        clock=clock,
        config=EpisodicConfig(collection_prefix=TEST_PREFIX),
    )


@pytest.fixture(scope="session", params=["falkordb", "neo4j"])
def graph_backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[GraphEndpoint]:
    """Each graph backend once per session: FalkorDB always, Neo4j only with NEO4J_URI."""
    if request.param == "neo4j":
        uri = os.environ.get("NEO4J_URI")
        if not uri:
            pytest.skip("NEO4J_URI is not set: the Neo4j 5.x variant needs a server")
        backend_settings = settings.model_copy(update={"neo4j_uri": uri})
    else:
        backend_settings = settings.model_copy(update={"neo4j_uri": None})
    if request.param == ("neo4j" if settings.neo4j_uri else "falkordb"):
        yield request.getfixturevalue("graph_endpoint")  # the session's own graph service
        return
    endpoint = ensure_graphdb(backend_settings)
    try:
        yield endpoint
    finally:
        release_graphdb(backend_settings)


@pytest.fixture(scope="session")
def graph_driver(graph_backend: GraphEndpoint) -> Iterator[neo4j.Driver]:
    driver = graph_backend.driver()
    try:
        yield driver
    finally:
        graph_backend.close_driver(driver)


@pytest.fixture
def graph(
    graph_backend: GraphEndpoint,
    graph_driver: neo4j.Driver,
    embedder: Embedder,
    clock: ManualClock,
) -> KnowledgeGraph:
    return KnowledgeGraph(
        graph_driver,
        database=graph_backend.database,
        dialect=graph_backend.dialect,
        embedder=embedder,
        clock=clock,
    )
