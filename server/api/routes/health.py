"""/healthz (the process answers) and /readyz (it can reach its database). No token.

While the database is down the process stays up: /healthz says ok, /readyz says 503 with
why (a load balancer sends no traffic, a supervisor restarts nothing), and both go back to
normal by themselves when the database answers again.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response

from server.api.deps import ServicesDep
from server.api.schemas.health import Health, Readiness
from server.runtime.database_health import PROBE_TIMEOUT_S, outage_reason

router = APIRouter(tags=["operations"])

DB_TIMEOUT_S = PROBE_TIMEOUT_S


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process serves requests."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database does not answer"}},
)
async def readyz(services: ServicesDep) -> Response:
    """Readiness: the database answers a query within two seconds."""
    try:
        async with asyncio.timeout(DB_TIMEOUT_S):
            async with services.engine.pool.connection() as conn:
                await conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready", never a 500
        services.database.suspect()
        reason = f"unavailable: {outage_reason(exc)}"
        body = Readiness(status="unavailable", checks={"database": reason})
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse(Readiness(status="ready", checks={"database": "ok"}).model_dump())
