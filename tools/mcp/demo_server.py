"""A small MCP server (FastMCP) for agents/mcp-demo.yaml: a notebook kept in one file.

    python -m tools.mcp.demo_server            # stdio
    python -m tools.mcp.demo_server http 8765  # streamable HTTP on 127.0.0.1:8765/mcp

Notes go to $WAKEFUL_NOTES_FILE (default: .wakeful/notes.txt under the working directory).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from mcp.server.fastmcp import FastMCP


def notes_file() -> Path:
    return Path(os.environ.get("WAKEFUL_NOTES_FILE", ".wakeful/notes.txt"))


def build(port: int = 8765) -> FastMCP:
    server = FastMCP("wakeful-notes", port=port, log_level="WARNING")

    @server.tool(description="Append one note (a line of text) to the notebook.")
    def add_note(text: str) -> str:
        line = " ".join(text.split())
        if not line:
            raise ValueError("the note is empty")
        path = notes_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}\n")
        return f"noted ({path})"

    @server.tool(description="Return the most recent notes, newest last.")
    def list_notes(limit: int = 20) -> str:
        path = notes_file()
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return "\n".join(lines[-max(1, min(limit, 200)) :]) or "(no notes yet)"

    @server.tool(description="Count the words in a text.")
    def word_count(text: str) -> int:
        return len(text.split())

    return server


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        build(int(sys.argv[2])).run("streamable-http")
    else:
        build().run("stdio")
