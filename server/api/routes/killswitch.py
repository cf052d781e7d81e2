"""/killswitch: a tenant's admin stops (or resumes) all of its tenant's work; an installation
admin also has the global switch (`scope: "installation"`), which stops every tenant's."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminDep, PrincipalDep, ServicesDep
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.killswitch import KillSwitchIn, KillSwitchPublic, SwitchPublic
from server.runtime.killswitch import StoppedTasks
from server.services import Principal, Services

router = APIRouter(
    prefix="/killswitch",
    tags=["operations"],
    responses=error_responses({401: NO_TOKEN, 422: INVALID}),
)


# How long POST /killswitch stops open tasks before it answers; a background sweep stops
# the rest. The switch itself is in effect before the first task is stopped.
WAIT_SECONDS = 1.0


async def switches(
    services: Services, principal: Principal, stopped: StoppedTasks | None = None
) -> KillSwitchPublic:
    installation = await services.killswitch.state()
    tenant = await services.killswitch.tenant_state(principal.tenant)
    if stopped is not None:
        remaining = stopped.remaining
    elif installation.on and principal.installation_admin:
        remaining = await services.killswitch.left()
    elif installation.on or tenant.on:
        remaining = await services.killswitch.left(principal.tenant)
    else:
        remaining = 0
    return KillSwitchPublic(
        on=installation.on or tenant.on,
        installation=SwitchPublic.from_state(
            installation, private=not principal.installation_admin
        ),
        tenant=SwitchPublic.from_state(tenant),
        stopped_tasks=[task.id for task in stopped or []],
        canceled=stopped.canceled if stopped else 0,
        stopping=stopped.stopping if stopped else 0,
        remaining=remaining,
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
    switch = services.killswitch
    if body.scope == "installation":
        principal.require("installation-admin")
        stopped = await switch.set(body.on, by=by, wait_seconds=WAIT_SECONDS, sweep=True)
    else:
        stopped = await switch.set_tenant(
            principal.tenant, body.on, by=by, wait_seconds=WAIT_SECONDS, sweep=True
        )
    return await switches(services, principal, stopped)
