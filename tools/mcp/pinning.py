"""Pinning MCP tools: a tool's description and input schema are trusted only once approved.

A server can change what its tools say at any time, and the model reads descriptions as
instructions. So each discovered tool is identified by a digest of its name, description
and input schema (`tool_digest`), recorded in Postgres (tool_pins), and usable only when
that digest was approved. A changed description or schema is a new digest: the tool is
denied (policy source "pin:unapproved") until approved again.

Who approves:
- `pin: auto` in the server's config (the default) trusts on first use: the first digest
  ever seen for a tool is approved by "pin:auto-first-use"; later changes wait for a person.
- `pin: manual`: every digest waits for a person.
- A person approves with `PinStore.approve(...)` (who and when are recorded), from the
  command line, on the same settings as every other command (embedded database included):

      wakeful tool pins list --pending
      wakeful tool pins approve SERVER TOOL DIGEST --by alice

Approvals hold for the server name across agents, and an approved digest stays approved
(a server switching back to an approved description is trusted again).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from mcp.types import Tool as MCPTool
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict

from stack.errors import ConfigError, NotFound
from stack.sql import load_queries
from tools.mcp.config import PinMode

AUTO_APPROVER = "pin:auto-first-use"
_QUERIES = Path(__file__).with_suffix(".sql")


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


def tool_digest(tool: MCPTool) -> str:
    """sha256 of the tool's name, description and input schema as canonical JSON."""
    pinned = {"name": tool.name, "description": tool.description or "", "input": tool.inputSchema}
    canonical = json.dumps(pinned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Pin(BaseModel):
    """One recorded (server, tool, digest) and who approved it, if anyone."""

    model_config = ConfigDict(frozen=True)

    server: str
    tool: str
    digest: str
    description: str
    input_schema: dict[str, Any]
    first_seen_at: datetime
    approved_by: str | None
    approved_at: datetime | None

    @property
    def approved(self) -> bool:
        return self.approved_at is not None


class PinStore:
    """Pins in Postgres (table tool_pins), over a psycopg AsyncConnectionPool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def check(self, server: str, tool: MCPTool, *, mode: PinMode) -> Pin:
        """Record the tool's current digest (first use approves it in auto mode); its pin."""
        digest = tool_digest(tool)
        key = {"server": server, "tool": tool.name, "digest": digest}
        async with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_q("lock_tool"), key)  # one first use per tool, even in a race
            await cur.execute(_q("tool_seen"), key)
            seen = (await cur.fetchone() or {}).get("seen", False)
            approver = AUTO_APPROVER if mode == "auto" and not seen else None
            params = {
                **key,
                "description": tool.description or "",
                "input_schema": Jsonb(tool.inputSchema),
                "approved_by": approver,
            }
            await cur.execute(_q("insert_pin"), params)
            await cur.execute(_q("get_pin"), key)
            row = await cur.fetchone()
        return Pin.model_validate(row)

    async def approve(self, server: str, tool: str, digest: str, *, approved_by: str) -> Pin:
        """Approve a recorded digest as `approved_by` (an earlier approval is kept)."""
        if not approved_by.strip():
            raise ConfigError("say who approves: approved_by is empty")
        key = {"server": server, "tool": tool, "digest": digest}
        async with self._pool.connection() as conn:
            await conn.execute(_q("approve_pin"), {**key, "approved_by": approved_by})
        pin = await self.get(server, tool, digest)
        if pin is None:
            raise NotFound(
                f"no pin {digest!r} for MCP tool {server}.{tool}; list them with "
                "`wakeful tool pins list`"
            )
        return pin

    async def get(self, server: str, tool: str, digest: str) -> Pin | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_q("get_pin"), {"server": server, "tool": tool, "digest": digest})
            row = await cur.fetchone()
        return Pin.model_validate(row) if row else None

    async def list(self, *, server: str | None = None, pending: bool = False) -> list[Pin]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_q("list_pins"), {"server": server, "pending": pending})
            rows = await cur.fetchall()
        return [Pin.model_validate(row) for row in rows]
