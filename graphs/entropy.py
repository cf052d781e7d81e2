"""The entropy monitor's view of a run: new messages, plans and completed steps become
observations for the loop detector (graphs/loops), whose state lives in `loop["detector"]`.

The monitor runs after every tool round and every verdict; each time it reads only what it
has not seen (messages by id), so the record survives the message purge of a stuck reset
and L2 compaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from graphs.loops import Detection, LoopDetector, Observation
from graphs.spec import EntropyConfig
from graphs.state import AgentState
from tools.policy import spec_tool_name

if TYPE_CHECKING:
    from memory.embeddings import Embedder

WINDOW = 24  # recent hashes kept in state (tools node)


def remember(items: list[str], item: str) -> list[str]:
    return [*items, item][-WINDOW:]


def _short(message_id: str) -> str:
    return message_id[-12:]


def _text(message: BaseMessage) -> str:
    text = message.text
    return text if isinstance(text, str) else str(text)


def message_observations(messages: list[BaseMessage], seen: set[str]) -> list[Observation]:
    """Observations from the messages not seen yet: each tool call joined with its
    result (the thought goes with the first call of a turn), each answer without calls."""
    calls: dict[str, tuple[dict[str, Any], str]] = {}
    found: list[Observation] = []
    for message in messages:
        if message.id and _short(message.id) in seen:
            continue
        if isinstance(message, AIMessage):
            thought = _text(message).strip()
            # calls whose arguments could not be read are answered too: they count alike
            made = [*message.tool_calls, *message.invalid_tool_calls]
            for call in made:
                calls[call.get("id") or ""] = (dict(call), thought)
                thought = ""
            if not made and thought:
                found.append(Observation.text(thought))
        elif isinstance(message, ToolMessage) and message.tool_call_id in calls:
            call, thought = calls.pop(message.tool_call_id)
            found.append(
                Observation.call(
                    spec_tool_name(call.get("name") or message.name or "?"),
                    call.get("args") or {},
                    _text(message),
                    error=message.status == "error",
                    thought=thought,
                )
            )
    return found


def state_observations(state: AgentState, cursor: dict[str, Any]) -> list[Observation]:
    """What happened since the monitor last ran: a new plan, turns, completed steps."""
    plan = state.get("plan") or []
    found: list[Observation] = []
    plan_key = [state.get("replans", 0), [s["description"] for s in plan]]
    if plan and plan_key != cursor.get("plan"):
        pending = [s["description"] for s in plan if s["status"] == "pending"]
        found.append(Observation.plan_of(pending))
        cursor["plan"] = plan_key
    messages = state.get("messages") or []
    found += message_observations(messages, set(cursor.get("ids", [])))
    # Every message in the window has now been seen; ids outside it never come back.
    cursor["ids"] = [_short(m.id) for m in messages if m.id]
    done = [s["id"] for s in plan if s["status"] == "done"]
    for step in done:
        if step not in cursor.get("done", []):
            found.append(Observation.step(step))
    cursor["done"] = done
    return found


def embed_with(embedder: Embedder | None) -> Callable[[list[str]], np.ndarray] | None:
    return embedder.embed if embedder is not None else None


def check(
    state: AgentState, config: EntropyConfig, embedder: Embedder | None
) -> tuple[Detection | None, dict[str, Any]]:
    """Feed the detector what is new; the first loop found and the detector's new state."""
    saved = dict(state["loop"].get("detector") or {})
    cursor = dict(saved.pop("cursor", {}))
    detector = LoopDetector.from_state(saved, config, embed_with(embedder))
    found = detector.observe_all(state_observations(state, cursor))
    return (found[0] if found else None), {**detector.to_state(), "cursor": cursor}


def after_reset(detector_state: dict[str, Any], config: EntropyConfig) -> dict[str, Any]:
    """The detector's state after a stuck reset: fingerprints kept, the reset marked."""
    saved = dict(detector_state)
    cursor = saved.pop("cursor", {})
    detector = LoopDetector.from_state(saved, config)
    detector.observe(Observation.reset())
    return {**detector.to_state(), "cursor": cursor}

