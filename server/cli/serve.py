"""`wakeful serve`: the HTTP API, a worker and the scheduler, with a live activity view on
the terminal. With `--worker-process` (the default when QDRANT_URL is set) the worker
(tasks, the scheduler, maintenance) runs in a child process (server/cli/worker_process.py),
so requests are answered by a process that runs no task; `--worker-in-process` (the default
with Qdrant's local mode, which one process only may open: the console's memory page then
shows the episodes the runs write) keeps it all in one process and one event loop.

    wakeful serve --agent agents/host-monitor.yaml --iterations 1 --approve auto

applies the agent as a continuous agent (a spec without an `autonomous:` section gets its
own goal and `--interval`), serves until Ctrl-C — or, with `--iterations N`, until N of its
iterations ended (exit 0 when all completed, 1 otherwise; the agent is then paused, so a
later start does not run it unasked). `--approve auto` answers its approval requests with
"approve" (say, writing its report); by default they wait for a person (`wakeful task
approve`, the API or the console), and a waiting iteration holds back the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from graphs.approval import ApprovalDecision
from server.cli.agent import read_spec
from server.cli.common import console, err_console, handle_errors, run_async, settings
from server.cli.task import event_line, styled
from server.cli.worker import (
    HeartbeatOption,
    StalledAfterOption,
    exit_now,
    install_stop_handlers,
)
from server.cli.worker_process import WorkerProcess
from server.runtime.database_health import is_outage
from server.runtime.listener import EVENTS
from server.runtime.worker import Worker, WorkerOptions
from server.services import AgentRow, Services, open_services
from server.services.auth import LOCAL_TENANT
from stack.errors import ConfigError, ServiceUnavailable
from stack.settings import Settings

_ACTIVE_TASKS = """
SELECT id, tenant, agent, state, stop_reason, iteration_of, last_seq, ended_at FROM tasks
WHERE state NOT IN ('completed', 'failed', 'canceled', 'rejected') OR ended_at >= %(since)s
ORDER BY created_at
"""
STOP_HTTP_SECONDS = 1  # on stop, open HTTP requests (SSE streams too) get this long
_OVERLAP = timedelta(seconds=5)  # tasks that ended this long before the last look, again
_ENDED_ITERATIONS = """
SELECT id FROM tasks
WHERE iteration_of = ANY(%(agents)s) AND created_at >= %(since)s
  AND state IN ('completed', 'failed', 'canceled', 'rejected')
ORDER BY ended_at
"""

_ITERATIONS = """
SELECT count(*) FILTER (WHERE state IN ('completed', 'failed', 'canceled', 'rejected')) AS ended,
       count(*) FILTER (WHERE state = 'completed') AS completed
