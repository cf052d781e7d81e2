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


async def run_flaky(rt, spec, start_worker, eventually, counter, name, failures, timeout):
    """Apply an agent whose MCP server fails its first `failures` starts, submit a task,
    start a worker; the task once it has ended."""
    await rt.agents.apply("acme", flaky_agent(spec, name, counter, failures=failures))
    task = await rt.tasks.submit("acme", goal="Check", agent=name, budgets=None)
    start_worker()

    async def ended():
        view = await rt.tasks.get("acme", task.id)
        return view.task if view.task.terminal else None

    return await eventually(ended, timeout=timeout, message="the task ended")


@pytest.fixture
def quick_backoff(monkeypatch):
    monkeypatch.setattr(jobs, "RETRY_BASE_SECONDS", 0.2)


async def test_a_transient_start_failure_is_retried(
    rt, spec, start_worker, eventually, tmp_path, quick_backoff
):
    counter = tmp_path / "starts"
    done = await run_flaky(rt, spec, start_worker, eventually, counter, "flaky-2", 2, 120)
    assert (done.state, done.stop_reason) == ("completed", "completed")
    assert (done.error_retries, done.crash_retries) == (2, 0)
    assert int(counter.read_text()) == 3
    events = await rt.tasks.events("acme", done.id)
    assert [e.data["attempt"] for e in events if e.type == "run_error"] == [1, 2]


async def test_tools_that_never_start_fail_the_task_with_a_named_reason(
    rt, spec, start_worker, eventually, tmp_path, quick_backoff
):
    counter = tmp_path / "starts"
    done = await run_flaky(rt, spec, start_worker, eventually, counter, "never", 10_000, 180)
    assert (done.state, done.stop_reason) == ("failed", "start_failed")
    assert done.error_retries == jobs.RUN_ERROR_ATTEMPTS
    assert "flaky" in (done.output or "")
