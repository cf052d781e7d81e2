"""One MCP server's session, kept open between calls and reopened when it breaks.

The session lives in a background task of its own (the MCP SDK's transports are anyio
context managers that must be entered and left in one task); callers in any task send
requests through it. What goes wrong, and what the caller sees:

- the server cannot be started or reached: `McpUnavailable` (a RetryableToolError: nothing
  was sent, so a retry is safe even for a write tool);
- the session had died before a request could be sent (a crashed stdio server), or an
  HTTP server answers that it does not know the session (it was restarted): the request is
  sent again on a new session, once, without the caller noticing;
- the connection breaks while a call is in flight (the server crashed mid-call; over HTTP
  a broken response stream is noticed at once, tools/mcp/http_watch.py):
  `McpConnectionLost` (a ConnectionError: retried for read tools only, since the call may
  have taken effect; a CallOutcomeUnknown, so a write's outcome is recorded unknown);
- a call is cancelled, e.g. by the caller's timeout (a hung server): the error is the
  caller's; the session is dropped because the server may be stuck.

In every case the broken session is closed in the background (a stdio server process is
terminated) and the next call opens a new one. After a reconnection the server's tools are
listed again; a tool whose digest differs from the one approved at discovery is refused
(`McpToolChanged`) until the agent is restarted and the new digest approved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from langchain_mcp_adapters.sessions import create_session
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, CallToolResult
from mcp.types import Tool as MCPTool

from stack.startup import starting
from tools.mcp.config import McpServerConfig
from tools.mcp.http_watch import watched_client_factory
from tools.mcp.pinning import tool_digest
from tools.mcp.server_stderr import open_session
from tools.retry import CallOutcomeUnknown, RetryableToolError

log = logging.getLogger(__name__)
T = TypeVar("T")
CLOSE_TIMEOUT_S = 5.0
_MAX_PAGES = 100
_SESSION_TERMINATED = 32600  # mcp.client.streamable_http's code for an HTTP 404


class McpUnavailable(RetryableToolError):
    """The MCP server could not be reached; nothing was sent, so trying again is safe."""


class McpConnectionLost(ConnectionError, CallOutcomeUnknown):
    """The connection to the MCP server broke during the call; it may or may not have run
    (so a write's outcome is recorded unknown)."""


class McpToolChanged(Exception):
    """The server now describes this tool differently from the approved description."""


class _NotSent(Exception):
    """The session was already closed when the request was to be sent."""


@dataclass
class _Live:
    session: ClientSession
    stop: asyncio.Event
    dead: asyncio.Event
    holder: asyncio.Task[None]


class McpConnection:
    """The session to one server. `connects` counts sessions opened (restarts = connects - 1)."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self.connects = 0
        self._live: _Live | None = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._approved: dict[str, str] | None = None  # tool name -> digest, from discovery
        self._changed: set[str] = set()
        self._last_error = "it closed the connection"

    @property
    def name(self) -> str:
        return self.config.name

    def expect(self, digests: dict[str, str]) -> None:
        """The tool digests approved at discovery, to check again after each reconnection."""
        self._approved = dict(digests)

    async def list_tools(self) -> list[MCPTool]:
        return await self._send(_list_tools)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        def request(session: ClientSession) -> Awaitable[CallToolResult]:
            if name in self._changed:  # checked once connected: a reconnection rechecks
                raise McpToolChanged(
                    f"MCP server {self.name!r} changed the description or schema of {name!r} "
                    "since it was approved; it is not run until an operator approves the new one"
                )
            return session.call_tool(name, arguments)

        return await self._send(request)

    async def close(self) -> None:
        """Close the session (terminating a stdio server) and wait for it to end."""
        async with self._lock:
            if self._live is not None:
                self._drop(self._live)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _send(self, request: Callable[[ClientSession], Awaitable[T]]) -> T:
        """`request` on a live session; resent once on a new session if it was not sent."""
        for attempt in (1, 2):
            live = await self._connected()
            try:
                return await self._request(live, request(live.session))
            except _NotSent as exc:
                if attempt == 2:
                    raise McpUnavailable(
                        f"MCP server {self.name!r} closed the connection before the request "
                        "was sent; it was not run"
                    ) from exc
        raise AssertionError("unreachable")

    async def _connected(self) -> _Live:
        async with self._lock:
            live = self._live
            if live is not None and not live.dead.is_set():
                return live
            if live is not None:
                self._drop(live)
            live = await self._open()
            self._live = live
            if self.connects > 1 and self._approved is not None:
                try:
                    await self._recheck(live)
                except Exception as exc:
                    self._drop(live)
                    raise McpUnavailable(
                        f"MCP server {self.name!r} reconnected but did not list its tools: "
                        f"{_describe(exc)}"
                    ) from exc
            return live

    async def _open(self) -> _Live:
        ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        stop, dead = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(self._hold(ready, stop, dead), name=f"mcp:{self.name}")
        first = starting(f"MCP server {self.name}", self.config.transport)
        try:
            with first if self.connects == 0 else contextlib.nullcontext():
                session = await asyncio.wait_for(
                    asyncio.shield(ready), self.config.connect_timeout_s
                )
        except BaseException as exc:
            ready.add_done_callback(_consume)  # a late failure is not "never retrieved"
            self._shut_down_later(stop, holder)
            if not isinstance(exc, Exception):
                raise
            raise McpUnavailable(
                f"could not start or reach MCP server {self.name!r}: {_describe(exc)}"
            ) from exc
        self.connects += 1
        return _Live(session, stop, dead, holder)

    async def _hold(
        self, ready: asyncio.Future[ClientSession], stop: asyncio.Event, dead: asyncio.Event
    ) -> None:
        def broken(exc: BaseException) -> None:  # the stream broke: the server is gone
            if not stop.is_set() and not dead.is_set():
                self._last_error = _describe(exc)
                log.warning("MCP server %s connection broke: %s", self.name, self._last_error)
                dead.set()

        try:
            async with self._session(broken) as session:
                await session.initialize()
                ready.set_result(session)
                await stop.wait()
        except BaseException as exc:  # this task reports how it ended; it never raises
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpUnavailable())
            elif not stop.is_set():
                self._last_error = _describe(exc)
                log.warning("MCP server %s disconnected: %s", self.name, self._last_error)
        finally:
            dead.set()

    def _session(self, broken: Callable[[BaseException], None]) -> Any:
        """A session to the server; over HTTP a broken stream calls `broken` at once."""
        if self.config.transport != "http":
            return open_session(self.config)
        connection = {
            **self.config.adapter_connection(),
            "httpx_client_factory": watched_client_factory(broken),
        }
        return create_session(connection)  # type: ignore[arg-type]

    async def _request(self, live: _Live, work: Awaitable[T]) -> T:
        call = asyncio.ensure_future(work)
        died = asyncio.ensure_future(live.dead.wait())
        try:
            done, _ = await asyncio.wait({call, died}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled, e.g. a timeout: the server may be stuck
            call.cancel()
            self._drop(live)
            raise
        finally:
            died.cancel()
        if call not in done:
            call.cancel()
            self._drop(live)
            raise McpConnectionLost(self._lost(self._last_error))
        try:
            return call.result()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            self._drop(live)
            raise _NotSent() from exc
        except McpError as exc:
            if _session_unknown(exc):  # the server restarted and forgot us: nothing ran
                self._drop(live)
                raise _NotSent() from exc
            if exc.error.code != CONNECTION_CLOSED:
                raise  # the server answered with an error; the session is fine
            self._drop(live)
            raise McpConnectionLost(self._lost("it closed the connection")) from exc
        except Exception as exc:
            self._drop(live)
            raise McpConnectionLost(self._lost(_describe(exc))) from exc

    def _lost(self, why: str) -> str:
        return (
            f"MCP server {self.name!r} was lost during the call ({why}); the call may or may "
            "not have taken effect. The server is restarted (reconnected) for the next call."
        )

    async def _recheck(self, live: _Live) -> None:
        assert self._approved is not None
        tools = await self._request(live, _list_tools(live.session))
        now = {tool.name: tool_digest(tool) for tool in tools}
        self._changed = {name for name, digest in self._approved.items() if now.get(name) != digest}
        if self._changed:
            log.warning("MCP server %s changed tools %s", self.name, sorted(self._changed))

    def _drop(self, live: _Live) -> None:
        """Forget a broken session and close it in the background."""
        if self._live is live:
            self._live = None
        self._shut_down_later(live.stop, live.holder)

    def _shut_down_later(self, stop: asyncio.Event, holder: asyncio.Task[None]) -> None:
        task = asyncio.create_task(_shut_down(stop, holder))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _shut_down(stop: asyncio.Event, holder: asyncio.Task[None]) -> None:
    stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(holder), CLOSE_TIMEOUT_S)
    except TimeoutError:
        holder.cancel()
        with contextlib.suppress(BaseException):
            await holder


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _list_tools(session: ClientSession) -> list[MCPTool]:
    tools: list[MCPTool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await session.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools
    raise RuntimeError(f"the tool list has more than {_MAX_PAGES} pages")


def _session_unknown(exc: McpError) -> bool:
    """The HTTP server answered 404 to our session id (the SDK reports it as code 32600)."""
    return exc.error.code == _SESSION_TERMINATED and exc.error.message == "Session terminated"


def _describe(exc: BaseException) -> str:
    """The innermost error of an exception group (anyio wraps transport errors in them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
