"""What a task's checkpoint history says: the node path and every message the run held.

The final state alone is not enough: a stuck reset purges the message window, so messages
are collected from every checkpoint (by id, in order of first appearance) and flagged
when the final state no longer holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.types import StateSnapshot

from evals.trace import jsonable

START = "__start__"
INTERRUPT = "__interrupt__"
_ROLES = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system"}


def chronological(snapshots: Sequence[StateSnapshot]) -> list[StateSnapshot]:
    """Oldest first. Every function here takes the snapshots as `aget_state_history`
    lists them: newest first."""
    return list(reversed(snapshots))


def node_path(snapshots: Sequence[StateSnapshot]) -> list[str]:
    """The nodes that ran, in order; a node interrupted and resumed counts once."""
    path: list[str] = []
    for snapshot in chronological(snapshots):
        path.extend(task.name for task in snapshot.tasks if task.name != START)
    return path


def interrupts(snapshots: Sequence[StateSnapshot]) -> list[dict[str, Any]]:
    """Where the run waited: checkpoint step, node and the interrupt's payload."""
    found = []
    for snapshot in chronological(snapshots):
        for task in snapshot.tasks:
            for interrupt in task.interrupts:
                found.append(
                    {
                        "step": (snapshot.metadata or {}).get("step"),
                        "node": task.name,
                        "id": interrupt.id,
                        "value": jsonable(interrupt.value),
                    }
                )
    return found


def graph_steps(snapshots: Sequence[StateSnapshot]) -> list[list[str]]:
    """The graph trajectory `steps` in agentevals' form: one list per invocation, split
    where the run was interrupted (marked `__interrupt__`); the first starts `__start__`.

    (agentevals' own extractor needs a message in the final state, which a run stopped
    before its first model call does not have.)"""
    steps: list[list[str]] = [[]]
    for snapshot in chronological(snapshots):
        for task in snapshot.tasks:
            steps[-1].append(task.name)
            if task.interrupts:
                steps[-1].append(INTERRUPT)
                steps.append([])
    return [s for s in steps if s]


def all_messages(snapshots: Sequence[StateSnapshot]) -> list[dict[str, Any]]:
    """Every message any checkpoint held, in order of first appearance."""
    ordered = chronological(snapshots)
    final_ids = {m.id for m in _messages(ordered[-1])} if ordered else set()
    seen: dict[str, BaseMessage] = {}
    for snapshot in ordered:
        for message in _messages(snapshot):
            key = message.id or f"anon-{len(seen)}"
            seen.setdefault(key, message)
    return [
        message_record(index, message, in_final_state=message.id in final_ids)
        for index, message in enumerate(seen.values())
    ]


def _messages(snapshot: StateSnapshot) -> list[BaseMessage]:
    values = snapshot.values if isinstance(snapshot.values, dict) else {}
    return [m for m in values.get("messages", []) if isinstance(m, BaseMessage)]


def message_record(index: int, message: BaseMessage, *, in_final_state: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": index,
        "id": message.id,
        "role": _ROLES.get(message.type, message.type),
        "content": jsonable(message.content),
        "name": message.name,
        "in_final_state": in_final_state,
        "additional_kwargs": jsonable(
            {k: v for k, v in message.additional_kwargs.items() if k != "tool_calls"}
        ),
    }
    if isinstance(message, AIMessage):
        record["tool_calls"] = [
            {"id": c.get("id"), "name": c["name"], "args": jsonable(c.get("args", {}))}
            for c in message.tool_calls
        ]
        record["usage_metadata"] = jsonable(message.usage_metadata or {})
        record["response_metadata"] = jsonable(message.response_metadata or {})
    if isinstance(message, ToolMessage):
        record["tool_call_id"] = message.tool_call_id
        record["status"] = message.status
    return record


def final_state(snapshots: Sequence[StateSnapshot]) -> dict[str, Any]:
    """The last checkpoint's values without the messages (those are exported one by one)."""
    ordered = chronological(snapshots)
    if not ordered or not isinstance(ordered[-1].values, dict):
        return {}
    return jsonable({k: v for k, v in ordered[-1].values.items() if k != "messages"})
