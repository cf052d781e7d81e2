"""/console/agents: each agent's status (state, last run, failures in a row, next run,
queue depth), its spec and recent iterations; pause / resume and the kill switches for
admins (the global switch for installation admins), as the API allows."""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from fastapi import Form, Path, Request, Response

from server.api.deps import ServicesDep
from server.api.schemas.tasks import AGENT_NAME
from server.console.pages import render
from server.console.routes.common import back_to, console_router
from server.console.session import ConsoleUser, PostingUserDep, UserDep
from server.services import Services

router = console_router()
AgentName = Annotated[str, Path(pattern=AGENT_NAME)]


async def _switches(services: Services, user: ConsoleUser) -> dict:
    installation = await services.killswitch.state()
    return {
        "installation_on": installation.on,
        # who flipped the global switch is the installation's business
        "installation_by": installation.changed_by if user.principal.installation_admin
        else None,
        "tenant_switch": await services.killswitch.tenant_state(user.tenant),
    }


@router.get("/agents")
async def agents(
    request: Request, user: UserDep, services: ServicesDep, notice: str | None = None
) -> Response:
    rows = await services.agents.list(user.tenant)
    statuses = [(row, await services.agents.status(user.tenant, row.name)) for row in rows]
    return render(request, "agents.html", user, statuses=statuses, notice=notice,
                  **await _switches(services, user))


@router.get("/agents/{name}")
async def agent_page(
    request: Request, name: AgentName, user: UserDep, services: ServicesDep,
    notice: str | None = None,
) -> Response:
    row = await services.agents.get(user.tenant, name)
    status = await services.agents.status(user.tenant, name)
    recent, _ = await services.tasks.list(user.tenant, agent=name, limit=25)
    spec = yaml.safe_dump(row.spec, sort_keys=False, allow_unicode=True)
    return render(request, "agent.html", user, agent=row, status=status, recent=recent,
                  spec=spec, notice=notice)


@router.post("/agents/{name}/{action}")
async def pause_or_resume(
    name: AgentName, action: Literal["pause", "resume"], user: PostingUserDep,
    services: ServicesDep, back: Annotated[str | None, Form()] = None,
) -> Response:
    user.require("admin")
    if action == "pause":
        await services.agents.pause(user.tenant, name)
    else:
        await services.agents.resume(user.tenant, name)
    done = "paused" if action == "pause" else "resumed"
    target = f"/console/agents/{name}" if back == "agent" else "/console/agents"
    return back_to(target, f"Agent {name} {done} by {user.name}.")


@router.post("/killswitch")
async def killswitch(
    user: PostingUserDep, services: ServicesDep,
    on: Annotated[bool, Form()],
    scope: Annotated[Literal["tenant", "installation"], Form()] = "tenant",
) -> Response:
    user.require("admin")
    by = f"{user.tenant}/{user.name} (console)"
    if scope == "installation":
        user.require("installation-admin")
        stopped = await services.killswitch.set(on, by=by)
    else:
        stopped = await services.killswitch.set_tenant(user.tenant, on, by=by)
    what = "global" if scope == "installation" else f"tenant {user.tenant}'s"
    state = f"on ({len(stopped)} tasks stopped)" if on else "off"
    return back_to("/console/agents", f"The {what} kill switch is {state}.")
