"""Typed dependencies, so a handler reads like its signature.

`ServicesDep` is the process's services (set on the app by `create_app`); `PrincipalDep` is
the caller, from a bearer token (no token or an unknown one → 401); `SubmitterDep`,
`ApproverDep`, `AdminDep` and `InstallationAdminDep` also demand a role (→ 403);
`RecheckedSubmitterDep` (POST /tasks) is a submitter verified from the token cache, whose
token the write checks again. Roles are
ordered (submitter < approver < admin < installation-admin): a stronger role passes every
weaker role's check. `TaskIdPath` is a task
id in a path: malformed ones are a 422 before anything looks them up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.api.token_cache import TokenCache
from server.services import Principal, Services
from server.services.auth import Role, token_digest

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A wakeful API token; it names a tenant and a role (submitter, approver, admin "
    "or installation-admin).",
)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency on its thread pool, a thread hop per request
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


REVOKED = "the bearer token is unknown or revoked"


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send an API token as `Authorization: Bearer <token>`")
    return token.strip()


async def authenticate(services: Services, authorization: str | None) -> Principal:
    """The principal for an `Authorization` header value, or an HTTP 401."""
    principal = await services.auth.authenticate(bearer_token(authorization))
    if principal is None:
        raise unauthorized(REVOKED)
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


@dataclass(frozen=True)
class Submitter:
    """A submitter whose token this process verified lately: `recheck_sha256` is its digest
    when the verification came from the token cache, for the write to check again (exactly:
    a token revoked since is refused there); None when it was verified just now."""

    principal: Principal
    recheck_sha256: str | None


def token_cache(request: Request) -> TokenCache:
    cache = getattr(request.app.state, "token_cache", None)
    if cache is None:
        cache = request.app.state.token_cache = TokenCache()
    return cache


async def get_submitter(
    request: Request,
    services: ServicesDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Submitter:
    """The submitter with no round trip for a token verified in the last TTL_SECONDS."""
    token = bearer_token(request.headers.get("authorization"))
    digest = token_digest(token)
    cache = token_cache(request)
    principal = cache.get(digest)
    recheck: str | None = digest
    if principal is None:
        principal = await services.auth.authenticate(token)
        if principal is None:
            raise unauthorized(REVOKED)
        cache.put(digest, principal)
        recheck = None
    principal.require("submitter")  # Forbidden → 403 (errors.py)
    return Submitter(principal, recheck)


RecheckedSubmitterDep = Annotated[Submitter, Depends(get_submitter)]
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
