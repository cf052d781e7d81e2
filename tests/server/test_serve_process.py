"""`wakeful serve` as an operator runs it: a taken port is one clear line with the config
exit code, and SIGTERM stops it in a few seconds — a task running and a client following
its event stream — with the task left to resume on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_checks import scripted_agent, until
from wakeful_servers import REPO, free_port, own_database, serve_process, server_env

from server.services import Services, open_services
from server.services.auth import LOCAL_TENANT
from stack.settings import Settings

STOP_BOUND_S = 20.0  # asserted generously; the figure measured is printed
SLOW = scripted_agent("slow-planner", planner_seconds=6)


@pytest.fixture
def serve_db(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with own_database(pg_url, "wk_serve") as url:
        yield url, tmp_path / "data"


@pytest.fixture
async def db_services(serve_db: tuple[str, Path]) -> AsyncIterator[Services]:
    url, data_dir = serve_db
    opened = await open_services(Settings(WAKEFUL_DATA_DIR=data_dir, DATABASE_URL=url), url=url)
    try:
        yield opened
    finally:
        await opened.close()


def test_a_taken_port_is_one_line_naming_the_port_and_the_flag(serve_db, tmp_path):
    url, data_dir = serve_db
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "server.cli.main", "serve", "--port", str(port)],
            cwd=REPO, env=server_env(url, data_dir), capture_output=True, text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"port {port}" in lines[0] and "--port" in lines[0], lines
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr


async def _answering(client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path):
    async def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            return (await client.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await until(ready, timeout=90, what="wakeful serve answering /readyz")


async def test_sigterm_stops_serve_quickly_and_the_running_task_resumes_on_the_next_start(
    serve_db, db_services, tmp_path
):
    url, data_dir = serve_db
    await db_services.agents.apply(LOCAL_TENANT, SLOW)
    token = await db_services.auth.create_token(LOCAL_TENANT, "submitter", "serve-test")
    port = free_port()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    first_log = tmp_path / "serve-1.log"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        with serve_process(server_env(url, data_dir), first_log, port) as process:
            await _answering(client, process, first_log)
            reply = await client.post("/tasks", json={"goal": "Check", "agent": SLOW["name"]})
            assert reply.status_code == 202, reply.text
            task_id = reply.json()["id"]

            async def planning() -> bool:
                task = (await client.get(f"/tasks/{task_id}")).json()
                return task["state"] == "working"

            await until(planning, timeout=60, what="the task running")
            # A client following the task's events (an SSE stream that never ends by
            # itself) must not hold the stop up.
            with contextlib.suppress(httpx.HTTPError):
                async with client.stream("GET", f"/tasks/{task_id}/events") as events:
                    assert events.status_code == 200
                    started = time.monotonic()
                    process.send_signal(signal.SIGTERM)
                    code = await asyncio.to_thread(process.wait, 60)
                    took = time.monotonic() - started
        print(f"serve stopped {took:.2f}s after SIGTERM (exit {code})")
        assert code == 0, first_log.read_text(errors="replace")[-3000:]
        assert took < STOP_BOUND_S, f"SIGTERM took {took:.1f}s"

        task = await db_services.engine.records.get_task(task_id)
        assert task.state == "working", task  # not failed, not lost: left to resume

        second_log = tmp_path / "serve-2.log"
        with serve_process(server_env(url, data_dir), second_log, port) as process:
            await _answering(client, process, second_log)

            async def ended() -> dict[str, Any] | None:
                task = (await client.get(f"/tasks/{task_id}")).json()
                return task if task["state"] not in ("submitted", "working") else None

            try:
                final = await until(ended, timeout=120, what="the task ending after the restart")
            except AssertionError:
                raise AssertionError(second_log.read_text(errors="replace")[-4000:]) from None
    assert final["state"] == "completed", final
