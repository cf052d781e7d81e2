"""`wakeful tenant create|list`: the tenants of this installation (run by its operator, on
the database directly; over HTTP an installation admin uses /admin/tenants)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from server.cli.common import console, handle_errors, open_engine, run_async, settings
from server.services.auth import AuthService, TenantRow

app = typer.Typer(help="Tenants: who owns tasks, agents and tokens.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    tenant: Annotated[str, typer.Argument(help="the new tenant's id, e.g. acme")],
) -> None:
    """Create a tenant (then give it tokens with `wakeful token create`)."""
    config = settings()

    async def main() -> TenantRow:
        async with open_engine(config) as engine:
            return await AuthService(engine.pool).create_tenant(tenant)

    row = run_async(main())
    console.print(f"tenant [bold]{row.id}[/] created")


@app.command("list")
@handle_errors
def list_tenants() -> None:
    """Every tenant, with its count of active tokens."""
    config = settings()

    async def main() -> list[TenantRow]:
        async with open_engine(config) as engine:
            return await AuthService(engine.pool).list_tenants()

    table = Table("tenant", "created", "active tokens")
    for row in run_async(main()):
        table.add_row(row.id, f"{row.created_at:%Y-%m-%d %H:%M}", str(row.active_tokens))
    console.print(table)
