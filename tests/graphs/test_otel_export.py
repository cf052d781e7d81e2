"""OpenTelemetry export: the spans of real scripted runs, as a loopback OTLP/HTTP receiver
gets them (protobuf, decoded with opentelemetry-proto)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from wakeful_testing import approve, make_spec

from graphs.runner import TaskRunner
from graphs.trace_spans import run_span_id
from stack import telemetry

GATED = {"allow": ["load_average", "write_report"], "policies": {"write_report": "approval"}}
ONE_STEP = {"structured": {"steps": [{"id": "r", "description": "Write the report"}]}}
WRITE = {
    "text": "Saving what I found.",
    "tool_calls": [{"name": "write_report", "args": {"title": "Health", "body": "all fine"}}],
}
BAD_CALL = {"tool_calls": [{"name": "load_average", "args": {"bogus": 1}}]}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    attributes: dict[str, Any]
    links: list[tuple[str, str, dict[str, Any]]]
    status: int  # 0 unset, 1 ok, 2 error
    start: int
    end: int
    resource: dict[str, Any]
    events: list[str]


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, which) if which else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    links = [
                        (link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
                        for link in s.links
                    ]
                    self.spans.append(
                        Span(
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.name,
                            s.kind,
                            _attributes(s.attributes),
                            links,
                            s.status.code,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            resource,
                            [event.name for event in s.events],
                        )
                    )

    def of_trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "wakeful-test")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert telemetry.configure()
    try:
        yield server
    finally:
        telemetry.shutdown()
        server.server.shutdown()
        server.server.server_close()


def _children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent == parent.span_id]


def _flushed(receiver: Receiver, trace_id: str) -> list[Span]:
    assert telemetry.force_flush()
    return receiver.of_trace(trace_id)


async def test_an_approved_task_is_one_trace_of_two_linked_runs(engine, receiver) -> None:
    runner = TaskRunner(engine)
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": [WRITE, "Report saved."]},
        tools=GATED,
        name="otel-agent",
    )
    task = await runner.submit("Check this host's health and report.", spec)
    waiting = await runner.run(task.id)
    assert waiting.task.state == "input-required"
    done = await runner.run(task.id, decision=approve())
    assert done.task.state == "completed"

    trace_id = uuid.UUID(task.id).hex  # the task id is the trace id
    spans = _flushed(receiver, trace_id)
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    first, second = sorted(
        (s for s in spans if s.name == "invoke_agent otel-agent"),
        key=lambda s: s.attributes["wakeful.run.epoch"],
    )
    assert spans[0].resource["service.name"] == "wakeful-test"
    for run in (first, second):
        assert run.parent == ""  # a root of the task's own trace
        assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert run.attributes["gen_ai.agent.name"] == "otel-agent"
        assert run.attributes["wakeful.task.id"] == task.id
        assert run.attributes["wakeful.tenant"] == "local"
        assert run.span_id == f"{run_span_id(task.id, run.attributes['wakeful.run.epoch']):016x}"
    assert first.attributes["wakeful.task.state"] == "input-required"
    assert first.attributes["wakeful.approvals.waiting"] == 1
    assert second.attributes["wakeful.task.state"] == "completed"
    assert first.links == []
    assert first.events == ["approval_requested"] and second.events == ["approval_decided"]
    [(linked_trace, linked_span, link_attributes)] = second.links
    assert (linked_trace, linked_span) == (trace_id, first.span_id)
    assert link_attributes["wakeful.link"] == "previous_run"

    first_nodes = {s.attributes["wakeful.node.name"]: s for s in _children(spans, first)}
    assert {"recall", "planner", "worker", "tools"} <= set(first_nodes)
    assert first_nodes["tools"].attributes.get("wakeful.node.interrupted") is True
    second_nodes = [s.attributes["wakeful.node.name"] for s in _children(spans, second)]
    assert {"tools", "worker", "critic", "finalize"} <= set(second_nodes)
    for node in _children(spans, first) + _children(spans, second):
        assert node.name == f"node {node.attributes['wakeful.node.name']}"
        assert first.start <= node.start <= node.end or second.start <= node.start <= node.end

    [plan] = _children(spans, first_nodes["planner"])
    assert plan.name == "chat scripted" and plan.kind == 3  # SPAN_KIND_CLIENT
    assert plan.attributes["gen_ai.operation.name"] == "chat"
    assert plan.attributes["gen_ai.request.model"] == "scripted"
    assert plan.attributes["gen_ai.response.model"] == "scripted"
    assert plan.attributes["gen_ai.provider.name"] == plan.attributes["gen_ai.system"]
    assert plan.attributes["wakeful.model.role"] == "planner"
    assert plan.attributes["gen_ai.usage.input_tokens"] > 0
    assert plan.attributes["gen_ai.usage.output_tokens"] > 0
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert {s.attributes["wakeful.model.role"] for s in chats} >= {"planner", "worker"}

    [tool] = [s for s in spans if s.name == "execute_tool write_report"]
    tools_node = next(s for s in _children(spans, second) if s.name == "node tools")
    assert tool.parent == tools_node.span_id
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "write_report"
    assert tool.attributes["gen_ai.tool.call.id"]
    assert tool.attributes["wakeful.tool.status"] == "ok"
    assert tool.attributes["wakeful.tool.approval"] == "approve"
    assert tool.status != 2 and tool.start <= tool.end

    # names, ids and counts only: no prompt, reply, argument or result text
    said = ("Saving what I found", "all fine", "Check this host", "Report saved")
    for span in spans:
        for value in span.attributes.values():
            assert not any(text in str(value) for text in said), (span.name, value)


async def test_a_failed_tool_call_is_an_error_span(engine, receiver) -> None:
    runner = TaskRunner(engine)
    spec = make_spec(
        script={"planner": [ONE_STEP], "worker": [BAD_CALL, "Could not read the load."]},
        tools={"allow": ["load_average"]},
        budgets={"max_iterations": 3},
    )
    task = await runner.submit("Read the load.", spec)
    await runner.run(task.id)

    spans = _flushed(receiver, uuid.UUID(task.id).hex)
    [tool] = [s for s in spans if s.name == "execute_tool load_average"]
    assert tool.status == 2  # STATUS_CODE_ERROR
    assert tool.attributes["wakeful.tool.status"] == "error"
    assert tool.attributes["error.type"] == "error"
    [run] = [s for s in spans if s.name.startswith("invoke_agent ")]
    assert run.links == [] and run.attributes["wakeful.run.epoch"] == 1


def test_nothing_is_set_up_without_an_endpoint() -> None:
    """No provider, no exporter, no span code (langsmith imports parts of the SDK itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys\n"
        "import graphs.runner\n"
        "from stack import telemetry\n"
        "assert telemetry.tracer() is None\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.exporter', "
        "'opentelemetry.sdk.trace.export', 'graphs.trace_spans'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=240)


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on_and_off(environ, on) -> None:
    assert telemetry.enabled(environ) is on
