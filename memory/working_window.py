"""L1, the working window: the message list in graph state, kept within a token budget.

Messages are handled in *units*: an AI message that calls tools together with the tool
messages answering it is one unit, so trimming never separates a call from its result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from memory.tokens import count_message_tokens


@dataclass(frozen=True)
class Unit:
    messages: tuple[BaseMessage, ...]
    tokens: int


def units_of(messages: Sequence[BaseMessage]) -> list[Unit]:
    """Group messages into units; tool results stay with the call that asked for them."""
    groups: list[list[BaseMessage]] = []
    open_calls: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage) and message.tool_call_id in open_calls and groups:
            groups[-1].append(message)
            open_calls.discard(message.tool_call_id)
            continue
        groups.append([message])
        open_calls = (  # invalid calls are answered too (graphs.invalid_tool_calls)
            {c["id"] for c in [*message.tool_calls, *message.invalid_tool_calls] if c.get("id")}
            if isinstance(message, AIMessage)
            else set()
        )
    return [Unit(tuple(g), count_message_tokens(g)) for g in groups]


def window_tokens(messages: Sequence[BaseMessage]) -> int:
    return count_message_tokens(messages)


@dataclass(frozen=True)
class Eviction:
    evicted: list[BaseMessage]
    kept: list[BaseMessage]
    evicted_tokens: int


def select_eviction(
    messages: Sequence[BaseMessage], *, fraction: float, keep_last_units: int = 2
) -> Eviction:
    """The oldest units holding at least `fraction` of the window's tokens.

    The newest `keep_last_units` units always stay: the model must see what it just did.
    """
    units = units_of(messages)
    total = sum(u.tokens for u in units)
    target = total * fraction
    evictable = max(0, len(units) - keep_last_units)
    taken: list[Unit] = []
    tokens = 0
    for unit in units[:evictable]:
        if tokens >= target:
            break
        taken.append(unit)
        tokens += unit.tokens
    evicted = [m for u in taken for m in u.messages]
    kept = [m for u in units[len(taken) :] for m in u.messages]
    return Eviction(evicted=evicted, kept=kept, evicted_tokens=tokens)


def trim_to_budget(messages: Sequence[BaseMessage], budget: int) -> list[BaseMessage]:
    """Drop the oldest units until the window fits (the newest unit always stays)."""
    units = units_of(messages)
    total = sum(u.tokens for u in units)
    start = 0
    while total > budget and start < len(units) - 1:
        total -= units[start].tokens
        start += 1
    return [m for u in units[start:] for m in u.messages]


def render_transcript(messages: Sequence[BaseMessage], *, max_chars: int = 400) -> str:
    """A plain-text transcript for summaries and episodes."""
    lines = []
    for message in messages:
        text = " ".join(str(message.content).split())[:max_chars]
        calls = ""
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = " calls " + ", ".join(c["name"] for c in message.tool_calls)
        name = f" {message.name}" if isinstance(message, ToolMessage) and message.name else ""
        lines.append(f"[{message.type}{name}]{calls} {text}".rstrip())
    return "\n".join(lines)
