"""The tokens one model call cost: as the server reported them, or counted offline.

A server that reports no `usage` (many OpenAI-compatible ones, some only when streaming)
must not make the call free, or `max_tokens` never stops a run. Such calls are counted
with the offline tokenizer of the working window (memory.tokens) and marked estimated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage

from graphs.budgets import Budgets
from graphs.state import Usage
from memory.tokens import count_message_tokens, count_text_tokens

if TYPE_CHECKING:
    from graphs.spec import ModelPrice


@dataclass(frozen=True)
class CallTokens:
    input: int
    output: int
    total: int  # what is charged: the server's own total when it reported one
    estimated: bool  # True: the server reported none; counted offline


def call_tokens(
    messages: list[BaseMessage], reply: AIMessage, tool_schemas: list[dict[str, Any]]
) -> CallTokens:
    """What the call cost: the server's figures, or an offline count of what went each way.

    A reported total of 0 is taken as "not reported": no real call is free.
    """
    reported = reply.usage_metadata or {}
    if total := int(reported.get("total_tokens") or 0):
        input_tokens = int(reported.get("input_tokens") or 0)
        output = int(reported.get("output_tokens") or total - input_tokens)
        return CallTokens(input_tokens, output, total, estimated=False)
    schemas = count_text_tokens(json.dumps(tool_schemas, sort_keys=True)) if tool_schemas else 0
    invalid = sum(
        count_text_tokens(str(call.get("name") or "")) + count_text_tokens(str(call.get("args")))
        for call in reply.invalid_tool_calls
    )
    input_tokens = count_message_tokens(messages) + schemas
    output = count_message_tokens([reply]) + invalid
    return CallTokens(input_tokens, output, input_tokens + output, estimated=True)


def over_budget(usage: Usage, budgets: Budgets) -> dict[str, Any] | None:
    """How far the tokens spent so far went past `max_tokens`, or None.

    Budgets are checked before a call; one reply can still go past, and the record says
    by how much (the next call is refused with these same, unclamped figures).
    """
    if usage["tokens"] <= budgets.max_tokens:
        return None
    return {
        "budget": "max_tokens",
        "used": usage["tokens"],
        "limit": budgets.max_tokens,
        "over_by": usage["tokens"] - budgets.max_tokens,
    }


def charge_model(usage: Usage, label: str, role: str) -> None:
    """Count one call of the model `label` for `role` in `usage["by_model"]`; its tokens
    (and their cost, when the model has a price) follow with `charge_tokens`.

    `usage["tokens"]` stays the task's total, which budgets charge; this is the breakdown.
    Entries are replaced, never changed in place: the usage a node read stays as it was.
    """
    by_model = dict(usage.get("by_model") or {})
    entry = dict(
        by_model.get(label)
        or {"calls": 0, "input_tokens": 0, "output_tokens": 0, "tokens": 0, "roles": {}}
    )
    roles = dict(entry["roles"])
    roles[role] = int(roles.get(role, 0)) + 1
    entry.update(calls=entry["calls"] + 1, roles=roles)
    by_model[label] = entry
    usage["by_model"] = by_model


def charge_tokens(
    usage: Usage, label: str, tokens: CallTokens, price: ModelPrice | None = None
) -> None:
    """Add a reply's tokens (and their cost, USD) to the model's entry in `by_model`."""
    by_model = dict(usage.get("by_model") or {})
    entry = dict(by_model[label])
    entry["input_tokens"] += tokens.input
    entry["output_tokens"] += tokens.output
    entry["tokens"] += tokens.total
    if price is not None:
        cost = (tokens.input * price.input + tokens.output * price.output) / 1_000_000
        entry["cost_usd"] = round(float(entry.get("cost_usd", 0.0)) + cost, 9)
    by_model[label] = entry
    usage["by_model"] = by_model
