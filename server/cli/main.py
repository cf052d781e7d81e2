"""The `wakeful` command: assembles the sub-commands, importing each only when it runs.

A sub-command's module pulls in LangGraph, the server and the stores (seconds of imports);
`wakeful --help` lists the commands from the table below without importing any of them.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup


class Entry(NamedTuple):
    module: str
    attribute: str  # a Typer app (a command group) or a command function
    summary: str  # the line `wakeful --help` shows; tests check it matches the command's own


COMMANDS: dict[str, Entry] = {
    "run": Entry("server.cli.run", "run",
                 "Run one task in the foreground with a live view of nodes, tools and budgets."),
    "resume": Entry("server.cli.run", "resume",
                    "Continue a task from its last checkpoint (after Ctrl-C, a crash, or an "
                    "approval)."),
    "serve": Entry("server.cli.serve", "serve",
                   "Serve the API, run tasks and schedule continuous agents, with a live "
                   "activity view."),
    "worker": Entry("server.cli.worker", "worker",
                    "Run tasks from the queue until stopped (Ctrl-C / SIGTERM)."),
    "scheduler": Entry("server.cli.scheduler", "scheduler", "Schedule continuous agents and "
                       "run maintenance; runs no tasks (Ctrl-C / SIGTERM)."),
    "task": Entry("server.cli.task", "app", "Send tasks, follow them, answer their approvals."),
    "agent": Entry("server.cli.agent", "app", "Apply agent specs and run continuous agents."),
    "killswitch": Entry("server.cli.killswitch", "app", "Kill switches: global, or a tenant's."),
    "db": Entry("server.cli.db", "app", "The database: its size, and retention."),
    "tenant": Entry("server.cli.tenant", "app", "Tenants: who owns tasks, agents and tokens."),
    "token": Entry("server.cli.token", "app", "API tokens: a tenant and a role each."),
    "memory": Entry("server.cli.memory", "app", "Inspect and prune an agent's memory."),
    "tool": Entry("server.cli.tool", "app", "MCP tools: approve the descriptions they pin."),
    "eval": Entry("server.cli.eval", "eval_app", "Evaluate agents: run datasets, judge traces."),
    "trace": Entry("server.cli.trace", "trace_app",
                   "Export task traces for offline evaluation."),
}
HIDDEN_ALIASES = {"tasks": "task"}  # the old name of the task group


def load_command(name: str) -> _click.Command | None:
    """The real click command for `name` (importing its module), or None if unknown."""
    entry = COMMANDS.get(HIDDEN_ALIASES.get(name, name))
    if entry is None:
        return None
    target: Any = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command: _click.Command = typer.main.get_group(target)  # as add_typer would
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    command.hidden = name in HIDDEN_ALIASES
    return command


class LazyGroup(TyperGroup):
    """A group whose sub-commands are imported on use; its help needs none of them."""

    _outline = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*COMMANDS, *HIDDEN_ALIASES]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if self._outline:
            entry = COMMANDS.get(HIDDEN_ALIASES.get(cmd_name, cmd_name))
            if entry is None:
                return None
            return TyperCommand(name=cmd_name, help=entry.summary, short_help=entry.summary,
                                hidden=cmd_name in HIDDEN_ALIASES)
        return load_command(cmd_name)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._outline = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._outline = False


app = typer.Typer(
    name="wakeful",
    cls=LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def wakeful() -> None:
    """Always-on autonomous agents as durable LangGraph graphs."""


if __name__ == "__main__":
    app()
