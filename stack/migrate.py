"""Versioned schema migrations: numbered .sql files applied once each, in order; then the
definition files (SQL functions such as the task lifecycle in stack/lifecycle.sql),
re-applied whenever their text changes.

Runs under a Postgres advisory lock so several processes starting at once apply each file
exactly once. The LangGraph checkpointer and procrastinate keep their own schemas.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFINITIONS = (Path(__file__).parent / "lifecycle.sql",)
_LOCK_ID = 0x77616B65  # "wake"


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def apply_migrations(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing or changed; returns the versions applied by this call."""
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for path in migration_files(directory):
                version = path.stem
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text().encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                    )
                applied_now.append(version)
            if directory == MIGRATIONS_DIR:
                applied_now += await _apply_definitions(conn, done)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


async def _apply_definitions(conn: psycopg.AsyncConnection, done: set[str]) -> list[str]:
    """Each definition file is recorded as `name@sha256-prefix`: a changed file is a new
    version, applied (CREATE OR REPLACE) in one transaction."""
    applied = []
    for path in DEFINITIONS:
        text = path.read_text()
        version = f"{path.stem}@{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        if version in done:
            continue
        async with conn.transaction():
            await conn.execute(text.encode())
            await conn.execute(
                "DELETE FROM schema_migrations WHERE version LIKE %s", (f"{path.stem}@%",)
            )
            await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        applied.append(version)
    return applied
