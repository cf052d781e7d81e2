"""Qdrant local mode: a real round trip, and one process per data dir, said plainly."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from qdrant_client import QdrantClient, models

from stack.qdrant import open_qdrant, release_qdrant

if TYPE_CHECKING:
    from conftest import StackHelpers  # tests/stack/conftest.py

pytestmark = pytest.mark.slow


def add_episodes(client: QdrantClient) -> None:
    if not client.collection_exists("episodes"):
        client.create_collection(
            "episodes",
            vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE),
        )
    client.upsert("episodes", [
        models.PointStruct(id=1, vector=[1.0, 0.0, 0.0], payload={"text": "disk full"}),
        models.PointStruct(id=2, vector=[0.0, 1.0, 0.0], payload={"text": "cpu hot"}),
    ])  # fmt: skip


def test_round_trip(qdrant_client: QdrantClient) -> None:
    add_episodes(qdrant_client)
    hits = qdrant_client.query_points("episodes", query=[0.9, 0.1, 0.0], limit=1).points
    assert [h.payload["text"] for h in hits if h.payload] == ["disk full"]


def test_a_second_process_is_told_who_holds_it_then_gets_it(
    embedded_data_dir: Path, stack_helpers: StackHelpers
) -> None:
    root = embedded_data_dir
    settings = stack_helpers.embedded(root)
    client = open_qdrant(settings)
    try:
        add_episodes(client)
        assert open_qdrant(settings) is client  # in-process users share one client
        release_qdrant(client)

        started = time.monotonic()
        refused = stack_helpers.run("qdrant", root)  # waits its 1 s bound, gives up
        assert time.monotonic() - started < 30
        assert f"held by pid {os.getpid()}" in refused["error"]
        assert "QDRANT_URL" in refused["error"]
    finally:
        release_qdrant(client)

    after = stack_helpers.run("qdrant", root)  # once we let go, it opens our data
    assert after.get("error") is None
    assert after["points"] == 2


def test_local_client_is_safe_for_concurrent_threads(settings) -> None:
    """Several threads writing and searching one shared local-mode client (as a worker's
    concurrent tasks do) neither fail nor lose points."""
    from concurrent.futures import ThreadPoolExecutor

    from qdrant_client import models

    from stack.qdrant import open_qdrant, release_qdrant

    client = open_qdrant(settings)
    try:
        name = "concurrency_probe"
        if client.collection_exists(name):
            client.delete_collection(name)
        client.create_collection(
            name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
        )

        def work(worker: int) -> int:
            for i in range(20):
                point = models.PointStruct(
                    id=worker * 100 + i, vector=[1.0, worker, i, 1.0], payload={"w": worker}
                )
                client.upsert(name, [point])
                client.query_points(name, query=[1.0, worker, i, 1.0], limit=3)
            return worker

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sorted(pool.map(work, range(8))) == list(range(8))
        assert client.count(name).count == 160
        client.delete_collection(name)
    finally:
        release_qdrant(client)
