"""The /mcp endpoint: bearer-token authentication in front of the MCP SDK's streamable HTTP
session manager, whose run must span the app's lifespan (`McpEndpoint.run`).

A request that may come from a web page of another site (a foreign `Host` on a loopback
server, an `Origin` naming another host) is an HTTP 403, as the MCP transport requires
against DNS rebinding (`refused_origin`); one
without a good token is an HTTP 401 before MCP sees it. The principal travels in the ASGI
scope of every request, where the tool handlers read it (a session's requests may come with
different tokens: each is judged by its own).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, HTTPException
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from server.api.deps import authenticate
from server.mcp_server.agent_tools import SCOPE_KEY, build_server
from server.services import Services

MCP_PATH = "/mcp"


class _ClosedStreamNoise(logging.Filter):
    """The SDK logs an ERROR with a traceback when a client ends its session while the
    session's GET stream is still open (the stream is simply closed): not an error of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, anyio.ClosedResourceError)


logging.getLogger("mcp.server.streamable_http").addFilter(_ClosedStreamNoise())


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _loopback(name: str | None) -> bool:
    if not name:
        return False
    name = name.strip("[]").lower()
    return name in LOOPBACK_NAMES or name.startswith("127.") or name.endswith(".localhost")


def refused_origin(request: Request, allowed_hosts: frozenset[str]) -> str | None:
    """Why a request is refused as a possible DNS rebinding or cross-site call, or None.

    - A server listening on a loopback address answers only to a loopback `Host` (or one
      in WAKEFUL_ALLOWED_HOSTS): a page of another site whose name now resolves to
      127.0.0.1 sends its own name as `Host`.
    - An `Origin`, when sent, must name the `Host`'s own host (any port), loopback for a
      loopback `Host`, or a host in WAKEFUL_ALLOWED_HOSTS. `Origin: null` is refused.
    """
    host_header = request.headers.get("host", "")
    host = urlsplit(f"//{host_header}").hostname
    local = request.scope.get("server")
    if local and _loopback(str(local[0])) and not (_loopback(host) or host in allowed_hosts):
        return f"Host {host_header!r} is not a name of this server (see WAKEFUL_ALLOWED_HOSTS)"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip())
    origin_host = parts.hostname if parts.scheme in ("http", "https") else None
    if origin_host and (
        origin_host == host
        or (_loopback(origin_host) and _loopback(host))
        or origin_host in allowed_hosts
    ):
        return None
    return f"a request from another origin ({origin}) is refused"


def _refusal(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class McpEndpoint:
    """An ASGI app (Starlette serves a class instance as one) for /mcp."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.allowed_hosts = services.engine.settings.allowed_host_names
        self.manager = StreamableHTTPSessionManager(app=build_server(services))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        refused = refused_origin(request, self.allowed_hosts)
        if refused is not None:
            await _refusal(403, refused)(scope, receive, send)
            return
        try:
            principal = await authenticate(self.services, request.headers.get("authorization"))
        except HTTPException as exc:
            await _refusal(exc.status_code, exc.detail, exc.headers)(scope, receive, send)
            return
        scope[SCOPE_KEY] = principal
        await self.manager.handle_request(scope, receive, send)

    def mount(self, app: FastAPI) -> None:
        app.add_route(MCP_PATH, self, methods=["GET", "POST", "DELETE"], include_in_schema=False)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield
