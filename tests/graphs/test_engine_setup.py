"""Processes starting together on a fresh database each set it up without tripping over
each other (LangGraph's checkpointer and store migrations raced: UniqueViolation, deadlocks)."""

from __future__ import annotations

import asyncio

from wakeful_servers import own_database

from graphs.engine import Engine


async def test_engines_opening_at_once_on_a_fresh_database(settings, pg_url) -> None:
    with own_database(pg_url, "wakeful_setup") as url:
        engines = await asyncio.gather(*(Engine.open(settings, url=url) for _ in range(4)),
                                       return_exceptions=True)
        try:
            assert [e for e in engines if isinstance(e, BaseException)] == []
        finally:
            for engine in engines:
                if isinstance(engine, Engine):
                    await engine.close()
