"""/admin: tenants and API tokens, for installation admins only (a tenant's admin manages
its agents and its kill switch, not who may call the installation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from server.api.deps import InstallationAdminDep, ServicesDep
from server.api.schemas.admin import (
    TenantCreate,
    TenantPublic,
    TokenCreate,
    TokenIssued,
    TokenPublic,
)
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.services.auth import TENANT_ID

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses=error_responses(
        {401: NO_TOKEN, 403: "the token lacks the installation-admin role", 422: INVALID}
    ),
)

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="the token's id")]


@router.get("/tenants")
async def list_tenants(_: InstallationAdminDep, services: ServicesDep) -> list[TenantPublic]:
    return [TenantPublic.from_row(row) for row in await services.auth.list_tenants()]


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses({409: "a tenant with that id exists"}),
)
async def create_tenant(
    body: TenantCreate, _: InstallationAdminDep, services: ServicesDep
) -> TenantPublic:
    return TenantPublic.from_row(await services.auth.create_tenant(body.id))


@router.get("/tokens")
async def list_tokens(
    _: InstallationAdminDep,
    services: ServicesDep,
    tenant: Annotated[str | None, Query(pattern=TENANT_ID)] = None,
    include_revoked: bool = False,
) -> list[TokenPublic]:
    """Tokens (never the tokens themselves), of one tenant or all."""
    rows = await services.auth.list_tokens(tenant, include_revoked=include_revoked)
    return [TokenPublic.from_row(row) for row in rows]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses({404: "no tenant with that id"}),
)
async def create_token(
    body: TokenCreate, _: InstallationAdminDep, services: ServicesDep
) -> TokenIssued:
    """A new token; the answer holds it, once."""
    token, row = await services.auth.issue_token(
        body.tenant, body.role, body.name, expires_at=body.expires_at
    )
    return TokenIssued(**TokenPublic.from_row(row).model_dump(), token=token)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses({404: "no active token with that id"}),
)
async def revoke_token(
    token_id: TokenId, _: InstallationAdminDep, services: ServicesDep
) -> Response:
    await services.auth.revoke_token(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
