"""`wakeful scheduler`: start iterations of continuous agents and run the maintenance queue
(stalled-run check, orphan re-dispatch, retention), but no task runs.

The scheduler role of a split deployment: `wakeful serve --no-worker` for the API, any
number of `wakeful worker --no-scheduler` for task runs, and one or more of this. Several
schedulers on one Postgres are safe (starting an iteration is one conditional update of the
agent row), one is enough.

    python -m server.cli.scheduler          # the same without the `wakeful` entry point
"""

from __future__ import annotations

from typing import Annotated

import typer

from server.cli.common import handle_errors, settings
from server.cli.worker import StalledAfterOption, StalledCheckOption, run_worker_process
from server.runtime.worker import WorkerOptions, default_name


@handle_errors
def scheduler(
    name: Annotated[str | None, typer.Option(help="process name in logs")] = None,
    stalled_after_seconds: StalledAfterOption = 30.0,
    stalled_check_seconds: StalledCheckOption = 10,
) -> None:
    """Schedule continuous agents and run maintenance; runs no tasks (Ctrl-C / SIGTERM)."""
    config = settings()
    options = WorkerOptions(tasks=False, scheduler=True, name=name or default_name(),
                            stalled_after_seconds=stalled_after_seconds)

    run_worker_process(config, options, stalled_check_seconds, "scheduler",
                       "scheduling continuous agents, running maintenance, no tasks")


if __name__ == "__main__":
    typer.run(scheduler)
