"""The tool calls of a trace: what the model asked for, joined with what became of it.

The model's request (name, arguments) comes from the assistant messages, the result from
the tool messages, and the runtime's account (status, attempts, approval) from the
`tool_call` events. A call with no event never ran (`not_run`: a budget stopped it, or
the task is still waiting for approval). Events without a message (a trace whose
checkpoints are gone) still count, with unknown arguments. MCP tools go by their spec
name, `server.tool` (the model sees `server__tool`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evals.trace import Trace
from tools.policy import spec_tool_name

NOT_RUN = "not_run"
RAN = frozenset({"ok", "error", "replayed", "unknown_outcome", "confirmed"})  # not skipped


@dataclass(frozen=True)
class ToolCall:
    id: str | None
    name: str
    args: dict[str, Any] | None  # None when only the event is known
    status: str  # ok, error, denied, rejected, replayed, unknown_outcome, not_run
    args_hash: str | None = None
    result: str | None = None
    step: str | None = None
    approval: str | None = None
    attempts: int = 0

    @property
    def ran(self) -> bool:
        return self.status in RAN

    @property
    def signature(self) -> str:
        """name + arguments: two calls with the same signature did the same thing."""
        return f"{self.name}#{self.args_hash or _stable(self.args)}"


def _stable(args: dict[str, Any] | None) -> str:
    import json

    return json.dumps(args, sort_keys=True) if args is not None else "?"


def tool_calls(trace: Trace) -> list[ToolCall]:
    events = {
        e["data"].get("tool_call_id"): e["data"] for e in trace.events_of("tool_call")
    }
    results = {
        m.get("tool_call_id"): m for m in trace.messages if m.get("role") == "tool"
    }
    calls: list[ToolCall] = []
    seen: set[str | None] = set()
    for message in trace.messages:
        for call in message.get("tool_calls") or []:
            if message.get("role") != "assistant" or call["id"] in seen:
                continue
            seen.add(call["id"])
            event = events.get(call["id"]) or {}
            result = results.get(call["id"])
            calls.append(
                ToolCall(
                    id=call["id"],
                    name=spec_tool_name(call["name"]),
                    args=call.get("args") or {},
                    status=event.get("status", NOT_RUN),
                    args_hash=event.get("args_hash"),
                    result=_text(result.get("content")) if result else None,
                    step=event.get("step"),
                    approval=event.get("approval"),
                    attempts=int(event.get("attempts") or 0),
                )
            )
    for event in trace.events_of("tool_call"):
        data = event["data"]
        if data.get("tool_call_id") in seen:
            continue
        calls.append(
            ToolCall(
                id=data.get("tool_call_id"),
                name=spec_tool_name(data["tool"]),
                args=None,
                status=data.get("status", "ok"),
                args_hash=data.get("args_hash"),
                step=data.get("step"),
                approval=data.get("approval"),
                attempts=int(data.get("attempts") or 0),
            )
        )
    return calls


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p if isinstance(p, str) else str(p.get("text", "")) for p in content
        )
    return str(content)


def worker_texts(trace: Trace) -> list[str]:
    """The text of each assistant message from the worker (thoughts and step results)."""
    texts = []
    for message in trace.messages:
        if message.get("role") != "assistant":
            continue
        role = (message.get("response_metadata") or {}).get("role")
        if role not in (None, "worker"):
            continue
        text = _text(message.get("content")).strip()
        if text:
            texts.append(text)
    return texts
