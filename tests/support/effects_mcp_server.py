"""An MCP stdio server with one side-effecting tool whose every effect is logged, for the
chaos benchmark (benchmarks/chaos.py) and its small version in the tests.

    python effects_mcp_server.py

`record_effect(ref, step)` sleeps a little (a window for kills mid-tool), appends one JSON
line {"ref", "step", "pid", "at"} to $EFFECTS_LOG (flock + fsync: the line is on disk
before the call returns, and a kill after it cannot unmake it), sleeps a little more, and
returns. $EFFECTS_SLEEP is "before,after": the longest of each random sleep, in seconds.

The tool makes no claim about its scope: the agent spec declares it `write`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import time

from mcp.server.fastmcp import FastMCP

LOG = os.environ.get("EFFECTS_LOG", "effects.jsonl")
BEFORE, AFTER = (float(x) for x in os.environ.get("EFFECTS_SLEEP", "0.5,0.3").split(","))


def append_effect(ref: str, step: int) -> None:
    line = json.dumps({"ref": ref, "step": step, "pid": os.getpid(), "at": time.time()})
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def build() -> FastMCP:
    server = FastMCP("wakeful-effects", log_level="WARNING")

    @server.tool(description="Record effect `step` of the job `ref` (once per call).")
    async def record_effect(ref: str, step: int) -> str:
        await asyncio.sleep(random.uniform(0, BEFORE))
        append_effect(ref, step)
        await asyncio.sleep(random.uniform(0, AFTER))
        return f"effect {ref}/{step} recorded"

    return server


if __name__ == "__main__":
    build().run("stdio")
