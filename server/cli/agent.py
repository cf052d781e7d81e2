"""`wakeful agent apply FILE|list|status|pause|resume|delete|alerts`: applied agents.

An applied agent can be named when sending tasks; one with an `autonomous:` section is a
continuous agent, run every interval by the workers' scheduler until paused or deleted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from server.cli.common import console, handle_errors, run_async, settings
from server.cli.task import DEFAULT_TENANT, TenantOption, cli_services
from server.runtime.status import AgentStatus
from server.services import AgentRow, AlertRow
from stack.errors import ConfigError
from stack.yaml_files import load_yaml_file

app = typer.Typer(help="Apply agent specs and run continuous agents.", no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(help="the agent's name")]


def read_spec(path: Path) -> dict[str, Any]:
    data = load_yaml_file(path, "agent spec")
    if not isinstance(data, dict):
        raise ConfigError(f"agent spec {path}: an agent spec is a YAML mapping")
    return data


def schedule(agent: AgentRow) -> str:
    if not agent.continuous:
        return "on demand"
    return f"every {agent.interval_seconds:g}s" + (" (paused)" if agent.paused else "")


@app.command("apply")
@handle_errors
def apply(
    file: Annotated[Path, typer.Argument(help="agent spec YAML", dir_okay=False)],
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Create or update the agent a spec file describes."""
    spec = read_spec(file)
    config = settings()

    async def main() -> AgentRow:
        async with cli_services(config) as services:
            return await services.agents.apply(tenant, spec, spec_dir=file.parent)

    agent = run_async(main())
    console.print(f"agent [bold]{agent.name}[/] applied · {schedule(agent)}")


@app.command("list")
@handle_errors
def list_agents(tenant: TenantOption = DEFAULT_TENANT) -> None:
    """The tenant's agents."""
    config = settings()

    async def main() -> list[AgentRow]:
        async with cli_services(config) as services:
            return await services.agents.list(tenant)

    table = Table(title="agents")
    for column in ("name", "schedule", "running", "next run", "updated"):
        table.add_column(column)
    for agent in run_async(main()):
        table.add_row(agent.name, schedule(agent), (agent.current_task_id or "")[:8],
                      f"{agent.next_run_at:%H:%M:%S}" if agent.next_run_at else "",
                      f"{agent.updated_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)


@app.command("status")
@handle_errors
def status(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Schedule, last runs, failures, queue depth and open alerts of an agent."""
    config = settings()

    async def main() -> AgentStatus:
        async with cli_services(config) as services:
            return await services.agents.status(tenant, name)

    st = run_async(main())
    table = Table(title=f"agent {st.name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    when = "%Y-%m-%d %H:%M:%S"
    rows = [
        ("state", st.state + (" · kill switch on" if st.killswitch else "")),
        ("schedule", f"every {st.interval_seconds:g}s" if st.continuous else "on demand"),
        ("running", st.running_task_id or "—"),
        ("next run", f"{st.next_run_at:{when}}" if st.next_run_at else "—"),
        ("last started", f"{st.last_started_at:{when}}" if st.last_started_at else "—"),
        ("last completed", f"{st.last_completed_at:{when}}" if st.last_completed_at else "—"),
        ("last succeeded", f"{st.last_succeeded_at:{when}}" if st.last_succeeded_at else "—"),
        ("last outcome", st.last_outcome or "—"),
        ("consecutive failures", str(st.consecutive_failures)),
        ("queued tasks", str(st.queue_depth)),
        ("tokens today", f"{st.tokens_today:,}" + (
            f" of {st.daily_token_budget:,}" if st.daily_token_budget else "")),
        ("open alerts", str(st.open_alerts)),
    ]
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)


def _set(name: str, tenant: str, action: str) -> None:
    config = settings()

    async def main() -> None:
        async with cli_services(config) as services:
            await getattr(services.agents, action)(tenant, name)

    run_async(main())
    console.print(f"agent [bold]{name}[/]: {action}d")


@app.command("pause")
@handle_errors
def pause(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Stop scheduling the agent (a running iteration finishes)."""
    _set(name, tenant, "pause")


@app.command("resume")
@handle_errors
def resume(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Schedule the agent again (a missed iteration runs at once)."""
    _set(name, tenant, "resume")


@app.command("delete")
@handle_errors
def delete(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Forget the agent (its tasks stay; a running iteration is canceled)."""
    _set(name, tenant, "delete")


@app.command("alerts")
@handle_errors
def alerts(
    name: Annotated[str | None, typer.Argument(help="only this agent's")] = None,
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Alerts that fired, and how their webhooks went."""
    config = settings()

    async def main() -> list[AlertRow]:
        async with cli_services(config) as services:
            return await services.alerts.list(tenant, name)

    table = Table(title="alerts")
    for column in ("fired", "agent", "kind", "message", "webhook", "resolved"):
        table.add_column(column, overflow="fold" if column == "message" else "ellipsis")
    for alert in run_async(main()):
        hooks = ", ".join(f"{d['state']} ({d['attempts']})" for d in alert.deliveries)
        table.add_row(f"{alert.fired_at:%Y-%m-%d %H:%M:%S}", alert.agent, alert.kind,
                      alert.message, hooks or "—",
                      f"{alert.resolved_at:%H:%M:%S}" if alert.resolved_at else "")
    console.print(table)


if __name__ == "__main__":
    app()
