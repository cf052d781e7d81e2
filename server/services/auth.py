"""Bearer tokens: each belongs to one tenant and has one role. Only the sha256 of a token is
stored; the token itself is shown once, when it is created.

Roles are ordered: a submitter submits, reads and cancels its tenant's tasks; an approver
also answers approvals; an admin also manages agents, tokens and the kill switch.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from psycopg_pool import AsyncConnectionPool

from stack.errors import ConfigError, Forbidden, NotFound
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")

Role = Literal["submitter", "approver", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
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

    async def create_token(self, tenant: str, role: Role, name: str) -> str:
        """A new token for `tenant` with `role`; returns the token (it is not stored)."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; roles are {list(ROLES)}")
        if not tenant or not name:
            raise ConfigError("a token needs a tenant and a name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        params = {
            "id": str(uuid.uuid4()), "tenant": tenant, "role": role, "name": name,
            "sha256": token_digest(token),
        }
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_q("ensure_tenant"), {"tenant": tenant})
            await conn.execute(_q("insert_token"), params)
        return token

    async def revoke(self, tenant: str, name: str) -> None:
        params = {"tenant": tenant, "name": name}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("revoke"), params)).fetchone()
        if row is None:
            raise NotFound(f"no active token named {name!r} in tenant {tenant!r}")

    async def ensure_local_admin(self, data_dir: Path) -> Path:
        """The embedded default: an admin token of tenant `local`, created once and kept in
        `<data_dir>/admin.token` (mode 0600). Returns the file's path."""
        path = data_dir / ADMIN_TOKEN_FILE
        if path.is_file():
            token = path.read_text().strip()
            if await self.authenticate(token) is not None:
                return path
        token = await self.create_token(LOCAL_TENANT, "admin", "local-admin")
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(temporary, path)
        return path
