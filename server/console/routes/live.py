"""/console/tasks/{id}/live: the task's events as Server-Sent Events of rendered rows, for
the htmx SSE extension on the task page. The events come from the same stream as
GET /tasks/{id}/events (server/api/routes/sse.py), signed in by the console's cookie.

Each event is a `row` message (appended to the log); events that change what the page's
overview shows are followed by a `refresh` message; the end of the stream is a `done`
message, on which the page closes its EventSource instead of reconnecting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from graphs.events import (
    APPROVAL_DECIDED,
    APPROVAL_REQUESTED,
    PLAN,
    STATE_CHANGE,
    STEP_COMPLETED,
    STUCK_DETECTED,
    TOOL_CALL,
    VERDICT,
)
from server.api.deps import ServicesDep, TaskIdPath
from server.api.routes.sse import task_events
from server.console.pages import TEMPLATES
from server.console.routes.common import console_router
from server.console.session import UserDep
from server.services import TaskView

router = console_router()
REFRESHING = frozenset({PLAN, TOOL_CALL, VERDICT, STEP_COMPLETED, STUCK_DETECTED,
                        APPROVAL_REQUESTED, APPROVAL_DECIDED, STATE_CHANGE})


async def live_task(task_id: TaskIdPath, user: UserDep, services: ServicesDep) -> TaskView:
    """The task, read before the stream starts, so another tenant's is a plain 404."""
    return await services.tasks.get(user.tenant, task_id)


@router.get("/tasks/{task_id}/live", response_class=EventSourceResponse)
async def live_events(
    task: Annotated[TaskView, Depends(live_task)],
    user: UserDep,
    services: ServicesDep,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> AsyncIterator[ServerSentEvent]:
    row = TEMPLATES.get_template("event_row.html")
    start = last_event_id if last_event_id is not None else after
    async for event in task_events(services, user.principal, task.task.id, after=start):
        html = " ".join(row.render(event=event).split())
        yield ServerSentEvent(raw_data=html, event="row", id=str(event.seq))
        if event.type in REFRESHING:
            yield ServerSentEvent(raw_data=str(event.seq), event="refresh")
    yield ServerSentEvent(raw_data="end", event="done")
