"""Following a task while a worker runs it: its view each time its state changes.

Runs happen on workers, maybe in another process; what they do arrives as rows in the
events table. A follower sleeps in `TaskService.wait_for_events` (woken by the events
insert trigger's notification, not by polling), reads the new events, and re-reads the task
only when one of them can change what a client sees (a state change or an approval).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from graphs.events import APPROVAL_DECIDED, APPROVAL_REQUESTED, STATE_CHANGE
from server.services import TaskService, TaskView

WAKE_TYPES = frozenset({STATE_CHANGE, APPROVAL_REQUESTED, APPROVAL_DECIDED})
SAFETY_WAKE_S = 10.0  # re-read the task at least this often, whatever the events say
EVENTS_PAGE = 1000


def view_key(view: TaskView) -> tuple[Any, ...]:
    """What a client sees change: the state, and which approval it waits for."""
    approval = view.approval or {}
    return (view.task.state, approval.get("id"), approval.get("tool_call_id"), view.task.output)


def settled(view: TaskView) -> bool:
    """The run has ended or waits for a person: nothing more happens on its own."""
    return view.task.terminal or view.task.state == "input-required"


async def follow(
    tasks: TaskService, tenant: str, task_id: str, *, since: TaskView | None = None
) -> AsyncIterator[TaskView]:
    """Views of the task, one per visible change; the first differs from `since` (with no
    `since`, the current view comes first). Ends after a view that has `settled`."""
    last = view_key(since) if since is not None else None
    after = await _latest_seq(tasks, tenant, task_id)
    reread = True
    while True:
        if reread:
            view = await tasks.get(tenant, task_id)
            if view_key(view) != last:
                last = view_key(view)
                yield view
                if settled(view):
                    return
        await tasks.wait_for_events(task_id, after, SAFETY_WAKE_S)
        events = await tasks.events(tenant, task_id, after=after, limit=EVENTS_PAGE)
        if events:
            after = events[-1].seq
        reread = not events or any(event.type in WAKE_TYPES for event in events)


async def _latest_seq(tasks: TaskService, tenant: str, task_id: str) -> int:
    after = 0
    while True:
        events = await tasks.events(tenant, task_id, after=after, limit=EVENTS_PAGE)
        if not events:
            return after
        after = events[-1].seq
        if len(events) < EVENTS_PAGE:
            return after


async def wait_settled(
    tasks: TaskService, tenant: str, task_id: str, *, since: TaskView, timeout: float
) -> TaskView:
    """The task's view once it has settled, or its latest view after `timeout` seconds."""
    latest = since
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for view in follow(tasks, tenant, task_id, since=since):
                latest = view
            return latest
    return await tasks.get(tenant, task_id)
