"""A Postgres outage under a running `wakeful serve` and `wakeful worker`: the postmaster is
SIGKILLed mid-task; both processes stay up, /readyz says 503 with the reason while the
database is down, and once it is started again /readyz is 200, the task that was running
resumes and completes, and a task submitted afterwards completes too.

The database server is this test's own embedded Postgres (the session's is shared by every
test and must not be killed); serve and the worker reach it through DATABASE_URL, so it is
the test that restarts it, the way an operator or a supervisor would. In the embedded
default (no DATABASE_URL) nobody else would: serve starts its own Postgres again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_checks import scripted_agent, until
from wakeful_servers import REPO, free_port, serve_process, server_env, stop_process

from server.runtime.worker import MAX_RESTARTS, RuntimeFailed, Worker, WorkerOptions
from server.services import Services, open_services
from server.services.auth import LOCAL_TENANT
from stack.postgres import ensure_postgres, release_postgres
from stack.settings import Settings

pytestmark = pytest.mark.slow

DOWN_FOR_S = 45.0  # longer than the 40–70 s after which both processes used to exit
AGENT = scripted_agent("patient", planner_seconds=4)


@dataclass
class OwnPostgres:
    settings: Settings
    url: str

    @property
    def pgdata(self) -> Path:
        return self.settings.data_dir / "pg"

    def kill(self) -> int:
        pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart(self) -> None:
        """As the next process to need it would: start it again, crash recovery included."""
        assert ensure_postgres(self.settings) == self.url  # same socket, same URL
        release_postgres(self.settings)


@pytest.fixture
def own_postgres(embedded_data_dir: Path) -> Iterator[OwnPostgres]:
    settings = Settings(data_dir=embedded_data_dir, database_url=None, qdrant_url=None,
                        neo4j_uri=None)
    url = ensure_postgres(settings)
    try:
        yield OwnPostgres(settings, url)
    finally:
        release_postgres(settings)


@pytest.fixture
async def outage_services(own_postgres: OwnPostgres, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(WAKEFUL_DATA_DIR=tmp_path / "data", DATABASE_URL=own_postgres.url)
    opened = await open_services(settings, url=own_postgres.url)
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli.worker", "--name", "outage-worker"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process(process, timeout=60)


def _alive(processes: dict[str, subprocess.Popen[bytes]], logs: dict[str, Path]) -> None:
    for name, process in processes.items():
        if process.poll() is not None:
            tail = logs[name].read_text(errors="replace")[-3000:]
            raise AssertionError(f"{name} exited with {process.returncode}:\n{tail}")


@contextlib.contextmanager
def _logs_on_failure(logs: dict[str, Path]) -> Iterator[None]:
    """A failure says what the processes said."""
    try:
        yield
    except Exception as exc:
        said = "\n".join(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}"
                         for name, path in logs.items() if path.exists())
        raise AssertionError(f"{exc!r}\n{said}") from exc


async def _readyz(client: httpx.AsyncClient) -> httpx.Response | None:
    with contextlib.suppress(httpx.TransportError):
        return await client.get("/readyz")
    return None


async def test_serve_and_worker_survive_a_postgres_kill_and_resume_the_running_task(
    own_postgres, outage_services, tmp_path
):
    await outage_services.agents.apply(LOCAL_TENANT, AGENT)
    token = await outage_services.auth.create_token(LOCAL_TENANT, "submitter", "outage")
    env = server_env(own_postgres.url, tmp_path / "data")
    port = free_port()
    logs = {"serve": tmp_path / "serve.log", "worker": tmp_path / "worker.log"}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers,
                                 timeout=30) as client:
        with _logs_on_failure(logs), serve_process(env, logs["serve"], port) as serve, \
                worker_process(env, logs["worker"]) as worker:
            processes = {"serve": serve, "worker": worker}

            async def ready() -> bool:
                _alive(processes, logs)
                reply = await _readyz(client)
                return reply is not None and reply.status_code == 200

            await until(ready, timeout=90, what="serve ready")
            body = {"goal": "Check", "agent": AGENT["name"]}
            before = (await client.post("/tasks", json=body)).json()["id"]

            async def working() -> bool:
                task = await outage_services.engine.records.get_task(before)
                return task.state == "working"

            await until(working, timeout=60, what="the first task running")

            own_postgres.kill()
            killed_at = time.monotonic()

            async def not_ready() -> httpx.Response | None:
                _alive(processes, logs)
                reply = await _readyz(client)
                return reply if reply is not None and reply.status_code == 503 else None

            down = await until(not_ready, timeout=30, what="/readyz saying 503")
            assert down.json()["status"] == "unavailable"
            assert down.json()["checks"]["database"].startswith("unavailable: "), down.json()
            while time.monotonic() - killed_at < DOWN_FOR_S:  # both stay up all along
                _alive(processes, logs)
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.sleep(1.0)

            await asyncio.to_thread(own_postgres.restart)
            await until(ready, timeout=60, what="/readyz 200 after the restart")
            after = (await client.post("/tasks", json=body)).json()["id"]

            async def ended(task_id: str) -> Any:
                _alive(processes, logs)
                task = await outage_services.engine.records.get_task(task_id)
                return task if task.terminal else None

            for task_id in (before, after):
                task = await until(lambda t=task_id: ended(t), timeout=180,
                                    what=f"task {task_id} ending")
                assert task.state == "completed", task
            _alive(processes, logs)
            for name in ("serve", "worker"):
                text = logs[name].read_text(errors="replace")
                assert "database unavailable" in text, (name, text[-3000:])
                assert "database is back" in text, (name, text[-3000:])
        assert serve.returncode == 0, logs["serve"].read_text(errors="replace")[-3000:]
        assert worker.returncode == 0, logs["worker"].read_text(errors="replace")[-3000:]


async def test_embedded_serve_starts_its_killed_postgres_again_and_keeps_iterating(
    embedded_data_dir, tmp_path
):
    """The embedded default: nobody else is there to restart Postgres, so serve does."""
    spec = tmp_path / "watcher.yaml"
    spec.write_text(json.dumps({
        **scripted_agent("watcher"),
        "autonomous": {"goal": "Watch the load", "interval_seconds": 0.5},
    }))  # JSON is YAML
    env = server_env("", embedded_data_dir)
    del env["DATABASE_URL"]
    port = free_port()
    logs = {"serve": tmp_path / "serve.log"}
    pid_file = embedded_data_dir / "pg" / "postmaster.pid"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        with _logs_on_failure(logs), serve_process(
            env, logs["serve"], port, "--agent", str(spec), "--no-view"
        ) as serve:
            processes = {"serve": serve}

            async def ready() -> bool:
                _alive(processes, logs)
                reply = await _readyz(client)
                return reply is not None and reply.status_code == 200

            await until(ready, timeout=120, what="embedded serve ready")
            token = (embedded_data_dir / "admin.token").read_text().strip()
            client.headers["Authorization"] = f"Bearer {token}"

            async def completed_since(moment: float) -> list[dict[str, Any]] | None:
                _alive(processes, logs)
                with contextlib.suppress(httpx.TransportError):
                    reply = await client.get("/tasks", params={"agent": "watcher",
                                                               "state": "completed"})
                    if reply.status_code == 200:
                        done = [t for t in reply.json()["items"]
                                if datetime.fromisoformat(t["created_at"]).timestamp() > moment]
                        return done or None
                return None

            await until(lambda: completed_since(0), timeout=60, what="a first iteration")
            killed = int(pid_file.read_text().splitlines()[0])
            os.kill(killed, signal.SIGKILL)
            killed_at = time.time()

            async def revived() -> bool:
                with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
                    return int(pid_file.read_text().splitlines()[0]) != killed and await ready()
                return False

            await until(revived, timeout=150, what="serve starting Postgres again")
            await until(lambda: completed_since(killed_at), timeout=120,
                         what="an iteration completed after the restart")
            _alive(processes, logs)
        assert serve.returncode == 0
    text = logs["serve"].read_text(errors="replace")
    print(*(line for line in text.splitlines() if "database" in line or "PostgreSQL" in line),
          sep="\n")
    assert "starting it again" in text and "embedded PostgreSQL is back" in text, text[-3000:]


async def test_a_part_that_keeps_failing_while_the_database_answers_is_raised(rt):
    """Not an outage: restarting forever would hide a broken process from its supervisor,
    so the worker gives up (and `wakeful worker` exits non-zero with the reason)."""
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the part is broken")

    worker = Worker(rt, WorkerOptions(scheduler=False))
    with pytest.raises(RuntimeFailed, match="the part is broken"):
        await asyncio.wait_for(worker._keep("part", asyncio.Event(), broken), timeout=60)
    assert calls == MAX_RESTARTS + 1
