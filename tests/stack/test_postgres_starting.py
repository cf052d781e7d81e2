"""A process that starts while Postgres is still starting up (crash recovery after an
outage) waits for it instead of exiting; any other refusal still fails at once.

Between the probe and the real server sits a small TCP proxy that answers the first
connections the way a recovering server does (an ErrorResponse with SQLSTATE 57P03), then
passes bytes through to the real Postgres.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
import pytest

from stack.errors import ServiceUnavailable
from stack.postgres import probe_postgres


def _error_response(sqlstate: str, message: str) -> bytes:
    fields = (
        b"".join(
            code + value.encode() + b"\0"
            for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
        )
        + b"\0"
    )
    return b"E" + struct.pack("!i", len(fields) + 4) + fields


def _read_startup(conn: socket.socket) -> None:
    """Read the client's startup packet, declining SSL/GSS encryption requests first."""
    while True:
        (length,) = struct.unpack("!i", _recv_exactly(conn, 4))
        body = _recv_exactly(conn, length - 4)
        (code,) = struct.unpack("!i", body[:4])
        if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
            conn.sendall(b"N")
            continue
        return


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def recovering_proxy(
    pg_url: str, *, refusals: int, sqlstate: str = "57P03", message: str
) -> Iterator[tuple[str, list[int]]]:
    """A URL whose first `refusals` connections are refused with `sqlstate`; later ones
    reach the real server. Yields the URL and a one-item list counting refusals sent."""
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    upstream = (info.get("host") or "127.0.0.1", int(info.get("port") or 5432))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    refused = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if refused[0] < refusals:
                try:
                    _read_startup(conn)
                    conn.sendall(_error_response(sqlstate, message))
                except ConnectionError:
                    pass
                refused[0] += 1
                conn.close()
                continue
            if upstream[0].startswith("/"):  # a Unix socket directory
                server = socket.socket(socket.AF_UNIX)
                server.connect(f"{upstream[0]}/.s.PGSQL.{upstream[1]}")
            else:
                server = socket.create_connection(upstream)
            for a, b in ((conn, server), (server, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = psycopg.conninfo.make_conninfo(
        pg_url, host="127.0.0.1", port=str(port), sslmode="disable"
    )
    try:
        yield url, refused
    finally:
        stop.set()
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        listener.close()
        thread.join(timeout=10)


def test_a_server_in_crash_recovery_is_waited_for(pg_url: str) -> None:
    with recovering_proxy(
        pg_url, refusals=3, message="the database system is in recovery mode"
    ) as (url, refused):
        probe_postgres(url)  # returns once the server answers

    assert refused[0] == 3


def test_a_server_still_starting_past_the_wait_is_reported(pg_url: str) -> None:
    with (
        recovering_proxy(pg_url, refusals=1000, message="the database system is starting up") as (
            url,
            refused,
        ),
        pytest.raises(ServiceUnavailable) as raised,
    ):
        probe_postgres(url, starting_wait_s=1.0)

    assert "DATABASE_URL" in str(raised.value) and "starting up" in str(raised.value)
    assert refused[0] >= 1


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("28P01", "password authentication failed"),
        ("57P03", "the database system is shutting down"),
    ],
)
def test_other_refusals_fail_at_once(pg_url: str, sqlstate: str, message: str) -> None:
    with (
        recovering_proxy(pg_url, refusals=1000, sqlstate=sqlstate, message=message) as (
            url,
            refused,
        ),
        pytest.raises(ServiceUnavailable) as raised,
    ):
        probe_postgres(url)

    assert message in str(raised.value)
    assert refused[0] == 1  # not retried
