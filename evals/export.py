"""Export tasks from the database as traces: task row, events, checkpoint history, usage.

Works for any task in the database, however it was run (CLI, server, eval runner).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evals import history
from evals.model_cost import task_models
from evals.trace import TRACE_SUFFIX, Trace, jsonable
from graphs.engine import Engine
from stack.errors import ConfigError
from stack.sql import load_queries
from stack.task_records import EventRow, TaskRow

_QUERIES = Path(__file__).with_suffix(".sql")
_EVENT_PAGE = 1000
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2h`, `30m`, `7d` (that long ago) or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if match := _RELATIVE.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: give a duration such as 30m, 2h, 7d or an ISO date/time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def select_tasks(
    engine: Engine,
    *,
    task_id: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    tenant: str | None = None,
    limit: int = 1000,
) -> list[TaskRow]:
    """One task (by id or unambiguous prefix), or the tasks matching the filters."""
    if task_id is not None:
        if agent is not None or since is not None:
            raise ConfigError("give a task id, or --agent / --since, not both")
        return [await engine.records.find_task(task_id)]
    if agent is None and since is None:
        raise ConfigError("say which tasks to export: a task id, --agent or --since")
    params = {"agent": agent, "tenant": tenant, "since": since, "limit": limit}
    async with engine.pool.connection() as conn:
        cur = await conn.execute(load_queries(_QUERIES)["select_tasks"], params)
        rows = await cur.fetchall()
    return [TaskRow.from_row(row) for row in rows]


async def _all_events(engine: Engine, task_id: str) -> list[EventRow]:
    events: list[EventRow] = []
    while True:
        after = events[-1].seq if events else 0
        page = await engine.records.list_events(task_id, after=after, limit=_EVENT_PAGE)
        events.extend(page)
        if len(page) < _EVENT_PAGE:
            return events


def usage_summary(task_usage: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The task's usage counters plus token totals per role, from the model_call events, and
    per model (its calls, tokens and cost)."""
    calls = [e["data"] for e in events if e["type"] == "model_call"]
    by_role: dict[str, int] = {}
    for call in calls:
        by_role[call.get("role", "?")] = by_role.get(call.get("role", "?"), 0) + int(
            call.get("tokens", 0)
        )
    return {
        "iterations": task_usage.get("iterations", 0),
        "tool_calls": task_usage.get("tool_calls", 0),
        "tokens": task_usage.get("tokens", sum(by_role.values())),
        "active_seconds": task_usage.get("active_seconds", 0.0),
        "model_calls": task_usage.get("model_calls", {}),
        "model_call_events": len(calls),
        "input_tokens": sum(int(c.get("input_tokens", 0)) for c in calls),
        "output_tokens": sum(int(c.get("output_tokens", 0)) for c in calls),
        "tokens_by_role": dict(sorted(by_role.items())),
        "by_model": task_models(task_usage, events),
    }


async def export_trace(
    engine: Engine, task_id: str, *, scenario: dict[str, Any] | None = None
) -> Trace:
    """The trace of one task, as stored right now (a running task gives a partial trace)."""
    task = await engine.records.get_task(task_id)
    events = [
        {"seq": e.seq, "ts": e.ts.isoformat(), "type": e.type, "data": jsonable(e.data)}
        for e in await _all_events(engine, task_id)
    ]
    config = {"configurable": {"thread_id": task_id}}
    snapshots = [s async for s in engine.graph.aget_state_history(config)]
    state = history.final_state(snapshots)
    return Trace(
        task=jsonable(task.__dict__),
        events=events,
        nodes=history.node_path(snapshots),
        graph_steps=history.graph_steps(snapshots),
        interrupts=history.interrupts(snapshots),
        messages=history.all_messages(snapshots),
        state=state,
        usage=usage_summary(task.usage or state.get("usage") or {}, events),
        scenario=scenario,
        exported_at=datetime.now(UTC).isoformat(),
    )


async def export_tasks(engine: Engine, tasks: list[TaskRow], out_dir: Path) -> list[Path]:
    """Write `<task id>.jsonl` for each task into `out_dir`."""
    paths = []
    for task in tasks:
        trace = await export_trace(engine, task.id)
        paths.append(trace.write(out_dir / f"{task.id}{TRACE_SUFFIX}"))
    return paths
