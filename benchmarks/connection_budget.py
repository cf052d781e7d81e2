"""Connection budget (issue 10): `--workers` worker processes at `--concurrency` tasks each
on one embedded Postgres, every slot busy with a run that waits 60 s on its (scripted)
planner, and the peak number of Postgres connections while they all run, against the
server's max_connections.

A run holds no Postgres session while it waits (its lease is a row renewed by one
heartbeat thread per process); a process holds its engine pool (sized from concurrency,
stack/postgres.py pool_size_for), procrastinate's pool, one LISTEN connection and the
heartbeat's. The figure printed is what those add up to under full load, measured.

    python -P benchmarks/connection_budget.py --workers 5 --concurrency 256

Prints JSON on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from server.services import open_services
from stack.postgres import ensure_postgres, pool_size_for, release_postgres
from stack.settings import Settings

AGENT = {
    "name": "budget-agent",
    "model": {"provider": "scripted", "script": {"planner": [{
        "structured": {"steps": [{"id": "s", "description": "wait"}]}, "latency_seconds": 60}]}},
    "tools": {"allow": []},
    "entropy": {"semantic": False},
    "memory": {"episodic": False, "knowledge": False},
}
SAMPLE = """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
           AS connections,
       (SELECT count(*) FROM tasks WHERE state = 'working' AND lease_expires_at > now())
           AS running,
       current_setting('max_connections')::int AS max_connections
"""


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def submit(settings: Settings, n: int) -> None:
    services = await open_services(settings)
    try:
        await services.agents.apply("local", AGENT)
        for _ in range(n):
            await services.tasks.submit("local", goal="wait", agent=AGENT["name"], budgets=None)
    finally:
        await services.close()


def start_workers(data_dir: Path, args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "WAKEFUL_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "server.cli.worker", "--concurrency", str(args.concurrency),
             "--no-scheduler", "--name", f"budget-{k}"],
            env=env, stdout=subprocess.DEVNULL,
            stderr=(logs / f"worker-{k}.log").open("wb"),
        )
        for k in range(args.workers)
    ]


async def watch(url: str, want: int, timeout: float) -> dict[str, Any]:
    peak: dict[str, Any] = {"connections": 0, "running": 0}
    deadline = time.monotonic() + timeout
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = await (await conn.execute(SAMPLE)).fetchone()
            assert row is not None
            connections, running, limit = row
            peak["max_connections"] = limit
            if running > peak["running"]:
                peak["running"], peak["running_at"] = running, time.monotonic()
            if connections > peak["connections"]:
                peak["connections"] = connections
            if running >= want:
                break
            await asyncio.sleep(0.5)
    peak.pop("running_at", None)
    return peak


async def main(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    settings = Settings(WAKEFUL_DATA_DIR=data_dir)
    url = ensure_postgres(settings)
    try:
        want = args.workers * args.concurrency
        progress(f"submitting {want} tasks")
        await submit(settings, want)
        progress(f"starting {args.workers} workers at --concurrency {args.concurrency}")
        workers = start_workers(data_dir, args)
        try:
            started = time.monotonic()
            peak = await watch(url, want, args.timeout)
            seconds = time.monotonic() - started
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
        refused = sum(
            (data_dir / "logs" / f"worker-{k}.log").read_text(errors="replace")
            .count("too many clients") for k in range(args.workers))
        return {
            "workers": args.workers, "concurrency": args.concurrency,
            "engine_pool_per_worker": pool_size_for(args.concurrency),
            "tasks": want, "peak_running_tasks": peak["running"],
            "seconds_to_peak": round(seconds, 1),
            "peak_connections": peak["connections"],
            "max_connections": peak.get("max_connections"),
            "fits": peak["connections"] < (peak.get("max_connections") or 0)
            and refused == 0,
            "too_many_clients_errors": refused,
        }
    finally:
        release_postgres(settings)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wakeful-budget-") as tmp:
        print(json.dumps(asyncio.run(main(arguments, Path(tmp))), indent=2))
