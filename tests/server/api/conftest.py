"""One `wakeful serve` per test module, started as a subprocess and reached over real HTTP
on loopback.

Each module gets its own database on the session's Postgres (the kill switch is global to
a database). The test process opens services on it too (to make tokens, apply agents and
read event logs); the server process serves the API and runs a worker. Tokens: tenant
`acme` has a submitter, an approver and an admin; tenant `globex` has an admin; `local`
has an installation admin. Agents of
`acme`: `quick` (one step: reads the load and answers), `slow` (its planner takes a minute,
to be canceled) and `gated` (writes a report, which needs an approval).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_checks import until
from wakeful_servers import free_port, own_database, serve_process, server_env

from server.services import Services, open_services
from stack.settings import Settings

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Look at the load"}]}}
LOOK = {"text": "Checking.", "tool_calls": [{"name": "load_average"}]}
WRITE = {
    "text": "Saving what I found.",
    "tool_calls": [{"name": "write_report", "args": {"title": "Health", "body": "all fine"}}],
}
SPECS: dict[str, dict[str, Any]] = {
    "quick": {
        "model": {
            "provider": "scripted",
            "script": {"planner": [ONE_STEP], "worker": [LOOK, "The load is fine."]},
        },
        "tools": {"allow": ["load_average"]},
    },
    "slow": {
        "model": {
            "provider": "scripted",
            "script": {"planner": [{**ONE_STEP, "latency_seconds": 60}], "worker": ["Done."]},
        },
        "tools": {"allow": ["load_average"]},
    },
    "gated": {
        "model": {
            "provider": "scripted",
            "script": {"planner": [ONE_STEP], "worker": [WRITE, "Report saved."]},
        },
        "tools": {
            "allow": ["load_average", "write_report"],
            "policies": {"write_report": "approval"},
        },
    },
}
# a2a-sdk logs a malformed JSON-RPC request (which the fuzz test sends) at ERROR level.
SDK_REQUEST_LOG = "a2a.server.routes.jsonrpc_dispatcher"
ROLES = (
    ("acme", "submitter"),
    ("acme", "approver"),
    ("acme", "admin"),
    ("globex", "admin"),
    ("local", "installation-admin"),
)


@dataclass
class ApiServer:
    base_url: str
    services: Services
    tokens: dict[str, str]  # "acme/submitter" -> token
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, who: str | None = "acme/submitter", **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for `who` ("tenant/role"; None: no token), closed with the server."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(30.0), **kwargs
        )
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def api_db(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A database of this module's own on the session's Postgres, and a data dir."""
    with own_database(pg_url, "wk_api") as url:
        yield url, tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
async def api(api_db: tuple[str, Path]) -> AsyncIterator[ApiServer]:
    url, data_dir = api_db
    settings = Settings(WAKEFUL_DATA_DIR=data_dir, DATABASE_URL=url)
    services = await open_services(settings, url=url)  # migrates before the server starts
    clients: list[httpx.AsyncClient] = []
    try:
        tokens = {
            f"{tenant}/{role}": await services.auth.create_token(tenant, role, f"{tenant}-{role}")
            for tenant, role in ROLES
        }
        for name, spec in SPECS.items():
            await services.agents.apply(
                "acme", {"name": name, "entropy": {"semantic": False}, **spec}
            )
        port = free_port()
        with serve_process(server_env(url, data_dir), data_dir / "serve.log", port) as process:
            base_url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_url) as probe:

                async def healthy() -> bool:
                    if process.poll() is not None:
                        log = (data_dir / "serve.log").read_text(errors="replace")[-3000:]
                        raise AssertionError(f"wakeful serve exited: {log}")
                    with contextlib.suppress(httpx.TransportError):
                        return (await probe.get("/healthz")).status_code == 200
                    return False

                await until(healthy, timeout=60, what="wakeful serve answering /healthz")
            yield ApiServer(base_url, services, tokens, clients)
            for client in clients:
                await client.aclose()
            clients.clear()
        log = (data_dir / "serve.log").read_text(errors="replace")
        assert process.returncode == 0, f"wakeful serve stopped badly:\n{log[-3000:]}"
        errors = [
            line
            for line in log.splitlines()
            if line.startswith(("ERROR", "CRITICAL")) and SDK_REQUEST_LOG not in line
        ]
        assert not errors, f"wakeful serve logged errors:\n{log[-3000:]}"
    finally:
        for client in clients:
            await client.aclose()
        await services.close()


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: Any


async def read_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Parse a text/event-stream response into events (comments and pings skipped)."""
    fields: dict[str, list[str]] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield SseEvent(
                    id=fields.get("id", [None])[-1],
                    event=fields.get("event", [None])[-1],
                    data=json.loads("\n".join(fields["data"])),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))


@pytest.fixture
def sse() -> Callable[[httpx.Response], AsyncIterator[SseEvent]]:
    return read_sse


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    """eventually(check, timeout=, what=): see `until`."""
    return functools.partial(until, interval=0.02)
