"""Worker processes (`wakeful worker`) sharing one Postgres: a killed worker's task resumes
on another from its last checkpoint; a live worker in a long tool call keeps its task; two
workers run 200 tasks exactly once each."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

pytestmark = pytest.mark.slow

FAST_FAILOVER = ("--heartbeat-seconds", "0.5", "--stalled-after-seconds", "2",
                 "--stalled-check-seconds", "1", "--shutdown-grace-seconds", "1")


async def _events(rt, task_id):
    return await rt.tasks.events("acme", task_id, limit=10_000)


async def _job_starts(rt, task_id) -> int:
    """How many times procrastinate started a job of this task."""
    async with rt.engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM procrastinate_events e JOIN procrastinate_jobs j"
            " ON j.id = e.job_id WHERE e.type = 'started' AND j.args->>'task_id' = %s",
            (task_id,))
        row = await cur.fetchone()
    return row["n"]


async def test_a_killed_workers_task_resumes_on_another(rt, spec, worker_process, eventually):
    worker = [{"text": "Checking.", "tool_calls": [{"name": "load_average"}]},
              {"text": "The load is fine.", "latency_seconds": 3}]
    await rt.agents.apply("acme", spec("crashy", worker=worker))
    task = await rt.tasks.submit("acme", goal="Check the load", agent="crashy", budgets=None)
    first = worker_process("--concurrency", "1", *FAST_FAILOVER, name="first")

    async def tool_done():
        return any(e.type == "tool_call" for e in await _events(rt, task.id))

    await eventually(tool_done, timeout=60, message=f"the tool call\n{first.output()}")
    first.kill()  # SIGKILL during the slow model call that follows
    second = worker_process("--concurrency", "1", *FAST_FAILOVER, name="second")

    async def completed():
        return (await rt.tasks.get("acme", task.id)).task.state == "completed"

    await eventually(completed, timeout=90, message=f"completion\n{second.output()}")
    events = await _events(rt, task.id)
    runs = [e.data for e in events if e.type == "run_started"]
    assert [(r["worker"], r["attempt"]) for r in runs] == [("first", 0), ("second", 1)]
    # resumed from the checkpoint: the plan and the tool call were not done again
    assert [e.data["role"] for e in events if e.type == "model_call"].count("planner") == 1
    assert len([e for e in events if e.type == "tool_call"]) == 1
    assert second.terminate() == 0


class SlowServer:
    """An HTTP server on loopback that answers each request after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0

    async def __aenter__(self) -> SlowServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        await asyncio.sleep(self.delay)
        body = b"slow but fine"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()


async def test_a_long_tool_call_stays_with_its_live_worker(
    rt, spec, worker_process, eventually
):
    """The tool call takes 5 s, more than twice the 2 s after which a silent worker counts
    as dead; the worker's heartbeat goes on, so no second worker ever takes the task."""
    async with SlowServer(delay=5.0) as server:
        url = f"http://127.0.0.1:{server.port}/status"
        worker = [{"text": "Fetching.", "tool_calls": [{"name": "http_get", "args": {"url": url}}]},
                  "The service answered."]
        tools = {"allow": ["http_get"], "http_allow": ["127.0.0.1"],
                 "policies": {"http_get": "allow"}}
        await rt.agents.apply("acme", spec("fetcher", worker=worker, tools=tools))
        workers = [worker_process("--concurrency", "2", *FAST_FAILOVER, name=n)
                   for n in ("left", "right")]
        task = await rt.tasks.submit("acme", goal="Fetch the status", agent="fetcher",
                                     budgets=None)

        async def completed():
            return (await rt.tasks.get("acme", task.id)).task.state == "completed"

        await eventually(completed, timeout=90,
                         message="completion\n" + "\n".join(w.output() for w in workers))
        assert server.requests == 1
    events = await _events(rt, task.id)
    [tool_call] = [e.data for e in events if e.type == "tool_call"]
    assert tool_call["status"] == "ok" and tool_call["duration_ms"] >= 5000
    assert len([e for e in events if e.type == "run_started"]) == 1
    assert await _job_starts(rt, task.id) == 1


async def test_two_workers_run_200_tasks_exactly_once(rt, spec, worker_process, eventually):
    await rt.agents.apply("acme", spec("quick", tools={"allow": []}))
    tasks = [await rt.tasks.submit("acme", goal=f"Task {i}", agent="quick", budgets=None)
             for i in range(200)]
    workers = [worker_process("--concurrency", "4", name=n) for n in ("one", "two")]

    async def all_ended():  # each task's final state_change is recorded
        async with rt.engine.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(DISTINCT task_id) AS n FROM events WHERE type = 'state_change'"
                " AND data->>'to' IN ('completed', 'failed', 'canceled')")
            return (await cur.fetchone())["n"] == len(tasks)

    await eventually(all_ended, timeout=300, interval=0.5,
                     message="all tasks ended\n" + "\n".join(w.output() for w in workers))
    async with rt.engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT task_id, type, data FROM events"
            " WHERE type IN ('run_started', 'state_change') ORDER BY task_id, seq")
        rows = await cur.fetchall()
        cur = await conn.execute(
            "SELECT j.args->>'task_id' AS task_id, count(*) AS starts FROM procrastinate_events e"
            " JOIN procrastinate_jobs j ON j.id = e.job_id WHERE e.type = 'started'"
            " GROUP BY 1")
        starts = {r["task_id"]: r["starts"] for r in await cur.fetchall()}
    runs = Counter(r["task_id"] for r in rows if r["type"] == "run_started")
    completions = Counter(r["task_id"] for r in rows
                          if r["type"] == "state_change" and r["data"]["to"] == "completed")
    by_worker = Counter(r["data"]["worker"] for r in rows if r["type"] == "run_started")
    ids = {t.id for t in tasks}
    assert set(runs) == ids and set(runs.values()) == {1}
    assert set(completions) == ids and set(completions.values()) == {1}
    assert set(starts) == ids and set(starts.values()) == {1}
    assert set(by_worker) == {"one", "two"}
    for worker in workers:
        assert worker.terminate() == 0


async def test_a_stopped_workers_task_resumes_on_the_next_worker(
    rt, spec, worker_process, eventually
):
    """SIGTERM: the running task gets a second to finish, then goes back to the queue and the
    next worker resumes it from its last checkpoint."""
    worker = [{"text": "Checking.", "tool_calls": [{"name": "load_average"}]},
              {"text": "The load is fine.", "latency_seconds": 4}]
    await rt.agents.apply("acme", spec("patient", worker=worker))
    task = await rt.tasks.submit("acme", goal="Check the load", agent="patient", budgets=None)
    first = worker_process("--concurrency", "1", *FAST_FAILOVER, name="first")

    async def tool_done():
        return any(e.type == "tool_call" for e in await _events(rt, task.id))

    await eventually(tool_done, timeout=60, message=f"the tool call\n{first.output()}")
    assert first.terminate(timeout=30) == 0
    jobs = await rt.queue.job_manager.list_jobs_async(lock=task.id)
    assert [(j.status, j.attempts) for j in jobs] == [("todo", 1)]  # queued again at once
    assert (await rt.tasks.get("acme", task.id)).task.state == "working"
    second = worker_process("--concurrency", "1", *FAST_FAILOVER, name="second")

    async def completed():
        return (await rt.tasks.get("acme", task.id)).task.state == "completed"

    await eventually(completed, timeout=90, message=f"completion\n{second.output()}")
    events = await _events(rt, task.id)
    assert [e.data["worker"] for e in events if e.type == "run_started"] == ["first", "second"]
    assert len([e for e in events if e.type == "tool_call"]) == 1
