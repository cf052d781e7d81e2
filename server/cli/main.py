"""The `wakeful` command: assembles the sub-commands."""

from __future__ import annotations

import typer

from server.cli import agent, killswitch, memory, serve, task, worker
from server.cli import run as run_commands
from server.cli import tasks as task_commands
from server.cli.eval import eval_app
from server.cli.trace import trace_app

app = typer.Typer(
    name="wakeful",
    help="Always-on autonomous agents as durable LangGraph graphs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(run_commands.run)
app.command("resume")(run_commands.resume)
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.add_typer(task.app, name="task")
app.add_typer(agent.app, name="agent")
app.add_typer(killswitch.app, name="killswitch")
app.add_typer(memory.app, name="memory")
app.add_typer(task_commands.app, name="tasks")
app.add_typer(eval_app, name="eval")
app.add_typer(trace_app, name="trace")

if __name__ == "__main__":
    app()
