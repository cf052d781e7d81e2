"""An MCP stdio server for the unknown-outcome tests: `stall` hangs (so the caller times out)
on its first $MCP_TEST_STALLS calls (default 1), then answers at once.

    python stall_server.py

Each call adds one to the counter file `stall-<tag>` under $MCP_TEST_STATE before it hangs
or answers, so a test can count how often the call really ran.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from mcp.server.fastmcp import FastMCP

STATE = Path(os.environ.get("MCP_TEST_STATE", "."))


def build() -> FastMCP:
    server = FastMCP("wakeful-stall-test", log_level="WARNING")

    @server.tool(description="Send `tag`; hangs on the first calls, then answers.")
    async def stall(tag: str) -> str:
        path = STATE / f"stall-{tag}"
        calls = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(calls))
        if calls <= int(os.environ.get("MCP_TEST_STALLS", "1")):
            await asyncio.sleep(3600)
        return f"{tag} sent on call {calls}"

    return server


if __name__ == "__main__":
    build().run("stdio")
