"""Fixtures for runtime tests: a fresh database per test (the kill switch and the scheduler
are global to a database), services on it, in-process workers and worker subprocesses.

The database server is the session's (`pg_url` from tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from wakeful_servers import own_database, server_env

from server.runtime.worker import Worker, WorkerOptions
from server.services import Services, open_services
from stack.settings import Settings

REPO = Path(__file__).resolve().parents[3]
ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Look at the load"}]}}


def agent_spec(
    name: str = "rt-agent",
    *,
    planner: list[Any] | None = None,
    worker: list[Any] | None = None,
    tools: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A scripted agent spec (as a dict for AgentService.apply): one planned step and a
    text answer unless told otherwise; no semantic loop check (no embedder to load) and no
    episodic or knowledge memory (the runtime is under test, not the memory tiers)."""
    return {
        "name": name,
        "model": {"provider": "scripted", "script": {
            "planner": planner or [ONE_STEP],
            "worker": worker or ["The load is fine."],
        }},
        "tools": tools or {"allow": ["load_average"]},
        "entropy": {"semantic": False},
        "memory": {"episodic": False, "knowledge": False},
        **extra,
    }


@pytest.fixture
def spec() -> Callable[..., dict[str, Any]]:
    """spec(name, planner=, worker=, tools=, **fields): see agent_spec."""
    return agent_spec


@dataclass
class RuntimeDb:
    url: str
    data_dir: Path

    def settings(self) -> Settings:
        return Settings(WAKEFUL_DATA_DIR=self.data_dir, DATABASE_URL=self.url)

    def env(self) -> dict[str, str]:
        return server_env(self.url, self.data_dir)


@pytest.fixture
def runtime_db(pg_url: str, tmp_path: Path) -> Iterator[RuntimeDb]:
    with own_database(pg_url, "wk_rt") as url:
        yield RuntimeDb(url, tmp_path / "data")


@pytest.fixture
async def rt(runtime_db: RuntimeDb) -> AsyncIterator[Services]:
    """Services on the test's own database (its stalled-job check runs every second)."""
    opened = await open_services(
        runtime_db.settings(), url=runtime_db.url, stalled_check_seconds=1,
        webhook_backoff_seconds=1.0,
    )
    try:
        yield opened
    finally:
        await opened.close()


@dataclass
class RunningWorker:
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=60)


@pytest.fixture
async def start_worker(rt: Services) -> AsyncIterator[Callable[..., RunningWorker]]:
    """start_worker(**WorkerOptions fields): an in-process worker on `rt`, stopped at the end."""
    started: list[RunningWorker] = []

    def start(**options: Any) -> RunningWorker:
        options.setdefault("heartbeat_seconds", 1.0)
        options.setdefault("stalled_after_seconds", 5.0)
        options.setdefault("shutdown_grace_seconds", 1.0)
        stop = asyncio.Event()
        worker = Worker(rt, WorkerOptions(**options))
        running = RunningWorker(stop, asyncio.create_task(worker.run(stop)))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            await running.close()


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    name: str = field(default="")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker_process(runtime_db: RuntimeDb, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """worker_process(*args): `wakeful worker ARGS` as a subprocess on the test database."""
    started: list[WorkerProcess] = []

    def start(*args: str, name: str = "worker") -> WorkerProcess:
        log = tmp_path / f"{name}-{len(started)}.log"
        command = [sys.executable, "-m", "server.cli.worker", "--name", name, *args]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=REPO, env=runtime_db.env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(WorkerProcess(process, log, name))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


async def _eventually(
    check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05,
    message: str = "condition",
) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """eventually(check, timeout=, message=): poll `check()` (sync or async) until it returns
    something truthy, failing after `timeout` seconds; returns that value."""
    return _eventually
