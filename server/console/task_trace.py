"""What the task page shows beyond the task row: the plan with each step's state laid out
as a DAG, the tool calls with their arguments and results, critic verdicts and the loop
monitor's signals.

The row, budgets and events come from TaskService (tenant-checked first); plan, messages
and verdicts come from the task's LangGraph checkpoint, which is where the run keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage

from graphs.events import PLAN, STUCK_DETECTED, TOOL_CALL, VERDICT
from server.services import Services
from stack.task_records import EventRow
from tools.untrusted import unwrap

BOX_W, BOX_H, GAP_X, GAP_Y = 200, 56, 40, 24


@dataclass
class StepBox:
    id: str
    description: str
    status: str
    depends_on: list[str]
    x: int = 0
    y: int = 0


@dataclass
class PlanLayout:
    steps: list[StepBox]
    edges: list[tuple[StepBox, StepBox]]
    width: int
    height: int


@dataclass
class ToolCallView:
    id: str
    name: str
    args: dict[str, Any]
    result: str | None = None
    untrusted: bool = False  # the result is the tool's own output (data, not instructions)
    status: str | None = None
    duration_ms: float | None = None
    approval: str | None = None


@dataclass
class TaskTrace:
    plan: PlanLayout | None
    tool_calls: list[ToolCallView] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    loop_signals: list[dict[str, Any]] = field(default_factory=list)
    loop_state: dict[str, Any] = field(default_factory=dict)


def layered(steps: list[dict[str, Any]], current: str | None) -> PlanLayout:
    """Steps in columns by dependency depth (a step sits right of everything it needs)."""
    boxes = {
        s["id"]: StepBox(
            s["id"], s.get("description", ""),
            "working" if s["id"] == current and s.get("status") == "pending"
            else s.get("status", "pending"),
            [d for d in s.get("depends_on") or [] if d != s["id"]],
        )
        for s in steps
    }
    depth: dict[str, int] = {}

    def depth_of(step_id: str, seen: frozenset[str] = frozenset()) -> int:
        if step_id not in depth:
            needs = [d for d in boxes[step_id].depends_on if d in boxes and d not in seen]
            depth[step_id] = 1 + max((depth_of(d, seen | {step_id}) for d in needs), default=-1)
        return depth[step_id]

    rows: dict[int, int] = {}
    for box in boxes.values():
        column = depth_of(box.id)
        row = rows.get(column, 0)
        rows[column] = row + 1
        box.x, box.y = column * (BOX_W + GAP_X), row * (BOX_H + GAP_Y)
    edges = [(boxes[d], box) for box in boxes.values() for d in box.depends_on if d in boxes]
    width = (max(rows, default=0) + 1) * (BOX_W + GAP_X)
    height = max(rows.values(), default=1) * (BOX_H + GAP_Y)
    return PlanLayout(list(boxes.values()), edges, width, height)


def tool_calls(messages: list[Any], events: list[EventRow]) -> list[ToolCallView]:
    calls: dict[str, ToolCallView] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                calls[call["id"]] = ToolCallView(call["id"], call["name"], call.get("args", {}))
        elif isinstance(message, ToolMessage) and message.tool_call_id in calls:
            text = message.content if isinstance(message.content, str) else str(message.content)
            view = calls[message.tool_call_id]
            view.result, view.untrusted = unwrap(text), unwrap(text) != text
    for event in events:
        if event.type == TOOL_CALL and event.data.get("tool_call_id") in calls:
            view = calls[event.data["tool_call_id"]]
            view.status = event.data.get("status")
            view.duration_ms = event.data.get("duration_ms")
            view.approval = event.data.get("approval")
    return list(calls.values())


async def task_trace(services: Services, task_id: str, events: list[EventRow]) -> TaskTrace:
    """The trace of a task whose tenant the caller has checked already."""
    snapshot = await services.engine.graph.aget_state({"configurable": {"thread_id": task_id}})
    values: dict[str, Any] = snapshot.values or {}
    steps = values.get("plan") or next(
        (e.data.get("steps") for e in reversed(events) if e.type == PLAN), None
    )
    return TaskTrace(
        plan=layered(steps, values.get("current_step")) if steps else None,
        tool_calls=tool_calls(values.get("messages") or [], events),
        verdicts=list(values.get("verdicts") or [e.data for e in events if e.type == VERDICT]),
        loop_signals=[e.data for e in events if e.type == STUCK_DETECTED],
        loop_state={k: v for k, v in (values.get("loop") or {}).items() if k != "detector"},
    )
