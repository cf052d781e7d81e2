"""/alerts: what fired for the tenant's agents, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import PrincipalDep, ServicesDep
from server.api.schemas.alerts import AlertPublic
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.tasks import AGENT_NAME

router = APIRouter(
    prefix="/alerts", tags=["agents"], responses=error_responses({401: NO_TOKEN, 422: INVALID})
)


@router.get("")
async def list_alerts(
    principal: PrincipalDep,
    services: ServicesDep,
    agent: Annotated[str | None, Query(pattern=AGENT_NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertPublic]:
    rows = await services.alerts.list(principal.tenant, agent, limit=limit)
    return [AlertPublic.from_row(row) for row in rows]
