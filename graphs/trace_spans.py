"""The spans of one traced run, after the OpenTelemetry GenAI semantic conventions.

Imported only when tracing is on (graphs/tracing.py). One object per run is both a
LangChain callback handler (LangGraph reports each node and each model call to it) and a
listener on the run's channel (each `tool_call` event becomes a span, as it is the one
record of a call whatever happened to it: run, denied, rejected, answered from the
ledger).

```
invoke_agent <agent>               one per run: the task, tenant, epoch; how it ended
├── node <name>                    one per node run (langgraph_step)
│   └── chat <model>               one per model call: model, tokens, finish reasons
└── node tools
    └── execute_tool <name>        one per tool call: name, call id, status, attempts
```
Attributes carry names, ids, counts and sizes only: never a prompt, a reply, tool
arguments or results (they may hold personal data, and tool output is untrusted).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from graphs.events import (
    APPROVAL_DECIDED,
    APPROVAL_REQUESTED,
    BUDGET_EXHAUSTED,
    STUCK_DETECTED,
    TOOL_CALL,
)
from stack import telemetry
from stack.task_records import TaskRow

PREVIOUS_RUN = "previous_run"  # the wakeful.link attribute of the link to the run before


def trace_id_of(task_id: str) -> int:
    """The trace of every run of the task: its uuid, or a hash of another id."""
    try:
        value = uuid.UUID(task_id).int
    except ValueError:
        value = 0
    return value or int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:16], "big") or 1


def run_span_id(task_id: str, epoch: int) -> int:
    """The span of the task's run under lease `epoch` (each claim takes the next epoch)."""
    digest = hashlib.sha256(f"{task_id}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


class RunSpans(BaseCallbackHandler):
    """The spans of one run of `task` (lease `epoch`)."""

    run_inline = True  # called in the graph's own loop, in order
    raise_error = False  # a tracing fault never stops a run

    def __init__(self, tracer: trace.Tracer, task: TaskRow, epoch: int) -> None:
        self.tracer = tracer
        self.task_id = task.id
        trace_id = trace_id_of(task.id)
        links = []
        if epoch > 1:
            previous = SpanContext(
                trace_id,
                run_span_id(task.id, epoch - 1),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            links.append(
                Link(previous, {"wakeful.link": PREVIOUS_RUN, "wakeful.run.epoch": epoch - 1})
            )
        with telemetry.fixed_ids(trace_id, run_span_id(task.id, epoch)):
            self.span = tracer.start_span(
                f"invoke_agent {task.agent}",
                context=Context(),  # a root: a task's trace is its own
                kind=SpanKind.INTERNAL,
                attributes=_run_attributes(task, epoch),
                links=links,
            )
        self._context = trace.set_span_in_context(self.span)
        self._spans: dict[UUID, Span] = {}  # node and model spans by LangChain run id
        self._parents: dict[UUID, UUID | None] = {}  # runs without a span of their own

    # -- the run ---------------------------------------------------------------------------

    def ended(self, task: TaskRow, *, waiting: int = 0) -> None:
        usage = task.usage or {}
        self.span.set_attributes(
            {
                "wakeful.task.state": task.state,
                "wakeful.task.stop_reason": task.stop_reason or "",
                "wakeful.usage.tokens": int(usage.get("tokens") or 0),
                "wakeful.usage.tool_calls": int(usage.get("tool_calls") or 0),
                "wakeful.usage.iterations": int(usage.get("iterations") or 0),
                "wakeful.approvals.waiting": waiting,
            }
        )
        if task.state == "failed":
            self.span.set_status(Status(StatusCode.ERROR, task.stop_reason or "failed"))

    def failed(self, exc: BaseException) -> None:
        _error(self.span, exc)

    def close(self) -> None:
        """End the run span, and any span the graph left open (a run cut short)."""
        for span in list(self._spans.values()):
            span.set_attribute("wakeful.unfinished", True)
            span.end()
        self._spans.clear()
        self.span.end()

    # -- nodes (LangGraph tasks) -----------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None:  # the graph's own run: its nodes go under the run span
            return
        node = (metadata or {}).get("langgraph_node")
        if not node or kwargs.get("name") != node:  # a runnable inside a node, a subgraph
            self._parents[run_id] = parent_run_id
            return
        self._spans[run_id] = self.tracer.start_span(  # under the run, or a subgraph's node
            f"node {node}",
            context=trace.set_span_in_context(self._parent_span(parent_run_id)),
            kind=SpanKind.INTERNAL,
            attributes={
                "wakeful.node.name": node,
                "wakeful.task.id": self.task_id,
                "langgraph.step": int((metadata or {}).get("langgraph_step") or 0),
            },
        )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.get(run_id)
        if span is not None:
            if isinstance(error, GraphBubbleUp):  # an interrupt, a Command to the parent
                span.set_attribute("wakeful.node.interrupted", True)
            else:
                _error(span, error)
        self._end(run_id)

    # -- model calls -----------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata, params = metadata or {}, invocation_params or {}
        model = str(
            metadata.get("ls_model_name")
            or params.get("model")
            or params.get("model_name")
            or params.get("_type")
            or "unknown"  # the scripted model: its type, "scripted"
        )
        provider = "scripted" if params.get("scripted") else metadata.get("ls_provider")
        provider = str(provider or params.get("_type") or "unknown")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
            "gen_ai.conversation.id": self.task_id,
            "wakeful.model.role": str(metadata.get("wakeful_role") or ""),
            "wakeful.request.messages": sum(len(batch) for batch in messages),
            "wakeful.request.tools": len(params.get("tools") or ()),
        }
        if isinstance(metadata.get("wakeful_call"), int):
            attributes["wakeful.model.call"] = metadata["wakeful_call"]
        if isinstance(metadata.get("ls_temperature"), int | float):
            attributes["gen_ai.request.temperature"] = float(metadata["ls_temperature"])
        if isinstance(metadata.get("ls_max_tokens"), int):
            attributes["gen_ai.request.max_tokens"] = metadata["ls_max_tokens"]
        self._spans[run_id] = self.tracer.start_span(
            f"chat {model}",
            context=trace.set_span_in_context(self._parent_span(parent_run_id)),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.get(run_id)
        if span is not None:
            span.set_attributes(_reply_attributes(response))
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.get(run_id)
        if span is not None:
            _error(span, error)
        self._end(run_id)

    # -- events of the run's channel -------------------------------------------------------

    def on_event(self, type: str, data: dict[str, Any]) -> None:
        if type == TOOL_CALL:
            self._tool_span(data)
        elif type == APPROVAL_REQUESTED:
            self.span.add_event(
                type,
                _present(
                    {"gen_ai.tool.name": data.get("tool"), "wakeful.reason": data.get("reason")}
                ),
            )
        elif type == APPROVAL_DECIDED:
            self.span.add_event(
                type,
                _present(
                    {"gen_ai.tool.name": data.get("tool"), "wakeful.action": data.get("action")}
                ),
            )
        elif type == BUDGET_EXHAUSTED:
            self.span.add_event(type, _present({"wakeful.budget": data.get("budget")}))
        elif type == STUCK_DETECTED:
            self.span.add_event(type)

    def _tool_span(self, data: dict[str, Any]) -> None:
        """The call as its event tells it: it ended now, after `duration_ms`."""
        name, status = str(data.get("tool") or "unknown"), str(data.get("status") or "")
        ended = time.time_ns()
        started = ended - int(float(data.get("duration_ms") or 0) * 1_000_000)
        span = self.tracer.start_span(
            f"execute_tool {name}",
            context=trace.set_span_in_context(self._parent_span(_node_run_id())),
            kind=SpanKind.INTERNAL,
            start_time=started,
            attributes=_present(
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": name,
                    "gen_ai.tool.type": "function",
                    "gen_ai.tool.call.id": data.get("tool_call_id"),
                    "gen_ai.conversation.id": self.task_id,
                    "wakeful.tool.status": status,
                    "wakeful.tool.attempts": data.get("attempts"),
                    "wakeful.tool.approval": data.get("approval"),
                }
            ),
        )
        if status != "ok":
            span.set_attribute("error.type", status or "unknown")
            span.set_status(Status(StatusCode.ERROR, status or "unknown"))
        span.end(end_time=ended)

    # -- bookkeeping -----------------------------------------------------------------------

    def _parent_span(self, run_id: UUID | None) -> Span:
        """The span of the nearest LangChain run above `run_id` that has one, or the run's."""
        seen = 0
        while run_id is not None and seen < 100:
            if run_id in self._spans:
                return self._spans[run_id]
            run_id, seen = self._parents.get(run_id), seen + 1
        return self.span

    def _end(self, run_id: UUID) -> None:
        self._parents.pop(run_id, None)
        span = self._spans.pop(run_id, None)
        if span is not None:
            span.end()


def _node_run_id() -> UUID | None:
    """The LangChain run of the node now running (its child callbacks name it as parent);
    parallel branches each see their own."""
    try:
        callbacks = get_config().get("callbacks")
    except RuntimeError:  # not inside a node
        return None
    return getattr(callbacks, "parent_run_id", None)


def _run_attributes(task: TaskRow, epoch: int) -> dict[str, Any]:
    return _present(
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": task.agent,
            "gen_ai.agent.id": task.iteration_of or task.agent,
            "gen_ai.conversation.id": task.id,
            "wakeful.task.id": task.id,
            "wakeful.tenant": task.tenant,
            "wakeful.continuous": task.continuous,
            "wakeful.iteration_of": task.iteration_of,
            "wakeful.iteration": int((task.usage or {}).get("iterations") or 0),
            "wakeful.run.epoch": epoch,
            "wakeful.run.dispatch": task.dispatches,
            "wakeful.run.crash_retries": task.crash_retries,
        }
    )


def _reply_attributes(response: LLMResult) -> dict[str, Any]:
    """What the reply says about itself: model, tokens, finish reasons, how many tool calls."""
    attributes: dict[str, Any] = {}
    reasons: list[str] = []
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            info = generation.generation_info or {}
            metadata = getattr(message, "response_metadata", None) or {}
            reason = metadata.get("finish_reason") or info.get("finish_reason")
            if reason:
                reasons.append(str(reason))
            if model := metadata.get("model_name") or metadata.get("model"):
                attributes["gen_ai.response.model"] = str(model)
            usage = getattr(message, "usage_metadata", None) or {}
            if usage:
                attributes["gen_ai.usage.input_tokens"] = int(usage.get("input_tokens") or 0)
                attributes["gen_ai.usage.output_tokens"] = int(usage.get("output_tokens") or 0)
            attributes["wakeful.response.tool_calls"] = len(getattr(message, "tool_calls", ()))
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    return attributes


def _error(span: Span, exc: BaseException) -> None:
    """Mark `span` failed by the exception's type (its message may quote untrusted text)."""
    kind = type(exc).__qualname__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
