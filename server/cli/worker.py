"""`wakeful worker`: run task jobs (and the scheduler of continuous agents) in this process.

Start as many as you like, on one machine or several, against the same Postgres. Ctrl-C or
SIGTERM stops taking new work, lets running tasks finish for a few seconds, then leaves the
rest to resume on another worker from their last checkpoint.

    python -m server.cli.worker --concurrency 4     # the same without the `wakeful` entry point
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import sys
from typing import Annotated, NoReturn

import typer

from server.cli.common import err_console, handle_errors, run_async, settings
from server.runtime.worker import Worker, WorkerOptions, default_name
from server.services import open_services
from stack.settings import Settings


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def exit_now(code: int) -> NoReturn:
    """Exit once everything is closed, without the interpreter tearing down every loaded
    module (seconds with torch loaded on a busy machine, most of a stop's time). Exit hooks
    still run: embedded services are let go of, logs flushed."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


# Shared by every command that runs a worker (worker, serve, scheduler): one meaning each.
HeartbeatOption = Annotated[
    float, typer.Option(min=0.1, help="how often this process's worker says it is alive")
]
StalledAfterOption = Annotated[
    float, typer.Option(min=0.5, help="a worker silent this long is dead: its runs resume "
                        "(use the same value in every process on the database)")
]
StalledCheckOption = Annotated[
    int, typer.Option(min=1, max=59, help="how often to look for runs of dead workers")
]


@handle_errors
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="tasks run at once")] = 4,
    name: Annotated[str | None, typer.Option(help="worker name in logs and events")] = None,
    scheduler: Annotated[
        bool, typer.Option(help="also start iterations of continuous agents")
    ] = True,
    heartbeat_seconds: HeartbeatOption = 10.0,
    stalled_after_seconds: StalledAfterOption = 30.0,
    stalled_check_seconds: StalledCheckOption = 10,
    shutdown_grace_seconds: Annotated[
        float, typer.Option(min=0, help="on stop, how long running tasks may finish")
    ] = 5.0,
) -> None:
    """Run tasks from the queue until stopped (Ctrl-C / SIGTERM)."""
    config = settings()
    options = WorkerOptions(
        concurrency=concurrency,
        heartbeat_seconds=heartbeat_seconds,
        stalled_after_seconds=stalled_after_seconds,
        shutdown_grace_seconds=shutdown_grace_seconds,
        scheduler=scheduler,
        name=name or default_name(),
    )

    doing = f"{concurrency} at a time" + (", scheduling continuous agents" if scheduler else "")
    run_worker_process(config, options, stalled_check_seconds, "worker", doing)


def run_worker_process(
    config: Settings, options: WorkerOptions, stalled_check_seconds: int, role: str, doing: str
) -> NoReturn:
    """Open the services, run a Worker with `options` until SIGINT/SIGTERM, exit."""

    async def main() -> None:
        services = await open_services(config, stalled_check_seconds=stalled_check_seconds)
        try:
            stop = asyncio.Event()
            install_stop_handlers(stop)
            err_console.print(f"{role} {options.name}: {doing}")
            await Worker(services, options).run(stop)
        finally:
            await services.close()
        err_console.print(f"{role} {options.name}: stopped")

    run_async(main())
    exit_now(0)


if __name__ == "__main__":
    from server.cli.worker_process import tie_to_serve

    tie_to_serve()
    typer.run(worker)
