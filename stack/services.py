"""The backing services of one process, started on first use and let go of together."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from stack.postgres import ensure_postgres, release_postgres
from stack.settings import Settings

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from stack.graphdb import GraphEndpoint

# stack.qdrant and stack.graphdb are imported where first used: qdrant-client alone takes
# about a second to import, which a command that needs only Postgres should not pay.


class Services:
    """Postgres URL, Qdrant client and graph endpoint for `settings`, each made on demand.

    Nothing starts until asked for, so a command that needs only Postgres never starts
    FalkorDB. close() gives back what was taken; an embedded server stops when its last
    user in the last process lets go.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._postgres_url: str | None = None
        self._qdrant: QdrantClient | None = None
        self._graph: GraphEndpoint | None = None

    @property
    def postgres_url(self) -> str:
        with self._lock:
            if self._postgres_url is None:
                self._postgres_url = ensure_postgres(self.settings)
            return self._postgres_url

    def qdrant(self) -> QdrantClient:
        from stack.qdrant import open_qdrant

        with self._lock:
            if self._qdrant is None:
                self._qdrant = open_qdrant(self.settings)
            return self._qdrant

    def graph(self) -> GraphEndpoint:
        from stack.graphdb import ensure_graphdb

        with self._lock:
            if self._graph is None:
                self._graph = ensure_graphdb(self.settings)
            return self._graph

    def close(self) -> None:
        """Give back everything taken; safe to call twice."""
        with self._lock:
            if self._qdrant is not None:
                from stack.qdrant import release_qdrant

                release_qdrant(self._qdrant)
                self._qdrant = None
            if self._graph is not None:
                from stack.graphdb import release_graphdb

                release_graphdb(self.settings)
                self._graph = None
            if self._postgres_url is not None:
                release_postgres(self.settings)
                self._postgres_url = None

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await asyncio.to_thread(self.close)  # stopping a server blocks for a moment
