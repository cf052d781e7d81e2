"""Tenants and bearer tokens: each token belongs to one tenant and has one role. Only the
sha256 of a token is stored; the token itself is shown once, when it is created. A token
may expire; a revoked or expired token authenticates nobody.

Roles are ordered: a submitter submits, reads and cancels its tenant's tasks; an approver
also answers approvals; an admin also manages its tenant's agents, its tenant's kill switch
and reads its tenant's metrics. An installation admin stands above every tenant: the global
kill switch, metrics across tenants, and tenants and tokens themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from psycopg_pool import AsyncConnectionPool

from stack.errors import ConfigError, Conflict, Forbidden, NotFound
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")

Role = Literal["submitter", "approver", "admin", "installation-admin"]
ROLES: tuple[str, ...] = get_args(Role)
INSTALLATION_ADMIN: Role = "installation-admin"
TENANT_ID = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
TOKEN_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$"
TOKEN_PREFIX = "wk_"
LOCAL_TENANT = "local"
ADMIN_TOKEN_FILE = "admin.token"


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    tenant: str
    role: Role
    token_name: str

    def allows(self, role: Role) -> bool:
        """Whether this principal has `role` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def require(self, role: Role) -> None:
        if not self.allows(role):
            raise Forbidden(f"this needs the {role} role; the token has {self.role}")

    @property
    def installation_admin(self) -> bool:
        return self.role == INSTALLATION_ADMIN


@dataclass(frozen=True)
class TenantRow:
    id: str
    created_at: datetime
    active_tokens: int = 0


@dataclass(frozen=True)
class TokenRow:
    """A token's record (never the token itself)."""

    id: str
    tenant: str
    role: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenRow:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in fields})


def check_tenant_id(tenant: str) -> str:
    if not isinstance(tenant, str) or not re.fullmatch(TENANT_ID, tenant):
        raise ConfigError(
            f"invalid tenant id {tenant!r}: lowercase letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return tenant


class AuthService:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def authenticate(self, token: str) -> Principal | None:
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("principal"), {"sha256": token_digest(token)})
            row = await cur.fetchone()
        if row is None:
            return None
        return Principal(tenant=row["tenant"], role=row["role"], token_name=row["name"])

    async def create_token(
        self,
        tenant: str,
        role: Role,
        name: str,
        *,
        expires_at: datetime | None = None,
        create_tenant: bool = True,
    ) -> str:
        """A new token for `tenant` with `role`; returns the token (it is not stored).
        With `create_tenant=False` the tenant must exist (NotFound otherwise)."""
        return (await self.issue_token(tenant, role, name, expires_at=expires_at,
                                       create_tenant=create_tenant))[0]

    async def issue_token(
        self,
        tenant: str,
        role: Role,
        name: str,
        *,
        expires_at: datetime | None = None,
        create_tenant: bool = False,
    ) -> tuple[str, TokenRow]:
        """A new token and its record; the tenant must exist unless `create_tenant`."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; roles are {list(ROLES)}")
        check_tenant_id(tenant)
        if not isinstance(name, str) or not re.fullmatch(TOKEN_NAME, name):
            raise ConfigError(
                f"invalid token name {name!r}: letters, digits and _ . : @ -, at most 100"
            )
        if expires_at is not None and expires_at.tzinfo is None:
            raise ConfigError("expires_at needs a time zone (e.g. 2030-01-01T00:00:00Z)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        params = {
            "id": str(uuid.uuid4()), "tenant": tenant, "role": role, "name": name,
            "sha256": token_digest(token), "expires_at": expires_at,
        }
        async with self.pool.connection() as conn, conn.transaction():
            if create_tenant:
                await conn.execute(_q("ensure_tenant"), {"tenant": tenant})
            elif await (await conn.execute(_q("get_tenant"), {"tenant": tenant})).fetchone() \
                    is None:
                raise NotFound(f"no tenant {tenant!r}; create it first (wakeful tenant create)")
            row = await (await conn.execute(_q("insert_token"), params)).fetchone()
        assert row is not None
        return token, TokenRow.from_row(row)

    async def list_tokens(
        self, tenant: str | None = None, *, include_revoked: bool = False
    ) -> list[TokenRow]:
        params = {"tenant": tenant, "all": include_revoked}
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("list_tokens"), params)).fetchall()
        return [TokenRow.from_row(r) for r in rows]

    async def revoke_token(self, token_id: str, *, tenant: str | None = None) -> TokenRow:
        """Revoke a token by id (only within `tenant` when given); NotFound if none is active."""
        params = {"id": token_id, "tenant": tenant}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("revoke_id"), params)).fetchone()
        if row is None:
            raise NotFound(f"no active token with id {token_id!r}")
        return TokenRow.from_row(row)

    async def create_tenant(self, tenant: str) -> TenantRow:
        """A new tenant; Conflict when it exists already."""
        check_tenant_id(tenant)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("create_tenant"), {"tenant": tenant})).fetchone()
        if row is None:
            raise Conflict(f"tenant {tenant!r} exists already")
        return TenantRow(id=row["id"], created_at=row["created_at"])

    async def list_tenants(self) -> list[TenantRow]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("list_tenants"))).fetchall()
        return [TenantRow(**row) for row in rows]

    async def revoke(self, tenant: str, name: str) -> None:
        params = {"tenant": tenant, "name": name}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("revoke"), params)).fetchone()
        if row is None:
            raise NotFound(f"no active token named {name!r} in tenant {tenant!r}")

    async def ensure_local_admin(self, data_dir: Path) -> Path:
        """The embedded default: an installation-admin token of tenant `local`, created once
        and kept in `<data_dir>/admin.token` (mode 0600). Returns the file's path."""
        path = data_dir / ADMIN_TOKEN_FILE
        if path.is_file():
            token = path.read_text().strip()
            if await self.authenticate(token) is not None:
                return path
        # The embedded default's one operator runs the installation, not just a tenant.
        token = await self.create_token(LOCAL_TENANT, INSTALLATION_ADMIN, "local-admin")
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(temporary, path)
        return path
