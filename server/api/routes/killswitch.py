"""/killswitch: one flag for the whole installation. On, every task that has not ended is
stopped, nothing is scheduled and new tasks are refused; off, scheduling resumes."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import AdminDep, PrincipalDep, ServicesDep
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.killswitch import KillSwitchIn, KillSwitchPublic

router = APIRouter(
    prefix="/killswitch",
    tags=["operations"],
    responses=error_responses({401: NO_TOKEN, 422: INVALID}),
)


@router.get("")
async def get_killswitch(principal: PrincipalDep, services: ServicesDep) -> KillSwitchPublic:
    return KillSwitchPublic.from_state(await services.killswitch.state())


@router.post(
    "",
    responses=error_responses({403: "the token lacks the admin role"}),
)
async def set_killswitch(
    body: KillSwitchIn, principal: AdminDep, services: ServicesDep
) -> KillSwitchPublic:
    stopped = await services.killswitch.set(
        body.on, by=f"{principal.tenant}/{principal.token_name}"
    )
    state = await services.killswitch.state()
    return KillSwitchPublic.from_state(state, [task.id for task in stopped])
