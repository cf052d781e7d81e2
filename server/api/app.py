"""The FastAPI app: `create_app(services)` builds it around open services (nothing is built
at import time); the caller owns the services and closes them after the app has stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from server.a2a import mount_a2a
from server.a2a.push_delivery import PushDelivery
from server.api.docs import mount_docs
from server.api.errors import install_error_handlers
from server.api.routes import admin, agents, alerts, health, killswitch, metrics, sse, tasks
from server.console import mount_console
from server.mcp_server import McpEndpoint
from server.services import Services

ROUTERS = (
    tasks.router,
    sse.router,
    agents.router,
    alerts.router,
    killswitch.router,
    health.router,
    metrics.router,
    admin.router,
)
DESCRIPTION = """\
Autonomous agents as durable LangGraph graphs. Submit a goal to `/tasks`; a worker runs the
agent until the goal is met, a budget runs out, it fails or it is canceled. Follow it with
`GET /tasks/{id}`, its event stream, answer approvals of risky tool calls, or cancel it.

Every call but `/healthz`, `/readyz` and the A2A agent card needs `Authorization: Bearer
<token>`; a token belongs to one tenant and has a role (submitter < approver < admin <
installation-admin). A tenant's admin manages its agents, its kill switch and reads its
metrics; an installation admin also has the global kill switch, every tenant's metrics and
`/admin` (tenants and tokens).
A2A v1.0 JSON-RPC is served at `/a2a` (card at `/.well-known/agent-card.json`).
"""
TAGS = [
    {"name": "tasks", "description": "Submit, follow, approve and cancel tasks."},
    {"name": "agents", "description": "Applied agent specs, their schedules and alerts."},
    {"name": "operations", "description": "Health, readiness, metrics, kill switch."},
    {"name": "admin", "description": "Tenants and API tokens (installation admins)."},
]


def create_app(services: Services) -> FastAPI:
    a2a_handler = None
    push = PushDelivery(services.engine.pool, services.listener)
    mcp = McpEndpoint(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        push.start()  # A2A push notifications, from the outbox every server shares
        async with mcp.run():  # the MCP session manager lives as long as the app
            yield
        await push.stop()
        if a2a_handler is not None:
            await a2a_handler.aclose()  # ends the A2A runs this process follows

    app = FastAPI(
        title="wakeful",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served offline by mount_docs
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    a2a_handler = mount_a2a(app, services)
    mcp.mount(app)
    mount_docs(app)
    mount_console(app)
    return app
