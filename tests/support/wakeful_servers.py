"""Running wakeful as a real server in tests: a database of the test's own, a free port,
and `wakeful serve` as a subprocess (importable: tests/support is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """This environment without model keys, pointed at `database_url` and `data_dir`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WAKEFUL_CONFIG")
    }
    env.update(
        DATABASE_URL=database_url,
        WAKEFUL_DATA_DIR=str(data_dir),
        LANGSMITH_TRACING="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


@contextlib.contextmanager
def own_database(pg_url: str, prefix: str) -> Iterator[str]:
    """A fresh database on the session's Postgres, dropped afterwards; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg.conninfo.make_conninfo(pg_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(pg_url, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


@contextlib.contextmanager
def serve_process(
    env: dict[str, str], log_path: Path, port: int, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`wakeful serve` on `port`, its output in `log_path`; stopped with SIGTERM."""
    command = [sys.executable, "-m", "server.cli.main", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--concurrency", "3", *extra]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
