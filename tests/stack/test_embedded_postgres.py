"""Embedded Postgres is one server per data dir, shared by processes, stopped by the last."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from stack.process_share import pid_alive
from stack.services import Services
from stack.settings import Settings

if TYPE_CHECKING:
    from conftest import StackHelpers  # tests/stack/conftest.py

pytestmark = pytest.mark.slow


def test_processes_share_one_server_and_the_last_one_stops_it(
    embedded_data_dir: Path, stack_helpers: StackHelpers
) -> None:
    h = stack_helpers
    root = embedded_data_dir
    starter = h.spawn("pg", root, "hold")  # starts the server, then is SIGKILLed below
    try:
        first = h.report(starter)
        with Services(h.embedded(root)) as services:
            url = services.postgres_url
            assert h.postmaster_pid(url) == first["postmaster_pid"]  # adopted, not a 2nd one
            assert not (root / "graph").exists()  # nothing else started on the way
            assert not (root / "qdrant").exists()

            brief = h.run("pg", root)  # a third process comes and goes
            assert brief["postmaster_pid"] == first["postmaster_pid"]

        with Services(h.embedded(root)) as services:  # let go and take it again
            url = services.postgres_url
            handles = json.loads((root / "pg" / ".handle_pids.json").read_text())
            assert os.getpid() in handles  # registered again, so no peer stops it under us
            h.kill(starter)  # the process that started it dies without any cleanup

            assert h.postmaster_pid(url) == first["postmaster_pid"]  # still up for us
        # We were the last live user: closing Services stopped it.
        assert not pid_alive(first["postmaster_pid"])  # pg_ctl stop -w waited for it
        assert not (root / "pg" / "postmaster.pid").exists()
    finally:
        h.kill(starter)


def test_database_is_wakeful_and_answers(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT current_database(), 6 * 7").fetchone()
    assert row is not None
    assert row[1] == 42
    assert row[0].startswith("wakeful")


def test_two_services_in_one_process_share_and_count(settings: Settings, pg_url: str) -> None:
    with Services(settings) as other:
        assert other.postgres_url == pg_url
    # The session's Services still holds it: closing the other one must not stop it.
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


async def test_pool_is_configured_for_the_checkpointer(pg_pool: AsyncConnectionPool) -> None:
    async with pg_pool.connection() as conn:
        assert conn.autocommit is True
        assert conn.prepare_threshold == 0
        cur = await conn.execute("SELECT 1 AS one")
        assert await cur.fetchone() == {"one": 1}
