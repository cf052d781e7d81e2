"""/killswitch: a tenant's admin stops (or resumes) all of its tenant's work; an installation
admin also has the global switch (`scope: "installation"`), which stops every tenant's."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminDep, PrincipalDep, ServicesDep
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.killswitch import KillSwitchIn, KillSwitchPublic, SwitchPublic
from server.services import Principal, Services

router = APIRouter(
    prefix="/killswitch",
    tags=["operations"],
    responses=error_responses({401: NO_TOKEN, 422: INVALID}),
)


async def switches(
    services: Services, principal: Principal, stopped: list[str] | None = None
) -> KillSwitchPublic:
    installation = await services.killswitch.state()
    tenant = await services.killswitch.tenant_state(principal.tenant)
    return KillSwitchPublic(
        on=installation.on or tenant.on,
        installation=SwitchPublic.from_state(
            installation, private=not principal.installation_admin
        ),
        tenant=SwitchPublic.from_state(tenant),
        stopped_tasks=stopped or [],
    )


@router.get("")
async def get_killswitch(principal: PrincipalDep, services: ServicesDep) -> KillSwitchPublic:
    return await switches(services, principal)


@router.post(
    "",
    responses=error_responses(
        {403: "the token lacks the admin role (installation-admin for the global switch)"}
    ),
)
async def set_killswitch(
    body: KillSwitchIn, principal: AdminDep, services: ServicesDep
) -> KillSwitchPublic:
    by = f"{principal.tenant}/{principal.token_name}"
    if body.scope == "installation":
        principal.require("installation-admin")
        stopped = await services.killswitch.set(body.on, by=by)
    else:
        stopped = await services.killswitch.set_tenant(principal.tenant, body.on, by=by)
    return await switches(services, principal, [task.id for task in stopped])
