"""Where a stdio MCP server's stderr goes.

By default a stdio server's stderr is ours (the MCP SDK's choice), so its log lines land in
the middle of the CLI's live view. A command can send them to files instead, one per
server, `<directory>/mcp-<server>.log`; the CLI does (under the data dir's `logs/`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langchain_mcp_adapters.sessions import create_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tools.mcp.config import McpServerConfig

_directory: Path | None = None


def route_stderr_to(directory: Path | None) -> None:
    """Send stdio servers' stderr to files in `directory` from now on (None: ours)."""
    global _directory
    _directory = directory


def stderr_log(server: str) -> Path | None:
    """The file a stdio server's stderr goes to, or None when it is inherited."""
    return None if _directory is None else _directory / f"mcp-{server}.log"


@asynccontextmanager
async def open_session(config: McpServerConfig) -> AsyncIterator[ClientSession]:
    """A session to the server (not yet initialized), its stderr routed as set."""
    connection = config.adapter_connection()
    log_path = stderr_log(config.name) if config.transport == "stdio" else None
    if log_path is None:
        async with create_session(connection) as session:  # type: ignore[arg-type]
            yield session
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(
        command=connection["command"], args=connection["args"], env=connection["env"],
        cwd=connection.get("cwd"),
    )  # fmt: skip
    with log_path.open("a", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            yield session
