"""`wakeful token create|list|revoke`: API tokens. A token is printed once, when created;
only its sha256 is kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from server.cli.common import console, handle_errors, open_engine, run_async, settings
from server.services.auth import ROLES, AuthService, Role, TokenRow
from stack.errors import ConfigError

app = typer.Typer(help="API tokens: a tenant and a role each.", no_args_is_help=True)

_DURATION = re.compile(r"^(?P<n>\d+)(?P<unit>[mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """`--expires`: a duration from now (`90m`, `12h`, `30d`, `2w`) or an ISO date/time
    (UTC when it names no zone)."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    match = _DURATION.match(value.strip())
    if match:
        return now + timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"--expires {value!r}: give a duration (90m, 12h, 30d, 2w) or an ISO date/time"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise ConfigError(f"--expires {value!r} is in the past")
    return when


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ConfigError(f"--role {role!r}: roles are {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


@app.command("create")
@handle_errors
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="an existing tenant")],
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(ROLES)}")],
    name: Annotated[str | None, typer.Option("--name", help="who uses it")] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="30d, 12h, or an ISO date/time; never if left out"),
    ] = None,
) -> None:
    """Create a token and print it (the only time it is shown)."""
    config = settings()
    checked = check_role(role)
    expires_at = parse_expiry(expires)
    label = name or f"{tenant}-{role}-{datetime.now(UTC):%Y%m%d%H%M%S}"

    async def main() -> tuple[str, TokenRow]:
        async with open_engine(config) as engine:
            auth = AuthService(engine.pool)
            return await auth.issue_token(tenant, checked, label, expires_at=expires_at)

    token, row = run_async(main())
    until = f", expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
    console.print(f"token {row.id} ({row.tenant}/{row.name}, {row.role}{until}):", soft_wrap=True)
    print(token)


@app.command("list")
@handle_errors
def list_tokens(
    tenant: Annotated[str | None, typer.Option("--tenant", help="one tenant's only")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="show revoked ones too")] = False,
) -> None:
    """Tokens (never the tokens themselves)."""
    config = settings()

    async def main() -> list[TokenRow]:
        async with open_engine(config) as engine:
            return await AuthService(engine.pool).list_tokens(tenant, include_revoked=revoked)

    table = Table("id", "tenant", "name", "role", "created", "expires", "last used", "revoked")
    stamp = "{:%Y-%m-%d %H:%M}".format
    for row in run_async(main()):
        table.add_row(
            row.id,
            row.tenant,
            row.name,
            row.role,
            stamp(row.created_at),
            stamp(row.expires_at) if row.expires_at else "never",
            stamp(row.last_used_at) if row.last_used_at else "",
            stamp(row.revoked_at) if row.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(
    token_id: Annotated[str, typer.Argument(help="the token's id (see token list)")],
) -> None:
    """Revoke a token: it authenticates nobody from now on."""
    config = settings()

    async def main() -> TokenRow:
        async with open_engine(config) as engine:
            return await AuthService(engine.pool).revoke_token(token_id)

    row = run_async(main())
    console.print(f"token {row.id} ({row.tenant}/{row.name}) revoked")
