"""Notice at once when an MCP server over HTTP dies mid-call.

The MCP SDK reads a call's answer from an SSE response; when that stream breaks (the
server crashed) it logs the error and returns without answering, so the call would only
end at its timeout, reported as a timeout. This httpx transport tells the connection
(`on_broken`) whenever a request or response stream fails at the transport level, before
the SDK swallows the error; the connection then ends the session and fails the call as
connection lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

Broken = Callable[[BaseException], None]


class _WatchedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, on_broken: Broken) -> None:
        self._inner = inner
        self._on_broken = on_broken

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TransportError as exc:
            self._on_broken(exc)
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class WatchedTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, reporting transport failures to `on_broken`."""

    def __init__(self, on_broken: Broken) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._on_broken = on_broken

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self._on_broken(exc)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_WatchedStream(response.stream, self._on_broken),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def watched_client_factory(on_broken: Broken) -> Callable[..., httpx.AsyncClient]:
    """An `httpx_client_factory` for the MCP SDK, as its default but watched."""

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.AsyncClient:
        kwargs: dict[str, Any] = {
            "timeout": timeout
            or httpx.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
            "transport": WatchedTransport(on_broken),
        }
        if headers is not None:
            kwargs["headers"] = headers
        if auth is not None:
            kwargs["auth"] = auth
        return httpx.AsyncClient(**kwargs)

    return factory
