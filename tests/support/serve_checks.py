"""What the tests of `wakeful serve` / `wakeful worker` processes share: a scripted agent
whose planner takes its time (so a task is surely running when the test acts), and polling
with a deadline instead of sleeps (importable: tests/support is on sys.path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

PLAN = {"structured": {"steps": [{"id": "s", "description": "Look at the load"}]}}


def scripted_agent(name: str, *, planner_seconds: float = 0.0) -> dict[str, Any]:
    """A one-step scripted agent without memory tiers or an embedder to load."""
    return {
        "name": name,
        "model": {"provider": "scripted", "script": {
            "planner": [{**PLAN, "latency_seconds": planner_seconds}],
            "worker": ["The load is fine."],
        }},
        "tools": {"allow": ["load_average"]},
        "entropy": {"semantic": False},
        "memory": {"episodic": False, "knowledge": False},
    }


async def until(
    check: Callable[[], Awaitable[Any]], *, timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Poll `check` until it returns something truthy (returned); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(interval)
