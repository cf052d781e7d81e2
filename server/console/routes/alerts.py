"""/console/alerts: what fired for the tenant's agents, newest first, with deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from server.api.deps import ServicesDep
from server.console.pages import render
from server.console.routes.common import console_router
from server.console.session import UserDep

router = console_router()


@router.get("/alerts")
async def alerts(
    request: Request, user: UserDep, services: ServicesDep,
    agent: Annotated[str | None, Query(max_length=63)] = None,  # "" from the form: any
) -> Response:
    rows = await services.alerts.list(user.tenant, agent or None, limit=200)
    agents = [a.name for a in await services.agents.list(user.tenant)]
    return render(request, "alerts.html", user, alerts=rows, agent=agent or "", agents=agents)
