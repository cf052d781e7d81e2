"""/console/tasks: the filterable list, a task's page (plan DAG, tool calls, verdicts,
loop signals, usage against budgets, live events) and cancel."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import Query, Request, Response

from server.api.deps import ServicesDep, TaskIdPath
from server.api.schemas.tasks import TaskStateName
from server.console.pages import render
from server.console.routes.common import back_to, console_router
from server.console.session import ConsoleUser, PostingUserDep, UserDep
from server.console.task_trace import task_trace
from server.services import Services

router = console_router()
EVENTS_SHOWN = 1000  # the page shows this many events at first; the stream brings the rest


@router.get("/tasks")
async def task_list(
    request: Request,
    user: UserDep,
    services: ServicesDep,
    state: Annotated[str | None, Query(max_length=32)] = None,  # "" from the form: any
    agent: Annotated[str | None, Query(max_length=63)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    tasks, next_cursor = await services.tasks.list(
        user.tenant, state=state or None, agent=agent or None, cursor=cursor, limit=50
    )
    agents = [a.name for a in await services.agents.list(user.tenant)]
    return render(request, "tasks.html", user, tasks=tasks, next_cursor=next_cursor,
                  state=state or "", agent=agent or "", states=get_args(TaskStateName),
                  agents=agents)


async def _task_context(services: Services, user: ConsoleUser, task_id: str) -> dict:
    view = await services.tasks.get(user.tenant, task_id)  # NotFound for other tenants
    events = await services.tasks.events(user.tenant, task_id, limit=EVENTS_SHOWN)
    trace = await task_trace(services, task_id, events)
    return {"view": view, "task": view.task, "events": events, "trace": trace}


@router.get("/tasks/{task_id}")
async def task_page(
    request: Request, task_id: TaskIdPath, user: UserDep, services: ServicesDep,
    notice: str | None = None,
) -> Response:
    context = await _task_context(services, user, task_id)
    return render(request, "task.html", user, notice=notice, **context)


@router.get("/tasks/{task_id}/overview")
async def task_overview(
    request: Request, task_id: TaskIdPath, user: UserDep, services: ServicesDep
) -> Response:
    """The parts of the task page that change while it runs (refreshed on live events)."""
    context = await _task_context(services, user, task_id)
    return render(request, "task_overview.html", user, **context)


@router.post("/tasks/{task_id}/cancel")
async def cancel(task_id: TaskIdPath, user: PostingUserDep, services: ServicesDep) -> Response:
    user.require("submitter")
    await services.tasks.cancel(user.tenant, task_id, by=f"console:{user.name}")
    return back_to(f"/console/tasks/{task_id}", "Cancel requested.")
