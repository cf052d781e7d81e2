"""An agent's MCP servers: started together, their tools discovered, pinned and wrapped.

    async with await McpToolbox.open(spec.mcp_servers, pins=PinStore(pool)) as toolbox:
        toolset = toolbox.toolset(build_builtin_registry(...), spec.tools, continuous=False)
        ...  # run the agent; MCP tools are called through their sessions
    # leaving the block closes every session (stdio servers are terminated)

Each MCP tool becomes a RegisteredTool named `server__tool` (the model-facing name; the
spec says `server.tool`), with the scope from the server's config (never from the server's
annotations), its timeout, retries and output limit. Tools are converted by
langchain-mcp-adapters; their calls go through the toolbox's `McpConnection`s (an
interceptor replaces the adapter's per-call session), so a crashed server is restarted;
the interceptor also makes the result fit for the model first (tools/mcp/content.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from langchain_mcp_adapters.interceptors import MCPToolCallRequest
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from mcp.types import Tool as MCPTool

from stack.errors import ConfigError, WakefulError
from tools.mcp.config import McpServerConfig
from tools.mcp.connection import McpConnection
from tools.mcp.content import normalised
from tools.mcp.pinning import AUTO_APPROVER, PinStore, tool_digest
from tools.policy import MAX_TOOL_NAME, PolicyDecision, ToolPolicyConfig, model_tool_name
from tools.registry import ResolvedTool, ToolRegistry, Toolset
from tools.spec import RegisteredTool, ToolSpec

log = logging.getLogger(__name__)
UNAPPROVED = PolicyDecision(policy="deny", source="pin:unapproved")


class McpStartError(WakefulError):
    """An MCP server named in the agent spec could not be started or did not list its tools."""


@dataclass(frozen=True)
class McpTool:
    """One discovered MCP tool, wrapped, with its digest and whether that digest is approved."""

    server: str
    registered: RegisteredTool
    digest: str
    approved: bool
    approved_by: str | None

    @property
    def name(self) -> str:
        """The model-facing name, `server__tool`."""
        return self.registered.name


class McpToolbox:
    """Connections to an agent's MCP servers and the tools discovered on them."""

    def __init__(self, connections: Sequence[McpConnection], tools: Sequence[McpTool]) -> None:
        self.connections = list(connections)
        self.tools = list(tools)

    @classmethod
    async def open(cls, configs: Iterable[McpServerConfig], *, pins: PinStore | None) -> McpToolbox:
        """Start every server and discover its tools (concurrently).

        With `pins` None (no database) nothing can be approved: `pin: auto` servers are
        trusted as discovered, `pin: manual` servers' tools are all denied.
        """
        connections = [McpConnection(config) for config in configs]
        results = await asyncio.gather(
            *(_discover(connection, pins) for connection in connections), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
            raise failures[0]
        found = cast(list[list[McpTool]], results)
        return cls(connections, [tool for tools in found for tool in tools])

    def connection(self, server: str) -> McpConnection:
        return next(c for c in self.connections if c.name == server)

    def registry(self, builtins: ToolRegistry) -> ToolRegistry:
        """A registry of the built-ins and every discovered MCP tool."""
        return ToolRegistry(
            [
                *(builtins.get(name) for name in builtins.names()),
                *(t.registered for t in self.tools),
            ]
        )

    def toolset(
        self, builtins: ToolRegistry, config: ToolPolicyConfig, *, continuous: bool
    ) -> Toolset:
        """The agent's toolset: built-ins and MCP tools, unapproved MCP tools denied."""
        registry = self.registry(builtins)
        resolved = registry.toolset(config, continuous=continuous)
        unapproved = {t.name for t in self.tools if not t.approved}
        entries: dict[str, ResolvedTool] = {}
        for name in registry.names():
            entry = resolved.lookup(name)
            assert entry is not None
            if name in unapproved and entry.decision.policy != "deny":
                entry = ResolvedTool(registered=entry.registered, decision=UNAPPROVED)
            entries[name] = entry
        return Toolset(entries)

    async def recheck_approvals(self, pins: PinStore | None) -> None:
        """Take in approvals given since discovery (a toolbox kept open across a wait)."""
        if pins is None:
            return
        for i, tool in enumerate(self.tools):
            if tool.approved:
                continue
            pin = await pins.get(tool.server, _mcp_name(tool), tool.digest)
            if pin is not None and pin.approved_by is not None:
                self.tools[i] = dataclasses.replace(
                    tool, approved=True, approved_by=pin.approved_by
                )

    async def aclose(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)

    async def __aenter__(self) -> McpToolbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _discover(connection: McpConnection, pins: PinStore | None) -> list[McpTool]:
    config = connection.config
    try:
        listed = await connection.list_tools()
    except Exception as exc:
        raise McpStartError(
            f"MCP server {config.name!r} ({config.transport}) could not be used: {exc}"
        ) from exc
    tools = []
    for mcp_tool in listed:
        registered = _wrap(connection, mcp_tool)
        if registered is None:
            continue
        approved, approved_by = await _verdict(config, mcp_tool, pins)
        tools.append(McpTool(config.name, registered, tool_digest(mcp_tool), approved, approved_by))
    _check_unique(config.name, tools)
    connection.expect({_mcp_name(t): t.digest for t in tools})
    for tool in tools:
        if not tool.approved:
            log.warning(
                "MCP tool %s.%s (digest %s) is not approved and is denied; approve it with "
                "`wakeful tool pins approve %s %s %s`",
                config.name,
                _mcp_name(tool),
                tool.digest,
                config.name,
                _mcp_name(tool),
                tool.digest,
            )
    return tools


async def _verdict(
    config: McpServerConfig, tool: MCPTool, pins: PinStore | None
) -> tuple[bool, str | None]:
    if pins is None:
        return (config.pin == "auto", AUTO_APPROVER if config.pin == "auto" else None)
    pin = await pins.check(config.name, tool, mode=config.pin)
    return pin.approved, pin.approved_by


def _wrap(connection: McpConnection, mcp_tool: MCPTool) -> RegisteredTool | None:
    config = connection.config
    name = model_tool_name(f"{config.name}.{mcp_tool.name}")
    if len(name) > MAX_TOOL_NAME:
        log.warning("MCP tool %s.%s skipped: its name is too long", config.name, mcp_tool.name)
        return None

    async def through_connection(request: MCPToolCallRequest, handler: Any) -> Any:
        return normalised(await connection.call_tool(request.name, request.args))

    tool = convert_mcp_tool_to_langchain_tool(
        None,
        mcp_tool,
        connection=config.adapter_connection(),  # type: ignore[arg-type]  # unused: see above
        tool_interceptors=[through_connection],
        server_name=config.name,
        handle_tool_errors=False,  # an MCP error result raises, so it counts as an error
    )
    spec = ToolSpec(
        name=name,
        description=mcp_tool.description or f"MCP tool {mcp_tool.name} of {config.name}",
        scope=config.scope_for(mcp_tool.name),
        timeout_s=config.timeout_s,
        max_retries=config.max_retries,
        max_output_chars=config.max_output_chars,
    )
    tool.name = name
    # In place of the adapter's metadata (the server's annotations, which are not trusted).
    tool.metadata = {"scope": spec.scope, "mcp_server": config.name, "mcp_name": mcp_tool.name}
    return RegisteredTool(spec=spec, tool=tool)


def _mcp_name(tool: McpTool) -> str:
    return str(tool.registered.tool.metadata["mcp_name"])  # type: ignore[index]


def _check_unique(server: str, tools: list[McpTool]) -> None:
    seen: dict[str, str] = {}
    for tool in tools:
        if tool.name in seen:
            raise ConfigError(
                f"MCP server {server!r} has tools {seen[tool.name]!r} and {_mcp_name(tool)!r}, "
                f"which both become {tool.name!r}; rename one on the server"
            )
        seen[tool.name] = _mcp_name(tool)
