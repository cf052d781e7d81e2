"""Typed dependencies, so a handler reads like its signature.

`ServicesDep` is the process's services (set on the app by `create_app`); `PrincipalDep` is
the caller, from a bearer token (no token or an unknown one → 401); `SubmitterDep`,
`ApproverDep`, `AdminDep` and `InstallationAdminDep` also demand a role (→ 403). Roles are
ordered (submitter < approver < admin < installation-admin): a stronger role passes every
weaker role's check. `TaskIdPath` is a task
id in a path: malformed ones are a 422 before anything looks them up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.services import Principal, Services
from server.services.auth import Role

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A wakeful API token; it names a tenant and a role (submitter, approver, admin "
    "or installation-admin).",
)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def authenticate(services: Services, authorization: str | None) -> Principal:
    """The principal for an `Authorization` header value, or an HTTP 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send an API token as `Authorization: Bearer <token>`")
    principal = await services.auth.authenticate(token.strip())
    if principal is None:
        raise unauthorized("the bearer token is unknown or revoked")
    return principal


async def get_principal(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    return await authenticate(services, request.headers.get("authorization"))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency passing principals with `role` or a stronger one, else 403."""

    async def check(principal: PrincipalDep) -> Principal:
        principal.require(role)  # Forbidden → 403 (errors.py)
        return principal

    return check


SubmitterDep = Annotated[Principal, Depends(require_role("submitter"))]
ApproverDep = Annotated[Principal, Depends(require_role("approver"))]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
InstallationAdminDep = Annotated[Principal, Depends(require_role("installation-admin"))]


TaskIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="the task's id, as returned when it was submitted",
    ),
]
