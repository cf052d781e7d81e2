"""`wakeful killswitch on|off|status [--tenant T]`: stop every agent and task at once (or,
with --tenant, only that tenant's), and start again.

On: running tasks stop at their next step (an in-flight model call is abandoned), queued
and waiting tasks are canceled, no iteration of a continuous agent starts and new tasks are
refused. Off: continuous agents are scheduled again (one catch-up iteration each). The
global switch is the installation's; a tenant's switch stops only that tenant's work (the
API's `scope: "tenant"`), and either being on stops the tenant.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from server.cli.common import console, handle_errors, run_async, settings
from server.cli.task import cli_services
from server.runtime.killswitch import KillSwitchState, StoppedTasks
from server.services import Services
from stack.errors import NotFound

app = typer.Typer(help="Kill switches: global, or a tenant's.", no_args_is_help=True)
ByOption = Annotated[str | None, typer.Option("--by", help="who flips it (default: $USER)")]
TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="only this tenant's switch (default: the global one)"),
]


async def _check_tenant(services: Services, tenant: str) -> None:
    if tenant not in {row.id for row in await services.auth.list_tenants()}:
        raise NotFound(f"no tenant {tenant!r} (see `wakeful tenant list`)")


def _flip(on: bool, by: str | None, tenant: str | None) -> None:
    config = settings()
    who = by or f"cli:{getpass.getuser()}"

    async def main() -> StoppedTasks:
        async with cli_services(config) as services:
            if tenant is None:
                return await services.killswitch.set(on, by=who)
            await _check_tenant(services, tenant)
            return await services.killswitch.set_tenant(tenant, on, by=who)

    stopped = run_async(main())
    scope = f"tenant {tenant}'s kill switch" if tenant else "kill switch"
    if on:
        console.print(f"[bold red]{scope} ON[/] · {len(stopped)} task(s) stopped")
        if stopped.remaining:  # rows other transactions held: refused at their next step
            console.print(
                f"{stopped.remaining} more still open: each stops at its next claim or step, "
                "and the maintenance sweep stops the rest within a minute"
            )
    else:
        console.print(f"[bold green]{scope} off[/] · scheduling resumes")


def _line(scope: str, state: KillSwitchState) -> str:
    label = "[bold red]ON[/]" if state.on else "[green]off[/]"
    since = f" since {state.changed_at:%Y-%m-%d %H:%M:%S}" if state.changed_at else ""
    by = f" by {state.changed_by}" if state.changed_by else ""
    return f"{scope} {label}{since}{by}"


@app.command("on")
@handle_errors
def on(by: ByOption = None, tenant: TenantOption = None) -> None:
    """Stop everything now (or everything of one tenant)."""
    _flip(True, by, tenant)


@app.command("off")
@handle_errors
def off(by: ByOption = None, tenant: TenantOption = None) -> None:
    """Let agents and tasks run again (the global switch, or one tenant's)."""
    _flip(False, by, tenant)


@app.command("status")
@handle_errors
def status(tenant: TenantOption = None) -> None:
    """Whether the kill switch is on, since when and by whom (with --tenant: that tenant's
    switch too, and whether the tenant is stopped by either)."""
    config = settings()

    async def main() -> tuple[KillSwitchState, KillSwitchState | None]:
        async with cli_services(config) as services:
            installation = await services.killswitch.state()
            if tenant is None:
                return installation, None
            await _check_tenant(services, tenant)
            return installation, await services.killswitch.tenant_state(tenant)

    installation, own = run_async(main())
    console.print(_line("kill switch", installation))
    if own is not None:
        console.print(_line(f"tenant {tenant}'s kill switch", own))
        stopped = installation.on or own.on
        label = "[bold red]stopped[/]" if stopped else "[green]running[/]"
        console.print(f"tenant {tenant} is {label}")


if __name__ == "__main__":
    app()
