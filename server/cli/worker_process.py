"""`wakeful serve`'s worker as a child process (`wakeful worker`): the serve process answers
HTTP requests only, the child runs tasks, the scheduler and maintenance, so runs and
requests no longer share one event loop and one GIL.

The child's life is tied to serve's: it is started with serve's environment (same database,
data dir and settings) and its output goes where serve's goes; it is told to stop
(SIGTERM: running tasks get the shutdown grace, then resume on the next start) when serve
stops; the kernel sends it SIGTERM when serve dies without stopping it (SIGKILL, OOM); and
when the child exits on its own, serve stops too, with a non-zero exit, so whatever
supervises serve sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys

from server.runtime.worker import WorkerOptions

PR_SET_PDEATHSIG = 1
PARENT_ENV = "WAKEFUL_SERVE_PID"  # set for the child: whose death it follows
NICENESS = 10  # the child yields the CPU to the API process (and to Postgres) when both want it
STOP_MARGIN_S = 15.0  # beyond the shutdown grace, for the child to close its services


def tie_to_serve() -> None:
    """In the child, first thing: nice itself and ask the kernel for SIGTERM when serve
    dies (Linux), then make sure serve did not die before the tie was made. Done here, not
    between fork and exec (`preexec_fn` is unsafe once serve has threads). The death signal
    follows the thread that forked, which is serve's main thread (its event loop's)."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None:
        return  # not started by serve
    os.nice(NICENESS)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: it outlives a killed serve
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):
        os._exit(1)


def worker_command(options: WorkerOptions) -> list[str]:
    return [
        sys.executable, "-m", "server.cli.worker",
        "--concurrency", str(options.concurrency),
        "--name", options.name,
        "--heartbeat-seconds", repr(options.heartbeat_seconds),
        "--stalled-after-seconds", repr(options.stalled_after_seconds),
        "--shutdown-grace-seconds", repr(options.shutdown_grace_seconds),
        "--scheduler" if options.scheduler else "--no-scheduler",
    ]


class WorkerProcess:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *worker_command(self.options),
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )

    async def wait(self) -> int:
        """Until the child exits; its exit code (negative: the signal that ended it)."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited after the grace and a margin."""
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.options.shutdown_grace_seconds + STOP_MARGIN_S):
                return await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()
