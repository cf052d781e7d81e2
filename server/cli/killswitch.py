"""`wakeful killswitch on|off|status`: stop every agent and task at once, and start again.

On: running tasks stop at their next step (an in-flight model call is abandoned), queued
and waiting tasks are canceled, no iteration of a continuous agent starts and new tasks are
refused. Off: continuous agents are scheduled again (one catch-up iteration each).
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from server.cli.common import console, handle_errors, run_async, settings
from server.cli.task import cli_services
from server.runtime.killswitch import KillSwitchState

app = typer.Typer(help="The global kill switch.", no_args_is_help=True)
ByOption = Annotated[str | None, typer.Option("--by", help="who flips it (default: $USER)")]


def _flip(on: bool, by: str | None) -> None:
    config = settings()
    who = by or f"cli:{getpass.getuser()}"

    async def main() -> int:
        async with cli_services(config) as services:
            return len(await services.killswitch.set(on, by=who))

    stopped = run_async(main())
    if on:
        console.print(f"[bold red]kill switch ON[/] · {stopped} task(s) stopped")
    else:
        console.print("[bold green]kill switch off[/] · scheduling resumes")


@app.command("on")
@handle_errors
def on(by: ByOption = None) -> None:
    """Stop everything now."""
    _flip(True, by)


@app.command("off")
@handle_errors
def off(by: ByOption = None) -> None:
    """Let agents and tasks run again."""
    _flip(False, by)


@app.command("status")
@handle_errors
def status() -> None:
    """Whether the kill switch is on, since when and by whom."""
    config = settings()

    async def main() -> KillSwitchState:
        async with cli_services(config) as services:
            return await services.killswitch.state()

    state = run_async(main())
    label = "[bold red]ON[/]" if state.on else "[green]off[/]"
    since = f" since {state.changed_at:%Y-%m-%d %H:%M:%S}" if state.changed_at else ""
    by = f" by {state.changed_by}" if state.changed_by else ""
    console.print(f"kill switch {label}{since}{by}")


if __name__ == "__main__":
    app()
