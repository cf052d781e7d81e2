"""The ops console at /console: server-rendered pages (Jinja2) made live with htmx and its
SSE extension, signed in with an API token, on the same services as REST and A2A.

`mount_console(app)` adds its routes and its static files (htmx and the SSE extension,
vendored from their npm packages; no CDN).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from server.console.routes import (
    agents,
    alerts,
    approvals,
    away,
    live,
    memory,
    session,
    tasks,
)

ROUTERS = (session.router, away.router, tasks.router, live.router, approvals.router,
           agents.router, alerts.router, memory.router)
STATIC = Path(__file__).with_name("static")

__all__ = ["mount_console"]


def mount_console(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/console", include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
