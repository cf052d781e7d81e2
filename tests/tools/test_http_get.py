"""http_get: allowlisted hosts only (every redirect hop too), size and time limits.

A loopback HTTP server started by the test answers; "127.0.0.1" and "localhost" reach the
same server under two host names, so one can be allowed and the other not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stack.errors import ConfigError
from tools.builtins import build_builtin_registry
from tools.builtins.http_get import host_allowed, http_get_tool
from tools.policy import ToolPolicyConfig
from tools.registry import ToolRegistry, Toolset

BIG = 100_000


class Site:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                if self.path == "/hello":
                    self._send(200, b"hello world")
                elif self.path == "/big":
                    self._send(200, b"z" * BIG)
                elif self.path == "/to-hello":
                    self._redirect("/hello")
                elif self.path == "/to-localhost":
                    self._redirect(f"http://localhost:{site.port}/hello")
                elif self.path == "/loop":
                    self._redirect("/loop")
                elif self.path == "/stall":
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    site.release.wait(30)  # until the test ends
                else:
                    self._send(404, b"no such page")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    thread = threading.Thread(target=running.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.release.set()
        running.server.shutdown()
        running.server.server_close()


def toolset(allow: list[str], **limits: float) -> Toolset:
    registry = ToolRegistry([http_get_tool(allow, **limits)])  # type: ignore[arg-type]
    return registry.toolset(ToolPolicyConfig(allow=["http_get"]), continuous=False)


async def test_an_allowed_host_is_fetched(site: Site, call) -> None:
    outcome = await call(toolset(["127.0.0.1"]), "http_get", {"url": site.url("/hello")})

    assert outcome.status == "ok"
    assert outcome.content.startswith("HTTP 200 OK\ncontent-type: text/plain")
    assert outcome.content.endswith("\n\nhello world")


async def test_nothing_is_allowed_by_default(site: Site, call, tmp_path: Path) -> None:
    default = build_builtin_registry(tmp_path).toolset(
        ToolPolicyConfig(allow=["http_get"]), continuous=False
    )
    outcome = await call(default, "http_get", {"url": site.url("/hello")})

    assert outcome.status == "error" and "HostNotAllowed" in outcome.content
    assert "(none)" in outcome.content
    assert site.hits == []  # refused before any request


async def test_another_host_is_refused(site: Site, call) -> None:
    outcome = await call(
        toolset(["127.0.0.1"]), "http_get", {"url": site.url("/hello", "localhost")}
    )

    assert outcome.status == "error" and "'localhost' is not on" in outcome.content
    assert site.hits == []


async def test_redirects_are_followed_only_to_allowed_hosts(site: Site, call) -> None:
    tools = toolset(["127.0.0.1"])
    followed = await call(tools, "http_get", {"url": site.url("/to-hello")})
    refused = await call(tools, "http_get", {"url": site.url("/to-localhost")})

    assert followed.status == "ok" and followed.content.endswith("hello world")
    assert refused.status == "error" and "'localhost' is not on" in refused.content
    assert site.hits == ["/to-hello", "/hello", "/to-localhost"]  # the hop was not fetched


async def test_a_redirect_loop_gives_up(site: Site, call) -> None:
    outcome = await call(toolset(["127.0.0.1"]), "http_get", {"url": site.url("/loop")})

    assert outcome.status == "error" and "more than 5 redirects" in outcome.content
    assert site.hits == ["/loop"] * 6


async def test_a_large_body_is_cut(site: Site, call) -> None:
    outcome = await call(
        toolset(["127.0.0.1"], max_bytes=1_000), "http_get", {"url": site.url("/big")}
    )

    assert outcome.status == "ok"
    assert outcome.content.count("z") == 1_000
    assert outcome.content.endswith("[body cut at 1000 bytes]")


async def test_a_stalled_response_times_out(site: Site, call) -> None:
    outcome = await call(
        toolset(["127.0.0.1"], timeout_s=0.5), "http_get", {"url": site.url("/stall")}
    )

    assert outcome.status == "error" and outcome.attempts == 1  # external: not retried
    assert "ReadTimeout" in outcome.content


async def test_only_http_and_https(call) -> None:
    outcome = await call(toolset(["*.org"]), "http_get", {"url": "file:///etc/passwd"})

    assert outcome.status == "error" and "only http and https" in outcome.content


def test_host_matching() -> None:
    allow = ["example.com", "*.example.org"]

    assert host_allowed("example.com", allow) and host_allowed("EXAMPLE.com.", allow)
    assert not host_allowed("www.example.com", allow)  # exact unless wildcarded
    assert host_allowed("api.example.org", allow) and host_allowed("a.b.example.org", allow)
    assert not host_allowed("example.org", allow)
    assert not host_allowed("badexample.org", allow) and not host_allowed("example.com.evil", allow)


def test_the_allowlist_comes_from_the_spec_and_is_checked() -> None:
    config = ToolPolicyConfig.parse({"allow": ["http_get"], "http_allow": ["Example.COM"]})
    assert config.http_allow == ["example.com"]
    with pytest.raises(ConfigError, match="http_allow"):
        ToolPolicyConfig.parse({"http_allow": ["https://example.com/path"]})
