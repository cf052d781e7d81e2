"""Fixtures for graph tests: one Engine on the session's Postgres, and a task driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from graphs.engine import Engine
from graphs.runner import RunResult, TaskRunner
from graphs.spec import AgentSpec
from stack.task_records import EventRow


@pytest.fixture(scope="session")
async def engine(settings: Any, pg_url: str) -> AsyncIterator[Engine]:
    opened = await Engine.open(settings, url=pg_url)
    try:
        yield opened
    finally:
        await opened.close()


RunAgent = Callable[..., Awaitable[RunResult]]


@pytest.fixture
def run_agent(engine: Engine) -> RunAgent:
    """Submit a goal for a spec and run it until it ends or waits for approval."""

    async def run(spec: AgentSpec, goal: str = "Check this host's health and report.",
                  **kwargs: Any) -> RunResult:
        runner = TaskRunner(engine)
        task = await runner.submit(goal, spec, budgets=kwargs.pop("budgets", None))
        return await runner.run(task.id, **kwargs)

    return run


@pytest.fixture
def events_of(engine: Engine) -> Callable[[str], Awaitable[list[EventRow]]]:
    async def events(task_id: str) -> list[EventRow]:
        return await engine.records.list_events(task_id, limit=10_000)

    return events


