"""GET /tasks/{id}/events: the task's activity log as Server-Sent Events.

Events go out in `seq` order with `id: <seq>` and `event: <type>`; a client that
reconnects with `Last-Event-ID` (or `?after=`) gets what came after. The stream sleeps on
`TaskService.wait_for_events` (woken by Postgres notifications) rather than polling, and
ends after the task's terminal state_change event; a stream opened after that ends at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from graphs.events import STATE_CHANGE
from server.api.deps import PrincipalDep, ServicesDep, TaskIdPath
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.events import EventPublic
from server.services import Principal, Services, TaskView
from stack.task_records import TERMINAL_STATES, EventRow

router = APIRouter(prefix="/tasks", tags=["tasks"])

PAGE = 500
IDLE_RECHECK_S = 15.0  # re-read the task this often while nothing happens
END_GRACE_S = 2.0  # a task that ended: how long its final event may trail its row


def ends_stream(event: EventRow) -> bool:
    return event.type == STATE_CHANGE and event.data.get("to") in TERMINAL_STATES


async def streamed_task(
    task_id: TaskIdPath, principal: PrincipalDep, services: ServicesDep
) -> TaskView:
    """The task, read before the stream starts, so an unknown one is a plain 404."""
    return await services.tasks.get(principal.tenant, task_id)


@router.get(
    "/{task_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`text/event-stream`; each event's data is an EventPublic"},
        **error_responses(
            {401: NO_TOKEN, 404: "no such task in the caller's tenant", 422: INVALID}
        ),
    },
)
async def stream_task_events(
    task: Annotated[TaskView, Depends(streamed_task)],
    principal: PrincipalDep,
    services: ServicesDep,
    last_event_id: Annotated[
        int | None, Header(ge=0, description="resume after this event (set by EventSource)")
    ] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this seq")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Stream the task's events, from the start or after `Last-Event-ID` / `after`."""
    start = last_event_id if last_event_id is not None else (after or 0)
    async for event in task_events(services, principal, task.task.id, after=start):
        yield ServerSentEvent(data=EventPublic.from_row(event), event=event.type, id=str(event.seq))


async def task_events(
    services: Services, principal: Principal, task_id: str, *, after: int
) -> AsyncIterator[EventRow]:
    tasks = services.tasks
    while True:
        events = await tasks.events(principal.tenant, task_id, after=after, limit=PAGE)
        for event in events:
            after = event.seq
            yield event
            if ends_stream(event):
                return
        if len(events) == PAGE:
            continue
        view = await tasks.get(principal.tenant, task_id)
        if not view.task.terminal:
            await tasks.wait_for_events(task_id, after, IDLE_RECHECK_S)
            continue
        if await _ended_at(services, principal, task_id, after):
            return
        # Ended, but its final state_change is not in yet (it is written just after the
        # row); give it a moment, then stop either way.
        await tasks.wait_for_events(task_id, after, END_GRACE_S)
        if not await tasks.events(principal.tenant, task_id, after=after, limit=1):
            return


async def _ended_at(services: Services, principal: Principal, task_id: str, seq: int) -> bool:
    """Whether the event numbered `seq` is the task's terminal state change."""
    if seq < 1:
        return False
    events = await services.tasks.events(principal.tenant, task_id, after=seq - 1, limit=1)
    return bool(events) and events[0].seq == seq and ends_stream(events[0])
