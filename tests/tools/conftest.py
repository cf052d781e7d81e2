"""Fixtures for tools tests: small tool factories, a Postgres pool with the ledger table,
and the MCP test server (stdio and streamable HTTP).
The pool is the shared `pg_pool` fixture (tests/conftest.py): the session's Postgres.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from tools.builtins import build_builtin_registry
from tools.execution import execute_tool_call
from tools.ledger import ToolLedger
from tools.mcp.config import McpServerConfig
from tools.mcp.pinning import PinStore
from tools.outcome import ToolOutcome
from tools.policy import ToolPolicyConfig
from tools.registry import ToolRegistry, Toolset
from tools.spec import RegisteredTool, ToolSpec

REPO = Path(__file__).resolve().parents[2]
LEDGER_MIGRATIONS = [
    REPO / "stack" / "migrations" / name
    for name in ("0002_tool_ledger.sql", "0007_ledger_outcomes.sql")
]


class ValueArgs(BaseModel):
    value: str


@pytest.fixture
def make_tool() -> Callable[..., RegisteredTool]:
    """make_tool(name, func=..., coroutine=..., scope=..., args_schema=..., **spec fields)."""

    def make(
        name: str,
        *,
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Any] | None = None,
        scope: str = "read",
        args_schema: type[BaseModel] = ValueArgs,
        **spec: Any,
    ) -> RegisteredTool:
        tool_spec = ToolSpec(name=name, description=f"test tool {name}", scope=scope, **spec)
        return RegisteredTool.from_function(
            tool_spec, args_schema=args_schema, func=func, coroutine=coroutine
        )

    return make


@pytest.fixture
def toolset_of() -> Callable[..., Toolset]:
    """toolset_of(*tools, config=None, continuous=False); the default config allows all."""

    def build(
        *tools: RegisteredTool, config: ToolPolicyConfig | None = None, continuous: bool = False
    ) -> Toolset:
        config = config or ToolPolicyConfig(allow=["*"])
        return ToolRegistry(tools).toolset(config, continuous=continuous)

    return build


@pytest.fixture(scope="session")
def ledger_db_url(pg_url: str) -> str:
    """The session's Postgres (crash tests hand it to a child process)."""
    return pg_url


@pytest.fixture
def ledger_pool(pg_pool: AsyncConnectionPool) -> AsyncConnectionPool:
    return pg_pool


@pytest.fixture
async def ledger(ledger_pool: AsyncConnectionPool) -> ToolLedger:
    async with ledger_pool.connection() as conn:
        for migration in LEDGER_MIGRATIONS:
            await conn.execute(migration.read_text().encode(), prepare=False)
    return ToolLedger(ledger_pool)


# --- MCP servers (tests/tools/mcp_servers/test_server.py) ------------------------------------

MCP_SERVER = Path(__file__).with_name("mcp_servers") / "test_server.py"
PINS_MIGRATION = REPO / "stack" / "migrations" / "0003_tool_pins.sql"


@pytest.fixture
def mcp_state(tmp_path: Path) -> Path:
    """The test server's state directory (counters, variant), fresh per test."""
    state = tmp_path / "mcp-state"
    state.mkdir()
    return state


@pytest.fixture
def stdio_server(mcp_state: Path) -> Callable[..., McpServerConfig]:
    """stdio_server(name="t", **config fields): the test server over stdio."""

    def config(name: str = "t", **fields: Any) -> McpServerConfig:
        env = {"MCP_TEST_STATE": str(mcp_state), **fields.pop("env", {})}
        defaults = {"command": sys.executable, "args": [str(MCP_SERVER), "stdio"], "timeout_s": 10}
        return McpServerConfig(name=name, transport="stdio", env=env, **{**defaults, **fields})

    return config


@pytest.fixture
def counter(mcp_state: Path) -> Callable[..., int]:
    """counter(name="counter"): a counter file of the test server (0 if never written)."""

    def read(name: str = "counter") -> int:
        path = mcp_state / name
        return int(path.read_text()) if path.exists() else 0

    return read


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpMcpServer:
    """The test server over streamable HTTP, as a subprocess on a fixed loopback port."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def config(self, name: str = "web", **fields: Any) -> McpServerConfig:
        return McpServerConfig(name=name, transport="http", url=self.url, **fields)

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "MCP_TEST_STATE": str(self.state)}
        self.process = subprocess.Popen(
            [sys.executable, str(MCP_SERVER), "http", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the HTTP MCP server exited at start"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)  # polling for the port, bounded by the deadline
        raise AssertionError(f"the HTTP MCP server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=10)

    def wait_exit(self, timeout: float = 10) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)


@pytest.fixture
def http_server(mcp_state: Path) -> Iterator[HttpMcpServer]:
    server = HttpMcpServer(mcp_state)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pin_store(ledger_pool: AsyncConnectionPool) -> PinStore:
    async with ledger_pool.connection() as conn:
        await conn.execute(PINS_MIGRATION.read_text().encode())
    return PinStore(ledger_pool)


@pytest.fixture
def builtins(tmp_path: Path) -> ToolRegistry:
    return build_builtin_registry(tmp_path / "data")


async def _call(
    toolset: Toolset, name: str, args: dict[str, Any] | None = None, **kwargs: Any
) -> ToolOutcome:
    kwargs.setdefault("ledger", None)
    kwargs.setdefault("task_id", "mcp-test")
    return await execute_tool_call(
        {"name": name, "args": args or {}, "id": f"call-{uuid.uuid4().hex[:8]}"},
        toolset,
        **kwargs,
    )


@pytest.fixture
def call() -> Callable[..., Any]:
    """await call(toolset, name, args, **execute_tool_call kwargs), with a fresh call id."""
    return _call


# --- Agents with MCP servers, run through the graph (TaskRunner) -----------------------------

MCP_AGENT = Path(__file__).with_name("mcp_agent.py")


def _load_mcp_agent() -> Any:
    spec = importlib.util.spec_from_file_location("wakeful_tests_mcp_agent", MCP_AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def graph_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The shared `settings` fixture when there is one, else settings on a temporary dir."""
    from stack.settings import load_settings

    try:
        return request.getfixturevalue("settings")
    except pytest.FixtureLookupError:
        return load_settings(WAKEFUL_DATA_DIR=tmp_path_factory.mktemp("wakeful-data"))


@pytest.fixture(scope="session")
async def mcp_engine(graph_settings: Any, ledger_db_url: str) -> AsyncIterator[Any]:
    from graphs.engine import Engine

    engine = await Engine.open(graph_settings, url=ledger_db_url)
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture(scope="session")
def mcp_agent() -> Any:
    """tests/tools/mcp_agent.py: `await mcp_agent.run_task(engine, task_id, decision=...)`."""
    return _load_mcp_agent()


@pytest.fixture
def run_mcp_agent(mcp_engine: Any, mcp_agent: Any) -> Callable[..., Any]:
    """await run_mcp_agent(spec, goal=...): submit a task for the spec and run it."""
    from graphs.runner import TaskRunner

    async def run(spec: Any, goal: str = "Use the MCP tools.", **kwargs: Any) -> Any:
        task = await TaskRunner(mcp_engine).submit(goal, spec)
        return await mcp_agent.run_task(mcp_engine, task.id, **kwargs)

    return run
