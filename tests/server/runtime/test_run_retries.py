"""Retries counted apart by cause: a run whose tools fail to start is retried with backoff
and completes once they start; one whose tools never start fails `start_failed`, a named
final reason, after RUN_ERROR_ATTEMPTS; crashes never count against that budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server.runtime import jobs

FLAKY = Path(__file__).resolve().parents[2] / "support" / "flaky_start.py"


def flaky_agent(spec, name: str, counter: Path, failures: int) -> dict:
    return spec(name, tools={"allow": []}, mcp_servers=[{
        "name": "flaky", "transport": "stdio", "command": sys.executable,
        "args": [str(FLAKY), str(counter), str(failures)], "timeout_s": 20,
    }])


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(jobs, "RETRY_BASE_SECONDS", 0.2)


async def test_a_transient_start_failure_is_retried(
    rt, spec, start_worker, eventually, tmp_path, quick_backoff
):
    counter = tmp_path / "starts"
    await rt.agents.apply("acme", flaky_agent(spec, "flaky-2", counter, failures=2))
    task = await rt.tasks.submit("acme", goal="Check", agent="flaky-2", budgets=None)
    start_worker()

    async def ended():
        view = await rt.tasks.get("acme", task.id)
        return view.task if view.task.terminal else None

    done = await eventually(ended, timeout=120, message="the task ended")
    assert (done.state, done.stop_reason) == ("completed", "completed")
    assert (done.error_retries, done.crash_retries) == (2, 0)
    assert int(counter.read_text()) == 3
    events = await rt.tasks.events("acme", task.id)
    assert [e.data["attempt"] for e in events if e.type == "run_error"] == [1, 2]


async def test_tools_that_never_start_fail_the_task_with_a_named_reason(
    rt, spec, start_worker, eventually, tmp_path, quick_backoff
):
    counter = tmp_path / "starts"
    await rt.agents.apply("acme", flaky_agent(spec, "never", counter, failures=10_000))
    task = await rt.tasks.submit("acme", goal="Check", agent="never", budgets=None)
    start_worker()

    async def ended():
        view = await rt.tasks.get("acme", task.id)
        return view.task if view.task.terminal else None

    done = await eventually(ended, timeout=180, message="the task failed")
    assert (done.state, done.stop_reason) == ("failed", "start_failed")
    assert done.error_retries == jobs.RUN_ERROR_ATTEMPTS
    assert "flaky" in (done.output or "")
