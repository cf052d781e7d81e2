"""`wakeful tool pins list|approve`: the MCP tool descriptions waiting for an operator.

An MCP tool is usable only once its description's digest is approved (tools/mcp/pinning.py);
a changed description waits here. Digests may be given by their start, as listed.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from server.cli.common import (
    console,
    handle_errors,
    open_engine,
    run_async,
    settings,
    unique_prefix_match,
)

app = typer.Typer(help="MCP tools: approve the descriptions they pin.", no_args_is_help=True)
pins_app = typer.Typer(help="Pinned MCP tool descriptions: list them, approve one.",
                       no_args_is_help=True)
app.add_typer(pins_app, name="pins")

SHOWN_DIGEST = 12


@pins_app.command("list")
@handle_errors
def list_pins(
    server: Annotated[str | None, typer.Option(help="only this MCP server's tools")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="only unapproved ones")] = False,
) -> None:
    """Every recorded tool description (digest), approved or waiting."""
    from tools.mcp.pinning import Pin, PinStore

    config = settings()

    async def main() -> list[Pin]:
        async with open_engine(config) as engine:
            return await PinStore(engine.pool).list(server=server, pending=pending)

    pins = run_async(main())
    table = Table(title=f"{len(pins)} pin(s)" + (" waiting for approval" if pending else ""))
    for column in ("tool", "digest", "first seen"):
        table.add_column(column, no_wrap=True)
    table.add_column("state", overflow="fold")
    table.add_column("description", overflow="fold")
    for pin in pins:
        state = f"approved by {escape(pin.approved_by or '')}" if pin.approved else (
            "[bold yellow]pending[/]"
        )
        table.add_row(f"{pin.server}.{pin.tool}", pin.digest[:SHOWN_DIGEST],
                      f"{pin.first_seen_at:%Y-%m-%d %H:%M}", state, escape(pin.description[:200]))
    console.print(table)
    if any(not pin.approved for pin in pins):
        console.print("approve one: wakeful tool pins approve SERVER TOOL DIGEST")


@pins_app.command("approve")
@handle_errors
def approve(
    server: Annotated[str, typer.Argument(help="the MCP server's name in the agent spec")],
    tool: Annotated[str, typer.Argument(help="the tool's name on that server")],
    digest: Annotated[str, typer.Argument(help="the digest (or its start, as listed)")],
    by: Annotated[str, typer.Option(help="who approves (recorded)")] = getpass.getuser(),
) -> None:
    """Approve one description of a tool; agents use it from their next start."""
    from tools.mcp.pinning import Pin, PinStore

    config = settings()

    async def main() -> Pin:
        async with open_engine(config) as engine:
            store = PinStore(engine.pool)
            digests = [pin.digest for pin in await store.list(server=server)
                       if pin.tool == tool and pin.digest.startswith(digest)]
            full = unique_prefix_match(f"digest of {server}.{tool}", digest, digests)
            return await store.approve(server, tool, full, approved_by=by)

    pin = run_async(main())
    who = escape(pin.approved_by or "")
    console.print(f"approved {pin.server}.{pin.tool} {pin.digest} by {who}")


if __name__ == "__main__":
    app()
