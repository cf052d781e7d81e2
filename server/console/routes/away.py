"""/console/: the landing page, what happened since your last visit (or a chosen time)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request, Response

from server.api.deps import ServicesDep
from server.console.away import OUTCOMES, away_summary
from server.console.pages import render
from server.console.routes.common import console_router
from server.console.session import UserDep
from server.console.visits import parse_since, since_last_visit

router = console_router()


@router.get("/")
async def away(
    request: Request, user: UserDep, services: ServicesDep, since: str | None = None
) -> Response:
    now = datetime.now(UTC)
    if since:
        start, chosen = parse_since(since, now), True
    else:
        start, chosen = await since_last_visit(services.engine.store, user, now), False
    summary = await away_summary(services, user.tenant, start)
    return render(request, "away.html", user, summary=summary, outcomes=OUTCOMES,
                  chosen=chosen, since=since or "", now=now)
