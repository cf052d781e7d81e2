"""http_get: fetch a URL from an allowlisted host (scope external).

Deny by default: only hosts listed in the agent spec's `tools.http_allow` may be fetched,
and every redirect hop is checked again. A host entry matches that host exactly; "*.x.org"
matches every subdomain of x.org (not x.org itself). Only http and https; proxies from the
environment are ignored. The body is read up to `max_bytes` and then cut, and each network
operation times out after `timeout_s` (the tool as a whole after its spec's timeout).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from pydantic import BaseModel, Field

from tools.retry import RetryableToolError
from tools.spec import RegisteredTool, ToolSpec

MAX_BYTES = 256_000
TIMEOUT_S = 10.0
MAX_REDIRECTS = 5


class HttpGetArgs(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=4_000,
        description="The http(s) URL to fetch. Its host must be on the agent's allowlist.",
    )


class HostNotAllowed(Exception):
    """The URL's host is not on the agent's http allowlist."""


def host_allowed(host: str, allow: Sequence[str]) -> bool:
    """Whether `host` matches an entry: the same host, or a subdomain of a "*." entry."""
    host = host.lower().rstrip(".")
    for entry in allow:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


class HttpGetter:
    """GETs URLs whose every hop is on `allow`, with size and time limits."""

    def __init__(
        self,
        allow: Sequence[str],
        *,
        max_bytes: int = MAX_BYTES,
        timeout_s: float = TIMEOUT_S,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.allow = list(allow)
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects

    async def get(self, url: str) -> str:
        """The status line, content type and (possibly cut) body of the final response."""
        target = self._checked(httpx.URL(url))
        async with httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            for _ in range(self.max_redirects + 1):
                request = client.build_request("GET", target)
                try:
                    response = await client.send(request, stream=True)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    raise RetryableToolError(f"could not connect to {target.host}: {exc}") from exc
                try:
                    if response.next_request is None:
                        return await self._read(response)
                    target = self._checked(response.next_request.url)
                finally:
                    await response.aclose()
        raise ValueError(f"more than {self.max_redirects} redirects; gave up at {target}")

    def _checked(self, url: httpx.URL) -> httpx.URL:
        if url.scheme not in ("http", "https"):
            raise ValueError(f"only http and https URLs can be fetched, not {url.scheme!r}")
        if not url.host or not host_allowed(url.host, self.allow):
            allowed = ", ".join(self.allow) or "(none)"
            raise HostNotAllowed(
                f"host {url.host!r} is not on this agent's http allowlist ({allowed}); "
                "an operator can add it under tools.http_allow in the agent spec"
            )
        return url

    async def _read(self, response: httpx.Response) -> str:
        body = bytearray()
        cut = False
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                del body[self.max_bytes :]
                cut = True
                break
        text = body.decode(response.encoding or "utf-8", errors="replace")
        kind = response.headers.get("content-type", "unknown")
        note = f"\n[body cut at {self.max_bytes} bytes]" if cut else ""
        status = f"HTTP {response.status_code} {response.reason_phrase}"
        return f"{status}\ncontent-type: {kind}\n\n{text}{note}"


def http_get_tool(
    allow: Sequence[str] = (), *, max_bytes: int = MAX_BYTES, timeout_s: float = TIMEOUT_S
) -> RegisteredTool:
    """The http_get tool for hosts in `allow` (empty: every fetch is refused)."""
    getter = HttpGetter(allow, max_bytes=max_bytes, timeout_s=timeout_s)
    spec = ToolSpec(
        name="http_get",
        description=(
            "Fetch a web page or API response with HTTP GET; returns the status, content type "
            "and body (cut when large). Only allowlisted hosts can be fetched."
        ),
        scope="external",
        timeout_s=getter.timeout_s * 2,
    )
    return RegisteredTool.from_function(spec, args_schema=HttpGetArgs, coroutine=getter.get)
