"""Fixtures for eval tests: an Engine on the session's Postgres, a network guard, and a
builder for small synthetic traces (evaluators read traces, never a database).
The database and settings are the shared `pg_url` / `settings` fixtures (tests/conftest.py).
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.trace import Trace
from graphs.engine import Engine
from stack.settings import Settings
from tools.arguments import args_hash


@pytest.fixture(scope="session")
def eval_pg_url(pg_url: str) -> str:
    return pg_url


@pytest.fixture(scope="session")
def eval_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture(scope="session")
async def eval_engine(eval_settings: Settings, eval_pg_url: str) -> AsyncIterator[Engine]:
    opened = await Engine.open(eval_settings, url=eval_pg_url)
    try:
        yield opened
    finally:
        await opened.close()


class NetworkBlocked(OSError):
    """A test tried to reach a host other than this machine."""


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX socket path
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already leave the machine


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse every non-loopback connect() in this process; yields the refused addresses."""
    refused: list[Any] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(method):
        def call(sock: socket.socket, address: Any) -> Any:
            if not _loopback(address):
                refused.append(address)
                raise NetworkBlocked(f"network access blocked in this test: {address!r}")
            return method(sock, address)

        return call

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    yield refused


class TraceBuilder:
    """A synthetic trace, written the way the graph would record it.

        t = TraceBuilder().plan("s").call("load_average").answer("fine").done("s")
        trace = t.build()
    """

    def __init__(
        self,
        *,
        goal: str = "Check the host.",
        state: str = "completed",
        stop_reason: str | None = "completed",
        output: str = "",
        agent: str = "test-agent",
        budgets: dict[str, Any] | None = None,
    ) -> None:
        self.task: dict[str, Any] = {
            "id": "00000000-0000-0000-0000-000000000000",
            "agent": agent,
            "goal": goal,
            "state": state,
            "stop_reason": stop_reason,
            "output": output,
            "budgets": budgets
            or {"max_iterations": 30, "max_tool_calls": 60, "max_tokens": 200000,
                "max_runtime_seconds": 600.0},
        }
        self.events: list[dict[str, Any]] = []
        self.nodes: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.usage: dict[str, Any] = {"iterations": 0, "tool_calls": 0, "tokens": 0}
        self.scenario: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self.node("recall")

    def event(self, type: str, **data: Any) -> TraceBuilder:
        self.events.append({"seq": len(self.events) + 1, "ts": "", "type": type, "data": data})
        return self

    def node(self, *names: str) -> TraceBuilder:
        for name in names:
            self.nodes.append(name)
            self.event("node", node=name)
        return self

    def plan(self, *step_ids: str, replan: bool = False) -> TraceBuilder:
        self.node("planner")
        steps = [{"id": s, "description": f"step {s}", "depends_on": []} for s in step_ids]
        return self.event("plan", steps=steps, replan=replan, reason=None, invalid_plan=None)

    def _message(self, role: str, content: str, **extra: Any) -> None:
        self.messages.append(
            {"index": len(self.messages), "id": f"m{next(self._ids)}", "role": role,
             "content": content, "in_final_state": True, **extra}
        )

    def model_call(self, role: str, tokens: int) -> TraceBuilder:
        self.usage["tokens"] += tokens
        return self.event("model_call", role=role, tokens=tokens, input_tokens=tokens - 10,
                          output_tokens=10)

    def call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        status: str = "ok",
        result: str = "done",
        thought: str = "",
        approval: str | None = None,
        ran: bool = True,
    ) -> TraceBuilder:
        """A worker turn calling one tool, and (if `ran`) the tools node running it."""
        args = args or {}
        call_id = f"call_{next(self._ids)}"
        self.node("worker")
        self.usage["iterations"] += 1
        self._message("assistant", thought,
                      tool_calls=[{"id": call_id, "name": name, "args": args}])
        if approval is not None:
            self.node("tools")
            self.event("approval_requested", tool=name, args=args, tool_call_id=call_id)
            self.event("approval_decided", tool=name, tool_call_id=call_id, action=approval)
        if not ran:
            return self
        self.node("tools")
        if approval == "reject":
            status = "rejected"
        self.usage["tool_calls"] += 1
        self.event("tool_call", tool=name, args_hash=args_hash(args), status=status,
                   tool_call_id=call_id, attempts=1, approval=approval)
        self._message("tool", result, tool_call_id=call_id,
                      status="error" if status != "ok" else "success")
        return self.node("entropy_monitor")

    def answer(self, text: str) -> TraceBuilder:
        self.node("worker")
        self.usage["iterations"] += 1
        self._message("assistant", text, tool_calls=[])
        return self.node("critic", "entropy_monitor")

    def done(self, step: str) -> TraceBuilder:
        return self.event("step_completed", step=step, description=f"step {step}", result="")

    def end(self) -> TraceBuilder:
        return self.node("worker", "finalize", "memorize")

    def build(self) -> Trace:
        return Trace(
            task=dict(self.task),
            events=list(self.events),
            nodes=list(self.nodes),
            graph_steps=[["__start__", *self.nodes]],
            messages=list(self.messages),
            state={"output": self.task["output"]},
            usage=dict(self.usage),
            scenario=self.scenario,
            exported_at="2026-01-01T00:00:00+00:00",
        )


@pytest.fixture
def trace_builder() -> type[TraceBuilder]:
    return TraceBuilder


@pytest.fixture
def core_dataset_path() -> Path:
    return Path(__file__).resolve().parents[2] / "evals" / "datasets" / "core.yaml"
