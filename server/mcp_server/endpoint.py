"""The /mcp endpoint: bearer-token authentication in front of the MCP SDK's streamable HTTP
session manager, whose run must span the app's lifespan (`McpEndpoint.run`).

A request from a web page of another origin (an `Origin` header naming another host than the
request's `Host`) is an HTTP 403, as the MCP transport requires against DNS rebinding; one
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


def cross_origin(request: Request) -> str | None:
    """The request's `Origin` when it is present and not this server's own (same host and
    port as the `Host` the request was sent to), else None. `Origin: null` is another."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host", "").lower()
    parts = urlsplit(origin.strip())
    same = parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host
    return None if same else origin


def _refusal(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class McpEndpoint:
    """An ASGI app (Starlette serves a class instance as one) for /mcp."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.manager = StreamableHTTPSessionManager(app=build_server(services))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        origin = cross_origin(request)
        if origin is not None:
            detail = f"a request from another origin ({origin}) is refused"
            await _refusal(403, detail)(scope, receive, send)
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
