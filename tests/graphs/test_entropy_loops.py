"""The entropy monitor through the real graph (scripted model, real http_get against a
loopback server): a loop is caught, explained, reset once, caught again at its first
repeat, and ended `stuck`; polling a job until it is done, and varied work, are left alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.messages import HumanMessage
from wakeful_testing import make_spec

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Find the problem"}]}}


class StatusSite:
    """/status never changes; /job moves 20% a hit until done; /replicas is another view."""

    def __init__(self) -> None:
        self.job_hits = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/status":
                    body = "service checkout: degraded, 3 of 5 replicas ready"
                elif self.path == "/replicas":
                    body = "replicas: r1 ready, r2 ready, r3 ready, r4 pending, r5 pending"
                elif self.path == "/job":
                    site.job_hits += 1
                    done = min(100, 20 * site.job_hits)
                    body = "job 7: done" if done == 100 else f"job 7: {done}% done"
                else:
                    body = "no such page"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def status_site() -> Iterator[StatusSite]:
    site = StatusSite()
    thread = threading.Thread(target=site.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()


def _get(url: str, text: str) -> dict:
    return {"text": text, "tool_calls": [{"name": "http_get", "args": {"url": url}}]}


def _spec(worker: dict, **entropy):
    return make_spec(
        script={"planner": {"responses": [ONE_STEP], "cycle": True}, "worker": worker},
        tools={"allow": ["http_get"], "http_allow": ["127.0.0.1"]},
        entropy={"semantic": False, "max_resets": 1, **entropy},
        budgets={"max_iterations": 40, "max_tool_calls": 40},
    )


async def _stuck_events(result, events, engine) -> list[dict]:
    assert (result.task.state, result.task.stop_reason) == ("failed", "stuck")
    stuck = [e.data for e in events if e.type == "stuck_detected"]
    assert [s["ending"] for s in stuck] == [False, True]
    for s in stuck:  # every signal explains itself
        assert s["rule"] and s["what"] and s["evidence"]
        assert isinstance(s["since_turn"], int) and s["since_turn"] <= s["turn"]
    plans = [e.data for e in events if e.type == "plan"]
    assert plans[1]["reason"].startswith("stuck: ")
    values = (await engine.graph.aget_state({"configurable": {"thread_id": result.task.id}})).values
    first = values["messages"][0]  # history purged at the reset: the warning is the oldest
    assert isinstance(first, HumanMessage) and first.content.startswith("Warning:")
    assert values["loop"]["temperature_boost"] > 0
    return stuck


async def test_a_repeated_call_is_caught_and_its_resumption_at_once(
    run_agent, events_of, engine, status_site
) -> None:
    thoughts = ["Checking the service status.", "Let me check the status again.",
                "Looking at the status once more.", "One more look at the status."]
    worker = {"responses": [_get(status_site.url("/status"), t) for t in thoughts], "cycle": True}
    result = await run_agent(_spec(worker))
    events = await events_of(result.task.id)
    first, second = await _stuck_events(result, events, engine)
    assert first["rule"] == "repeated_call" and "http_get" in first["what"]
    assert first["repeats"] == 3 and first["turn"] == 4  # plan, then the 3rd identical call
    # the reset kept the fingerprints: the first repeat after it ends the run
    assert second["rule"] == "resumed_loop"
    assert len([e for e in events if e.type == "tool_call"]) == 4


async def test_a_cycle_between_two_pages_is_caught(
    run_agent, events_of, engine, status_site
) -> None:
    worker = {
        "responses": [_get(status_site.url("/status"), "Status?"),
                      _get(status_site.url("/replicas"), "Replicas?")],
        "cycle": True,
    }
    result = await run_agent(_spec(worker, repeat_threshold=10))
    stuck = await _stuck_events(result, await events_of(result.task.id), engine)
    assert stuck[0]["rule"] == "cycle" and stuck[0]["period"] == 2


async def test_polling_a_job_until_it_is_done_is_progress(
    run_agent, events_of, status_site
) -> None:
    poll = [_get(status_site.url("/job"), "Checking the job again.") for _ in range(5)]
    worker = {"responses": [*poll, "The job is done."]}
    result = await run_agent(_spec(worker))
    assert result.task.state == "completed", result.task.stop_reason
    events = await events_of(result.task.id)
    assert not [e for e in events if e.type == "stuck_detected"]
    assert status_site.job_hits == 5


async def test_varied_work_is_not_called_stuck(run_agent, events_of) -> None:
    """The default heuristic run (four different probes, then a summary) is progress."""
    spec = make_spec(entropy={"semantic": False, "max_resets": 0})
    result = await run_agent(spec)
    assert result.task.state == "completed", result.task.stop_reason
    assert not [e for e in await events_of(result.task.id) if e.type == "stuck_detected"]
