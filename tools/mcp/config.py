"""`mcp_servers:` in an agent spec: which MCP servers an agent may use, and how to reach them.

    mcp_servers:
      - name: notes                      # tools become notes.<tool> (notes__<tool> to the model)
        transport: stdio                 # a local process speaking MCP on stdin/stdout
        command: python
        args: [-m, tools.mcp.demo_server]
        env: {NOTES_FILE: "${HOME}/notes.txt"}   # ${VAR}s are read from our environment
        scopes: {read_notes: read}        # per tool; every other tool: `scope` (external)
      - name: search
        transport: http                   # streamable HTTP
        url: https://mcp.example.com/mcp
        headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}
        pin: manual                       # every description needs an operator's approval

A tool's scope comes from here, never from the server: MCP annotations such as
readOnlyHint are the server's claims and are ignored for policy. Policies are set in the
`tools:` section like for any tool (`policies: {notes.add_note: approval}`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.spec import Scope

Transport = Literal["stdio", "http"]
PinMode = Literal["auto", "manual"]
"""auto: trust on first use (the first description seen is approved, any change is not);
manual: every description, the first included, waits for an operator's approval."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# No "_": the first "__" of a model-facing tool name ends the server part.
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")


_OWN_PYTHON = frozenset({"python", "python3"})

class McpServerConfig(BaseModel):
    """One MCP server an agent may use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    transport: Transport
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    scope: Scope = "external"
    scopes: dict[str, Scope] = Field(default_factory=dict)
    pin: PinMode = "auto"
    timeout_s: float = Field(default=30.0, gt=0, description="per tool call")
    connect_timeout_s: float = Field(default=20.0, gt=0, description="to start and initialize")
    max_retries: int = Field(default=2, ge=0, le=10)
    max_output_chars: int = Field(default=8_000, ge=64)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"MCP server name {name!r} must be 1-24 lower-case letters, digits or '-', "
                "starting with a letter or digit: the model sees its tools as "
                "<server>__<tool>, so '_' (and anything a tool name cannot hold) would make "
                "the server part ambiguous"
            )
        return name

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerConfig:
        if self.transport == "stdio" and (not self.command or self.url):
            raise ValueError(f"MCP server {self.name!r}: stdio needs `command` and no `url`")
        if self.transport == "http" and (not self.url or self.command):
            raise ValueError(f"MCP server {self.name!r}: http needs `url` and no `command`")
        return self

    def scope_for(self, tool: str) -> Scope:
        return self.scopes.get(tool, self.scope)

    def adapter_connection(self) -> dict[str, Any]:
        """The langchain-mcp-adapters connection dict (`${VAR}`s in env and headers filled)."""
        if self.transport == "stdio":
            connection: dict[str, Any] = {
                "transport": "stdio",
                # `python` means the interpreter running wakeful (its venv), not PATH's.
                "command": sys.executable if self.command in _OWN_PYTHON else self.command,
                "args": list(self.args),
                "env": _expand(self.env) if self.env is not None else None,
            }
            if self.cwd is not None:
                connection["cwd"] = str(self.cwd)
            return connection
        return {
            "transport": "streamable_http",
            "url": self.url,
            "headers": _expand(self.headers),
            "timeout": self.connect_timeout_s,
            # Reads (a tool's answer among them) may take up to the call's own timeout.
            "sse_read_timeout": max(300.0, self.timeout_s + 30),
        }


def _expand(values: dict[str, str]) -> dict[str, str]:
    """`${VAR}` replaced by the variable's value (left as is when unset)."""
    return {
        key: _VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)
        for key, value in values.items()
    }
