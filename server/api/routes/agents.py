"""/agents: the tenant's applied agent specs. Anyone in the tenant reads them; applying,
deleting, pausing and resuming needs the admin role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from server.api.deps import AdminDep, PrincipalDep, ServicesDep
from server.api.schemas.agents import AgentApply, AgentPublic, AgentStatusPublic
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.tasks import AGENT_NAME
from stack.errors import ConfigError

router = APIRouter(
    prefix="/agents", tags=["agents"], responses=error_responses({401: NO_TOKEN, 422: INVALID})
)

AgentName = Annotated[str, Path(pattern=AGENT_NAME, description="the agent's name")]
NOT_FOUND = error_responses({404: "no agent of that name in the caller's tenant"})
ADMIN_ONLY = error_responses({403: "the token lacks the admin role"})


@router.get("")
async def list_agents(principal: PrincipalDep, services: ServicesDep) -> list[AgentPublic]:
    return [AgentPublic.from_row(row) for row in await services.agents.list(principal.tenant)]


@router.post("", responses=ADMIN_ONLY)
async def apply_agent(body: AgentApply, principal: AdminDep, services: ServicesDep) -> AgentPublic:
    """Create the agent, or replace the spec of the agent with that name. A continuous agent
    (with `autonomous:`) is scheduled at once."""
    return AgentPublic.from_row(await services.agents.apply(principal.tenant, body.as_spec()))


@router.put("/{name}", responses=ADMIN_ONLY)
async def put_agent(
    name: AgentName, body: AgentApply, principal: AdminDep, services: ServicesDep
) -> AgentPublic:
    """Create or replace the agent `name` (the spec's name must be the same)."""
    if body.name != name:
        raise ConfigError(f"the spec is named {body.name!r}, not {name!r}")
    return AgentPublic.from_row(await services.agents.apply(principal.tenant, body.as_spec()))


@router.get("/{name}", responses=NOT_FOUND)
async def get_agent(name: AgentName, principal: PrincipalDep, services: ServicesDep) -> AgentPublic:
    return AgentPublic.from_row(await services.agents.get(principal.tenant, name))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, **ADMIN_ONLY},
)
async def delete_agent(name: AgentName, principal: AdminDep, services: ServicesDep) -> Response:
    """Forget the agent (its tasks stay); its running iteration is canceled."""
    await services.agents.delete(principal.tenant, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/pause", responses={**NOT_FOUND, **ADMIN_ONLY})
async def pause_agent(name: AgentName, principal: AdminDep, services: ServicesDep) -> AgentPublic:
    """Stop scheduling the agent; a running iteration finishes."""
    return AgentPublic.from_row(await services.agents.pause(principal.tenant, name))


@router.post("/{name}/resume", responses={**NOT_FOUND, **ADMIN_ONLY})
async def resume_agent(name: AgentName, principal: AdminDep, services: ServicesDep) -> AgentPublic:
    """Schedule the agent again; an iteration missed while paused runs at once."""
    return AgentPublic.from_row(await services.agents.resume(principal.tenant, name))


@router.get("/{name}/status", responses=NOT_FOUND)
async def agent_status(
    name: AgentName, principal: PrincipalDep, services: ServicesDep
) -> AgentStatusPublic:
    """Schedule, last runs, failures in a row, queue depth, token use today, open alerts."""
    return AgentStatusPublic.from_status(await services.agents.status(principal.tenant, name))
