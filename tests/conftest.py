"""Session fixtures on real backing services, each started only when a test asks for it.

With DATABASE_URL set, the session gets a fresh database on that server and drops it at
the end; otherwise embedded Postgres, Qdrant local mode and FalkorDB run under a session
temp dir and stop when the session ends.
"""

from __future__ import annotations

import os

# Before anything imports transformers or huggingface_hub: weights come from packages.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from psycopg_pool import AsyncConnectionPool
from wakeful_servers import own_database

from stack.postgres import open_pool
from stack.services import Services
from stack.settings import Settings, load_settings

if TYPE_CHECKING:  # imported by Services on first use; qdrant-client is slow to import
    from qdrant_client import QdrantClient

    from stack.graphdb import GraphEndpoint


@contextlib.contextmanager
def fresh_data_dir() -> Iterator[Path]:
    """A data dir outside pytest's temp root, removed afterwards.

    As root, embedded Postgres runs as the OS user `pgserver`, which must traverse every
    parent of its data dir; pgserver opens them up, but each new pytest session makes
    /tmp/pytest-of-<user> private again and breaks a server starting at that moment.
    """
    path = Path(tempfile.mkdtemp(prefix="wakeful-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def fresh_database() -> Iterator[str | None]:
    """With DATABASE_URL set, a new database on that server for this session; else None."""
    base_url = os.environ.get("DATABASE_URL")
    if not base_url:
        yield None
        return
    with own_database(base_url, "wakeful_test") as url:
        yield url


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    with fresh_data_dir() as data_dir, fresh_database() as database_url:
        yield load_settings(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data dir of its own for a test that starts embedded servers (see fresh_data_dir)."""
    with fresh_data_dir() as path:
        yield path


@pytest.fixture(scope="session")
def services(settings: Settings) -> Iterator[Services]:
    with Services(settings) as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_url(services: Services) -> str:
    return services.postgres_url


@pytest.fixture(scope="session")
async def pg_pool(pg_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(pg_url)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def qdrant_client(services: Services) -> QdrantClient:
    return services.qdrant()


@pytest.fixture(scope="session")
def graph_endpoint(services: Services) -> GraphEndpoint:
    return services.graph()
