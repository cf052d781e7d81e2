"""`wakeful serve` as an operator runs it: a taken port is one clear line with the config
exit code, and SIGTERM stops it in a few seconds — a task running and a client following
its event stream — with the task left to resume on the next start. With --worker-process its
worker is a child process whose life is tied to serve's: its death stops serve (non-zero),
serve's death (SIGKILL) takes it along.
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
import psutil
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


def _worker_child(process: subprocess.Popen[bytes]) -> psutil.Process | None:
    """serve's worker process: its child running `server.cli.worker`."""
    children = psutil.Process(process.pid).children()
    workers = [c for c in children if "server.cli.worker" in " ".join(c.cmdline())]
    return workers[0] if workers else None


async def _gone(child: psutil.Process) -> bool:
    try:
        return child.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_serve_runs_tasks_in_a_worker_process_and_stops_when_it_dies(
    serve_db, db_services, tmp_path
):
    """The API process runs no task: the run's lease is held by serve's child. A worker
    process that dies stops serve with a non-zero exit naming it."""
    url, data_dir = serve_db
    quick = scripted_agent("quick-child")
    await db_services.agents.apply(LOCAL_TENANT, quick)
    token = await db_services.auth.create_token(LOCAL_TENANT, "submitter", "child-test")
    port = free_port()
    log = tmp_path / "serve.log"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        with serve_process(server_env(url, data_dir), log, port, "--worker-process") as process:
            await _answering(client, process, log)
            child = _worker_child(process)
            assert child is not None, log.read_text(errors="replace")[-3000:]
            reply = await client.post("/tasks", json={"goal": "Check", "agent": quick["name"]})
            assert reply.status_code == 202, reply.text
            task_id = reply.json()["id"]

            async def ended() -> bool:
                task = await db_services.engine.records.get_task(task_id)
                return task.state not in ("submitted", "working")

            await until(ended, timeout=120, what="the task ending")
            assert (await db_services.engine.records.get_task(task_id)).state == "completed"
            async with db_services.engine.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT data->>'owner' AS owner FROM events WHERE task_id = %s"
                    " AND type = 'run_started'", (task_id,))
                owners = [row["owner"] for row in await cur.fetchall()]
            assert owners and all(f":{child.pid}#" in owner for owner in owners), owners

            child.kill()
            code = await asyncio.to_thread(process.wait, 60)
    text = log.read_text(errors="replace")
    assert code != 0, text[-3000:]
    assert f"worker process (pid {child.pid}) exited" in text, text[-3000:]


async def test_a_killed_serve_takes_its_worker_process_with_it(serve_db, tmp_path):
    url, data_dir = serve_db
    port = free_port()
    log = tmp_path / "serve.log"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        with serve_process(server_env(url, data_dir), log, port, "--worker-process") as process:
            await _answering(client, process, log)
            child = _worker_child(process)
            assert child is not None, log.read_text(errors="replace")[-3000:]
            process.kill()  # no chance to stop its child itself
            await asyncio.to_thread(process.wait, 30)
            await until(lambda: _gone(child), timeout=60, what="the worker process exiting")
