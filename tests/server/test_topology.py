"""The split topology as separate processes on one Postgres, reached over loopback HTTP:
`wakeful db migrate` once, two `wakeful serve --no-worker` (API only), three `wakeful worker
--no-scheduler` (task runs only) and one `wakeful scheduler` (continuous agents and
maintenance, no runs). Tasks, a continuous agent, a cancel and an approval through either
API, and the kill switch behave as with one `wakeful serve`.

L3 memory is off in the agents here: Qdrant's local mode is one process's files, so six
processes cannot share it; a split deployment points every process at one Qdrant server with
QDRANT_URL (deploy/), and no Qdrant server can run on this machine.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from serve_checks import scripted_agent, until
from wakeful_servers import REPO, free_port, own_database, serve_process, server_env, stop_process

from server.services import open_services
from server.services.auth import LOCAL_TENANT
from stack.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # six processes start

QUICK = scripted_agent("topo-quick")
SLOW = scripted_agent("topo-slow", planner_seconds=60)
WRITE = {"text": "Saving.", "tool_calls": [
    {"name": "write_report", "args": {"title": "Health", "body": "fine"}}]}
GATED = {**scripted_agent("topo-gated"), "tools": {
    "allow": ["load_average", "write_report"], "policies": {"write_report": "approval"}}}
GATED["model"] = {"provider": "scripted", "script": {
    "planner": QUICK["model"]["script"]["planner"], "worker": [WRITE, "Report saved."]}}
LOOP = {**scripted_agent("topo-loop"), "autonomous": {"goal": "Watch", "interval_seconds": 1}}
ENDED = {"completed", "failed", "canceled", "rejected"}
NOT_RUN_S = 3.0  # with no worker up, a submitted task must still be queued after this long


def _spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "server.cli.main", *args], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.fixture
def topology_db(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with own_database(pg_url, "wk_topo") as url:
        yield url, server_env(url, tmp_path / "data")


async def _ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> None:
    async def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            return (await client.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    await until(answering, timeout=120, what=f"{log.name} answering /readyz")


async def _state(client: httpx.AsyncClient, task_id: str, states: set[str], timeout: float = 90):
    async def reached() -> dict[str, Any] | None:
        task = (await client.get(f"/tasks/{task_id}")).json()
        return task if task["state"] in states else None

    return await until(reached, timeout=timeout, what=f"task {task_id[:8]} in {states}")


async def _submit(client: httpx.AsyncClient, agent: str) -> str:
    reply = await client.post("/tasks", json={"goal": "Check", "agent": agent})
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


async def test_api_worker_and_scheduler_roles_in_separate_processes(topology_db, tmp_path):
    url, env = topology_db
    migrate = subprocess.run([sys.executable, "-m", "server.cli.main", "db", "migrate"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    assert "schema up to date" in migrate.stdout
    settings = Settings(WAKEFUL_DATA_DIR=Path(env["WAKEFUL_DATA_DIR"]), DATABASE_URL=url)
    services = await open_services(settings, url=url)
    try:
        for spec in (QUICK, SLOW, GATED):
            await services.agents.apply(LOCAL_TENANT, spec)
        token = await services.auth.create_token(LOCAL_TENANT, "installation-admin", "topo")
    finally:
        await services.close()

    ports = [free_port(), free_port()]
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        apis = [stack.enter_context(serve_process(env, tmp_path / f"api-{i}.log", port,
                                                  "--no-worker", "--no-view"))
                for i, port in enumerate(ports)]
        a, b = (httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers,
                                  timeout=30) for port in ports)
        try:
            await _run(tmp_path, env, stack, apis, (a, b), url)
        finally:
            await a.aclose()
            await b.aclose()

async def _run(
    tmp_path: Path, env: dict[str, str], stack: ExitStack, apis: list[subprocess.Popen[bytes]],
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], url: str,
) -> None:
    a, b = clients
    for i, (client, process) in enumerate(zip((a, b), apis, strict=True)):
        await _ready(client, process, tmp_path / f"api-{i}.log")
    for i in range(2):
        assert "workers    none here" in (tmp_path / f"api-{i}.log").read_text()

    # API only: a task waits in the queue until a worker is up.
    first = await _submit(a, QUICK["name"])
    await asyncio.sleep(NOT_RUN_S)  # a negative check: nothing may run it in this window
    assert (await b.get(f"/tasks/{first}")).json()["state"] == "submitted"

    workers = []
    for i in range(3):
        log = tmp_path / f"worker-{i}.log"
        workers.append((_spawn(env, log, "worker", "--no-scheduler", "--name", f"w{i}",
                               "--concurrency", "2", "--heartbeat-seconds", "1",
                               "--shutdown-grace-seconds", "1"), log))
    for process, _ in workers:
        stack.callback(stop_process, process)
    await _state(a, first, ENDED, timeout=180)
    ids = [await _submit((a, b)[i % 2], QUICK["name"]) for i in range(6)]
    for i, task_id in enumerate(ids):
        assert (await _state((b, a)[i % 2], task_id, ENDED))["state"] == "completed"

    # The continuous agent: applied through one API, iterated by the scheduler process only.
    reply = await a.post("/agents", json=LOOP)
    assert reply.status_code in (200, 201), reply.text
    assert await _iterations(url, LOOP["name"]) == 0  # no scheduler yet
    sched_log = tmp_path / "scheduler.log"
    scheduler = _spawn(env, sched_log, "scheduler", "--name", "s0")
    stack.callback(stop_process, scheduler)

    async def iterated() -> bool:
        if scheduler.poll() is not None:
            raise AssertionError(sched_log.read_text(errors="replace")[-3000:])
        return await _iterations(url, LOOP["name"], completed=True) >= 2

    await until(iterated, timeout=180, what="two completed iterations of the continuous agent")

    # Cancel through the other API than the one that took the task.
    slow = await _submit(a, SLOW["name"])
    await _state(b, slow, {"working"})
    assert (await b.post(f"/tasks/{slow}/cancel")).status_code == 200
    assert (await _state(a, slow, ENDED, timeout=30))["state"] == "canceled"

    # An approval asked of one API, answered through the other.
    gated = await _submit(b, GATED["name"])
    waiting = await _state(a, gated, {"input-required", *ENDED})
    assert waiting["state"] == "input-required", waiting
    answer = await a.post(f"/tasks/{gated}/approval", json={"action": "approve"})
    assert answer.status_code == 202, answer.text
    assert (await _state(b, gated, ENDED))["state"] == "completed"

    # The kill switch, flipped through one API, stops a run on some worker and the scheduler.
    running = await _submit(b, SLOW["name"])
    await _state(a, running, {"working"})
    switched = await a.post("/killswitch", json={"on": True, "scope": "installation"})
    assert switched.status_code == 200, switched.text
    # The run hears of the switch too: either the flip's batch (then it is in the answer's
    # stopped_tasks) or the run itself ends it canceled, whichever reaches its row first.
    assert (await _state(b, running, ENDED, timeout=30))["state"] == "canceled"
    refused = await b.post("/tasks", json={"goal": "Check", "agent": QUICK["name"]})
    assert 400 <= refused.status_code < 500, refused.text
    await _all_iterations_ended(url, LOOP["name"])
    before = await _iterations(url, LOOP["name"])
    await asyncio.sleep(NOT_RUN_S)  # a negative check: at 1 s intervals, three would be due
    assert await _iterations(url, LOOP["name"]) == before

    # Every process stops cleanly on SIGTERM.
    for process, log in [*workers, (scheduler, sched_log)]:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        started = time.monotonic()
        stop_process(process)
        assert process.returncode == 0, log.read_text(errors="replace")[-3000:]
        print(f"{log.stem} stopped {time.monotonic() - started:.2f}s after SIGTERM")


async def _iterations(url: str, agent: str, *, completed: bool = False) -> int:
    query = ("SELECT count(*) FROM tasks t JOIN agents a ON t.iteration_of = a.id "
             "WHERE a.name = %s" + (" AND t.state = 'completed'" if completed else ""))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(query, (agent,))).fetchone()
    assert row is not None
    return int(row[0])


async def _all_iterations_ended(url: str, agent: str) -> None:
    query = ("SELECT count(*) FROM tasks t JOIN agents a ON t.iteration_of = a.id "
             "WHERE a.name = %s AND t.state NOT IN ('completed', 'failed', 'canceled', "
             "'rejected')")

    async def ended() -> bool:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            row = await (await conn.execute(query, (agent,))).fetchone()
        return row is not None and row[0] == 0

    await until(ended, timeout=30, what="the agent's open iteration stopped")
