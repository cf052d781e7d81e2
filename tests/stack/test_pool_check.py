"""The pool's connection check (stack.postgres.check_if_closed): a healthy connection is
handed out again as it is, one whose backend the server ended is replaced, not failed."""

from __future__ import annotations

import select

import psycopg

from stack.postgres import open_pool


async def _backend_pid(conn: psycopg.AsyncConnection) -> int:
    cur = await conn.execute("SELECT pg_backend_pid() AS pid")
    row = await cur.fetchone()
    assert row is not None
    return int(row["pid"])


async def test_a_terminated_backend_is_replaced_and_a_healthy_one_kept(pg_url: str) -> None:
    pool = await open_pool(pg_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            first = await _backend_pid(conn)
            socket = conn.pgconn.socket
        async with pool.connection() as conn:
            assert await _backend_pid(conn) == first  # kept: nothing to read on its socket
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        # the server's goodbye reaches the idle connection's socket (a deadline, not a sleep)
        assert select.select([socket], [], [], 30)[0], "the terminated backend never spoke"
        async with pool.connection() as conn:
            assert await _backend_pid(conn) != first
    finally:
        await pool.close()
