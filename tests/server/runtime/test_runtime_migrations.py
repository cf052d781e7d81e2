"""Schema on start: versioned migrations from an empty database and from the previous
version (data survives), and procrastinate's schema applied once when missing."""

from __future__ import annotations

import asyncio
import shutil

import psycopg
from psycopg.rows import dict_row

from server.runtime.queue import ensure_queue_schema
from stack.migrate import MIGRATIONS_DIR, apply_migrations, migration_files

RUNTIME = "0004_runtime"


def _rows(url: str, query: str, *params: object) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


async def test_migrations_from_an_empty_database(runtime_db) -> None:
    applied = await apply_migrations(runtime_db.url)
    # every numbered file in order, then the lifecycle's functions (by their text's digest)
    assert applied[:-1] == [p.stem for p in migration_files()] and RUNTIME in applied
    assert applied[-1].startswith("lifecycle@")
    tables = {r["table_name"] for r in _rows(
        runtime_db.url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"tenants", "api_tokens", "agents", "runtime_flags", "alert_rules", "alerts",
            "alert_deliveries"} <= tables
    assert _rows(runtime_db.url, "SELECT value FROM runtime_flags WHERE name = 'killswitch'") \
        == [{"value": False}]
    assert await apply_migrations(runtime_db.url) == []


async def test_migrating_from_the_previous_version_keeps_the_data(runtime_db, tmp_path) -> None:
    previous = tmp_path / "previous"
    previous.mkdir()
    for path in migration_files():
        if path.stem < RUNTIME:
            shutil.copy(path, previous / path.name)
    assert RUNTIME not in await apply_migrations(runtime_db.url, previous)
    with psycopg.connect(runtime_db.url) as conn:
        conn.execute("INSERT INTO tasks (id, tenant, agent, goal, state, last_seq)"
                     " VALUES ('old-1', 'acme', 'a', 'an old goal', 'completed', 2)")
        conn.execute("INSERT INTO events (task_id, seq, type, data)"
                     " VALUES ('old-1', 1, 'node', '{\"node\": \"recall\"}'),"
                     " ('old-1', 2, 'finished', '{}')")

    applied = await apply_migrations(runtime_db.url, MIGRATIONS_DIR)
    assert applied[0] == RUNTIME and applied[-1].startswith("lifecycle@")
    [task] = _rows(runtime_db.url, "SELECT * FROM tasks")
    assert (task["id"], task["goal"], task["state"], task["continuous"], task["iteration_of"]) \
        == ("old-1", "an old goal", "completed", False, None)
    assert [r["type"] for r in _rows(runtime_db.url, "SELECT type FROM events ORDER BY seq")] \
        == ["node", "finished"]
    # every tenant that had tasks exists, so tokens can be made for it
    assert {r["id"] for r in _rows(runtime_db.url, "SELECT id FROM tenants")} == {"acme", "local"}


async def test_the_queue_schema_is_applied_once_by_concurrent_starts(runtime_db) -> None:
    results = await asyncio.gather(*(ensure_queue_schema(runtime_db.url) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert _rows(runtime_db.url, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS ok") \
        == [{"ok": True}]
    assert await ensure_queue_schema(runtime_db.url) is False