FROM tasks WHERE iteration_of = ANY(%(agents)s) AND created_at >= %(since)s
"""


class ApproveMode(StrEnum):
    wait = "wait"
    auto = "auto"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def continuous_spec(path: Path, interval: float) -> dict[str, Any]:
    spec = read_spec(path)
    if spec.get("autonomous") is None:
        if not spec.get("goal"):
            raise ConfigError(f"{path}: a continuous agent needs `goal:` or `autonomous.goal`")
        spec["autonomous"] = {"goal": spec["goal"], "interval_seconds": interval}
    return spec


class Activity:
    """Prints what every task does as it happens; answers approvals with --approve auto and
    counts the applied agents' iterations for --iterations."""

    def __init__(
        self,
        services: Services,
        agents: list[AgentRow],
        *,
        since: datetime,
        approve: ApproveMode,
        iterations: int | None,
        show: bool = True,
    ) -> None:
        self.services = services
        self.show = show
        self.agents = agents
        self.since = since
        self.approve = approve
        self.iterations = iterations
        self.printed: dict[str, int] = {}
        self.answered: set[str] = set()
        self.looked = since
        self.wake = asyncio.Event()
        if show:  # new events wake the view; otherwise a look every second is enough
            services.listener.subscribe(EVENTS, lambda _payload: self.wake.set())

    async def run(self, stop: asyncio.Event) -> int | None:
        """Until `stop`; returns an exit code once --iterations is reached. While the database
        does not answer, it waits (the worker logs the outage) and then carries on."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.refresh()
                code = await self.finished()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.services.database.suspect()
                await self.services.database.wait_until_up(stop)
                continue
            if code is not None:
                return code
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._either(stop), timeout=1.0)
            await asyncio.sleep(0.1)  # at most ten looks a second, however busy
        return None

    async def _either(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def refresh(self) -> None:
        now = datetime.now(UTC)
        async with self.services.engine.pool.connection() as conn:
            cur = await conn.execute(_ACTIVE_TASKS, {"since": self.looked - _OVERLAP})
            tasks = await cur.fetchall()
        self.looked = now
        self.printed = {t["id"]: self.printed.get(t["id"], 0) for t in tasks}
        for task in tasks:
            seen = self.printed.get(task["id"], 0)
            if self.show and task["last_seq"] > seen:
                await self._print(task, seen)
            if task["state"] == "input-required":
                await self._answer(task)

    async def _print(self, task: dict[str, Any], after: int) -> None:
        events = await self.services.engine.records.list_events(task["id"], after=after)
        prefix = f"[dim]{task['agent']} {task['id'][:8]}[/] "
        for event in events:
            console.print(event_line(event, prefix=prefix), highlight=False)
            self.printed[task["id"]] = event.seq

    async def _answer(self, task: dict[str, Any]) -> None:
        mine = task["iteration_of"] in {a.id for a in self.agents}
        if self.approve is not ApproveMode.auto or not mine or task["id"] in self.answered:
            return
        self.answered.add(task["id"])
        decision = ApprovalDecision(action="approve", decided_by="serve --approve auto")
        await self.services.tasks.decide(task["tenant"], task["id"], decision)

    async def finished(self) -> int | None:
        if self.iterations is None or not self.agents:
            return None
        params = {"agents": [a.id for a in self.agents], "since": self.since}
        async with self.services.engine.pool.connection() as conn:
            row = await (await conn.execute(_ITERATIONS, params)).fetchone()
        assert row is not None
        if row["ended"] < self.iterations:
            return None
        await self.refresh()
        word = styled("completed") if row["completed"] == row["ended"] else styled("failed")
        console.rule(f"{row['ended']} iteration(s) ended · {row['completed']} completed · {word}")
        return 0 if row["completed"] == row["ended"] else 1


def listen(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything starts: a taken port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a response's second write waits for the client's delayed ACK (~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use on {host}; choose another with "
                              "--port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); check --host "
                          "and --port") from None
    sock.set_inheritable(True)
    return sock


async def _start_api(services: Services, sock: socket.socket) -> tuple[_Server, asyncio.Task]:
    from server.api.app import create_app

    server = _Server(uvicorn.Config(create_app(services), log_level="warning", lifespan="on",
                                    timeout_graceful_shutdown=STOP_HTTP_SECONDS))
    serving = asyncio.create_task(_serve_http(server, sock))
    while not server.started:
        if serving.done():
            serving.result()  # raises why it did not start
        await asyncio.sleep(0.02)
    return server, serving


async def _serve_http(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn exits the process when its startup fails
        raise ServiceUnavailable("the HTTP API did not start (see the lines above)") from None


@dataclass(frozen=True)
class ServeOptions:
    concurrency: int
    iterations: int | None
    approve: ApproveMode
    view: bool | None
    print_report: bool
    shutdown_grace_seconds: float
    worker: bool = True
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 30.0
    worker_process: bool | None = None  # None: a child process when QDRANT_URL is set


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address of the HTTP API")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port of the HTTP API")] = 8080,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="tasks run at once")] = 4,
    agent: Annotated[
        list[Path] | None,
        typer.Option("--agent", "-a", dir_okay=False, help="run this spec as a continuous agent"),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.1, help="seconds between iterations, for a spec without one")
    ] = 60.0,
    iterations: Annotated[
        int | None, typer.Option(min=1, help="exit after this many iterations of --agent ended")
    ] = None,
    approve: Annotated[
        ApproveMode, typer.Option(help="answer the --agent iterations' approvals: wait | auto")
    ] = ApproveMode.wait,
    view: Annotated[
        bool | None,
        typer.Option("--view/--no-view", help="print every task's events (default: on a terminal)"),
    ] = None,
    print_report: Annotated[
        bool,
        typer.Option("--print-report", help="with --iterations: print each iteration's result "
                     "and the report it wrote"),
    ] = False,
    shutdown_grace_seconds: Annotated[
        float, typer.Option(min=0, help="on stop, how long running tasks may finish before "
                            "they are left to resume from their last step on the next start")
    ] = 1.0,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="also run tasks and schedule continuous "
                           "agents here (--no-worker: the HTTP API only, for `wakeful worker` and "
                           "`wakeful scheduler` processes elsewhere)")
    ] = True,
    heartbeat_seconds: HeartbeatOption = 10.0,
    stalled_after_seconds: StalledAfterOption = 30.0,
    worker_process: Annotated[
        bool | None, typer.Option(
            "--worker-process/--worker-in-process", show_default="a child process when "
            "QDRANT_URL is set", help="run the worker in a child process, so runs do not slow "
            "the API down (its life is tied to serve's; the console then cannot browse a "
            "local-mode Qdrant); --worker-in-process: one process, one event loop")
    ] = None,
) -> None:
    """Serve the API, run tasks and schedule continuous agents, with a live activity view."""
    if iterations is not None and not agent:
        raise ConfigError("--iterations counts iterations of --agent; give an --agent")
    specs = [(path, continuous_spec(path, interval)) for path in agent or []]
    config = settings()
    sock = listen(host, port)  # before the stack starts: a taken port fails at once
    options = ServeOptions(concurrency, iterations, approve, view, print_report,
                           shutdown_grace_seconds, worker, heartbeat_seconds,
                           stalled_after_seconds, worker_process)
    worker_options(options)  # refuse a bad pair before the stack starts
    exit_now(run_async(_main(config, specs, sock, options)))


def worker_options(options: ServeOptions) -> WorkerOptions:
    return WorkerOptions(
        concurrency=options.concurrency,
        shutdown_grace_seconds=options.shutdown_grace_seconds,
        heartbeat_seconds=options.heartbeat_seconds,
        stalled_after_seconds=options.stalled_after_seconds,
    )


async def _main(
    config: Settings, specs: list[tuple[Path, dict[str, Any]]], sock: socket.socket,
    options: ServeOptions,
) -> int:
    with err_console.status("starting the embedded stack…"):
        services = await open_services(config)
    try:
        applied = await _apply(services, specs)
        return await _serve(services, config, applied, sock, options)
    finally:
        await services.close()


async def _apply(services: Services, specs: list[tuple[Path, dict[str, Any]]]) -> list[AgentRow]:
    applied = []
    for path, spec in specs:
        await services.agents.apply(LOCAL_TENANT, spec, spec_dir=path.parent)
        applied.append(await services.agents.resume(LOCAL_TENANT, spec["name"]))
    return applied


async def _serve(
    services: Services, config: Settings, applied: list[AgentRow], sock: socket.socket,
    options: ServeOptions,
) -> int:
    token_file = await services.auth.ensure_local_admin(config.data_dir)
    since = datetime.now(UTC)
    stop = asyncio.Event()
    install_stop_handlers(stop)
    child = None
    in_child = options.worker_process if options.worker_process is not None \
        else bool(config.qdrant_url)
    if options.worker and in_child:
        await _leave_local_qdrant_to_the_worker(services, config)
        child = WorkerProcess(worker_options(options))
    server, serving = await _start_api(services, sock)
    if child is not None:
        await child.start()
        worker = asyncio.create_task(_run_child(services, child, stop))
    else:
        worker = asyncio.create_task(Worker(services, worker_options(options)).run(stop)
                                     if options.worker else services.database.run(stop))
    host, port = sock.getsockname()[:2]
    _banner(f"http://{host}:{port}", token_file, options.concurrency if options.worker else 0,
            applied, child.pid if child is not None else None)
    show = console.is_terminal if options.view is None else options.view
    activity = Activity(services, applied, since=since, approve=options.approve,
                        iterations=options.iterations, show=show)
    try:
        code = await activity.run(stop)
    finally:
        stop.set()
        server.should_exit = True
        ended = await asyncio.gather(worker, serving, return_exceptions=True)
    _raise_failure(ended)
    if code is not None:
        await _after_iterations(services, applied, since, print_report=options.print_report)
    return 0 if code is None else code


async def _run_child(services: Services, child: WorkerProcess, stop: asyncio.Event) -> None:
    """Watch the database (as --no-worker does) and the worker process until `stop`, then
    stop the child; the child exiting by itself stops serve with an error."""
    watch = asyncio.create_task(services.database.run(stop))
    exited = asyncio.create_task(child.wait())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        if exited.done() and not stop.is_set():
            raise ServiceUnavailable(
                f"the worker process (pid {child.pid}) exited with code {exited.result()}; "
                "serve stops (its lines above say why)"
            )
    finally:
        stop.set()
        stopping.cancel()
        await child.stop()
        exited.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


async def _leave_local_qdrant_to_the_worker(services: Services, config: Settings) -> None:
    """Qdrant's local mode serves one process, and the worker process's runs need it: this
    process (the console's memory page) never opens it, and says why instead."""
    if config.qdrant_url:
        return
    stores = await services.engine.memory(episodic=False, knowledge=False)
    stores.problems.setdefault(
        "episodic",
        f"episodic memory (Qdrant local mode, {config.data_dir / 'qdrant'}) is open in serve's "
        "worker process, and local mode serves one process; to browse episodes here, set "
        "QDRANT_URL to a Qdrant server or run `wakeful serve --worker-in-process`",
    )


def _raise_failure(ended: list[Any]) -> None:
    """The worker or the HTTP API stopped on an error (not on our stop): exit non-zero."""
    for result in ended:
        if isinstance(result, Exception):
            raise result


async def _after_iterations(
    services: Services, applied: list[AgentRow], since: datetime, *, print_report: bool
) -> None:
    if print_report:
        await _print_iterations(services, applied, since)
    for agent_row in applied:
        await services.agents.pause(LOCAL_TENANT, agent_row.name)
        console.print(f"paused {agent_row.name} (resume: wakeful agent resume {agent_row.name})")


async def _print_iterations(
    services: Services, agents: list[AgentRow], since: datetime
) -> None:
    """Each ended iteration as `wakeful run` prints a task: state, usage, output, report."""
    from graphs.runner import RunResult
    from server.cli.run import print_result

    params = {"agents": [a.id for a in agents], "since": since}
    async with services.engine.pool.connection() as conn:
        rows = await (await conn.execute(_ENDED_ITERATIONS, params)).fetchall()
    for row in rows:
        task = await services.engine.records.get_task(row["id"])
        print_result(RunResult(task), print_report=True)


def models_label(agent: AgentRow) -> str:
    from graphs.models import build_models
    from graphs.spec import AgentSpec
    from stack.settings import load_settings

    described = build_models(AgentSpec.model_validate(agent.spec), load_settings()).describe()
    labels = sorted(set(described.values()))
    if labels == ["scripted"]:
        return "scripted (no LLM; deterministic demo responses)"
    return ", ".join(f"{role}={label}" for role, label in described.items())


def _banner(
    url: str, token_file: Path, concurrency: int, agents: list[AgentRow], worker_pid: int | None
) -> None:
    console.rule("[bold]wakeful")
    console.print(f"API        {url}   (docs {url}/docs · A2A card "
                  f"{url}/.well-known/agent-card.json)")
    console.print(f"token      {token_file}   (admin of tenant {LOCAL_TENANT}: "
                  f"curl -H \"Authorization: Bearer $(cat {token_file})\" {url}/tasks)")
    where = f", in worker process {worker_pid}" if worker_pid is not None else ""
    console.print(f"workers    {concurrency} task(s) at a time{where}" if concurrency else
                  "workers    none here (--no-worker: tasks run in `wakeful worker` processes)")
    for agent in agents:
        console.print(f"agent      {agent.name}, every {agent.interval_seconds:g}s (continuous) · "
                      f"model {models_label(agent)}")
    console.print("Ctrl-C stops; unfinished tasks resume from their last step on the next start.")
    console.rule()


if __name__ == "__main__":
    typer.run(serve)
