"""An MCP stdio server for parallel plan steps: a slow side-effecting step and a meeting
point, for tests/graphs/test_parallel_steps.py and benchmarks/parallel_steps.py.

    python steps_mcp_server.py

`slow_step(name, seconds)` sleeps `seconds`, then appends one JSON line {"name", "pid",
"at"} to $STEPS_LOG (flock + fsync) and returns. `meet(group, parties)` returns once
`parties` calls of the same group are in flight at the same time — proof that they run
concurrently — or fails after $MEET_TIMEOUT seconds (30) saying how many came.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from mcp.server.fastmcp import FastMCP

LOG = os.environ.get("STEPS_LOG", "steps.jsonl")
MEET_TIMEOUT = float(os.environ.get("MEET_TIMEOUT", "30"))


def append_line(name: str) -> None:
    record = {"name": name, "pid": os.getpid(), "at": time.time()}
    with open(LOG, "a", encoding="utf-8") as log:  # closing releases the lock
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(json.dumps(record) + "\n")
        log.flush()
        os.fsync(log.fileno())


def server_config(log: Path, scopes: dict[str, str]) -> dict[str, Any]:
    """This server as an agent spec's `mcp_servers` entry, named `st`, logging to `log`."""
    return {
        "name": "st",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(Path(__file__).resolve())],
        "env": {"STEPS_LOG": str(log)},
        "scopes": scopes,
        "timeout_s": 120,
        "connect_timeout_s": 60,
    }


def build() -> FastMCP:
    server = FastMCP("wakeful-steps", log_level="WARNING")
    arrived: dict[str, int] = defaultdict(int)
    changed = asyncio.Condition()

    @server.tool(description="Do the slow step `name` (once per call).")
    async def slow_step(name: str, seconds: float = 0.5) -> str:
        await asyncio.sleep(seconds)
        append_line(name)
        return f"step {name} done"

    @server.tool(description="Wait until `parties` callers of `group` are here together.")
    async def meet(group: str, parties: int = 2) -> str:
        async with changed:
            arrived[group] += 1
            changed.notify_all()
            try:
                await asyncio.wait_for(
                    changed.wait_for(lambda: arrived[group] >= parties), MEET_TIMEOUT
                )
            except TimeoutError:
                raise RuntimeError(f"only {arrived[group]} of {parties} came to {group}") from None
        return f"met {parties} at {group}"

    return server


if __name__ == "__main__":
    build().run("stdio")
