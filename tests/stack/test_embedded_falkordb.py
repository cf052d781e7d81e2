"""Embedded FalkorDB over Bolt: shared by processes, stopped by the last, data kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stack import process_share
from stack.graphdb import GraphEndpoint, embedded_server_pid, ensure_graphdb, release_graphdb
from stack.process_share import pid_alive

if TYPE_CHECKING:
    from conftest import StackHelpers  # tests/stack/conftest.py

pytestmark = pytest.mark.slow


def marks(endpoint: GraphEndpoint) -> list[str]:
    driver = endpoint.driver()
    try:
        records = driver.execute_query(
            "MATCH (m:Mark) RETURN m.by AS by ORDER BY by", database_=endpoint.database
        ).records
    finally:
        endpoint.close_driver(driver)
    return [r["by"] for r in records]


def add_mark(endpoint: GraphEndpoint, by: str) -> None:
    driver = endpoint.driver()
    try:
        driver.execute_query("CREATE (:Mark {by: $by})", by=by, database_=endpoint.database)
    finally:
        endpoint.close_driver(driver)


def test_processes_share_one_server_and_the_last_one_stops_it(
    embedded_data_dir: Path, stack_helpers: StackHelpers
) -> None:
    h = stack_helpers
    root = embedded_data_dir
    settings = h.embedded(root)
    starter = h.spawn("graph", root, "hold")  # starts FalkorDB, writes, is SIGKILLed below
    try:
        first = h.report(starter)
        endpoint = ensure_graphdb(settings)
        try:
            assert endpoint.uri == first["uri"]
            assert embedded_server_pid(settings) == first["server_pid"]  # adopted
            assert marks(endpoint) == [f"child-{first['pid']}"]  # we read what it wrote
            add_mark(endpoint, "parent")

            brief = h.run("graph", root)  # a third process comes and goes
            assert brief["server_pid"] == first["server_pid"]
            assert "parent" in brief["marks"]  # it reads what we wrote
            h.kill(starter)  # the process that started it dies without any cleanup

            assert len(marks(endpoint)) == 3  # still serving us
        finally:
            release_graphdb(settings)
        # We were the last live user: letting go stopped it.
        assert process_share.read_state(root / "graph") is None  # removed before we return
        assert not pid_alive(first["server_pid"])
    finally:
        h.kill(starter)

    # The clean stop saved the graph: a new server on the same data dir has every node.
    endpoint = ensure_graphdb(settings)
    try:
        assert embedded_server_pid(settings) not in (None, first["server_pid"])
        expected = ["parent", f"child-{first['pid']}", f"child-{brief['pid']}"]
        assert sorted(marks(endpoint)) == sorted(expected)
    finally:
        release_graphdb(settings)


def test_session_graph_answers_over_bolt(graph_endpoint: GraphEndpoint) -> None:
    driver = graph_endpoint.driver()
    try:
        result = driver.execute_query("RETURN 6 * 7 AS n", database_=graph_endpoint.database)
    finally:
        graph_endpoint.close_driver(driver)
    assert result.records[0]["n"] == 42


def test_falkordb_driver_reads_large_replies_with_quickack(graph_endpoint) -> None:
    """FalkorDB drivers read with TCP_QUICKACK (see stack/bolt_quickack.py); a reply far
    over the ~4 KB piece size arrives whole."""
    from neo4j._async_compat.network import _bolt_socket

    driver = graph_endpoint.driver()
    try:
        assert getattr(_bolt_socket.BoltSocketBase, "_wakeful_quickack", False)
        records, _, _ = driver.execute_query(
            "UNWIND range(1, 2000) AS i RETURN i, 'padding-' + toString(i) AS text",
            database_=graph_endpoint.database,
        )
        assert len(records) == 2000
        assert records[-1]["text"] == "padding-2000"
    finally:
        graph_endpoint.close_driver(driver)
