"""Installation administration: tenants (TenantCreate, TenantPublic) and API tokens
(TokenCreate, TokenPublic, and TokenIssued, the one answer that holds the token itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from server.services.auth import TENANT_ID, TOKEN_NAME, TenantRow, TokenRow

RoleName = Literal["submitter", "approver", "admin", "installation-admin"]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=TENANT_ID, description="the tenant's id, e.g. `acme`")


class TenantPublic(BaseModel):
    id: str
    created_at: datetime
    active_tokens: int = Field(description="tokens neither revoked nor expired")

    @classmethod
    def from_row(cls, row: TenantRow) -> TenantPublic:
        return cls(id=row.id, created_at=row.created_at, active_tokens=row.active_tokens)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_ID, description="an existing tenant")
    role: RoleName
    name: str = Field(pattern=TOKEN_NAME, description="who or what uses it, e.g. `ci-bot`")
    expires_at: AwareDatetime | None = Field(
        default=None, description="when it stops working (with a time zone); never when left out"
    )


class TokenPublic(BaseModel):
    id: str
    tenant: str
    role: RoleName
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, row: TokenRow) -> TokenPublic:
        return cls.model_validate(row, from_attributes=True)


class TokenIssued(TokenPublic):
    token: str = Field(description="the bearer token: shown this once, never stored")
