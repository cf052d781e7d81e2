"""Calling a role's model: budget check first, a timeout, token accounting, one event."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from graphs.boundary import BudgetExhausted, NodeRun, RunStopped
from graphs.budgets import exhausted_before_model_call, model_call_timeout
from graphs.events import MODEL_CALL
from graphs.state import Usage


@dataclass
class ModelReply:
    message: AIMessage
    parsed: Any  # the structured output, when a schema was given
    usage: Usage


async def call_model(
    run: NodeRun,
    role: str,
    messages: list[BaseMessage],
    *,
    usage: Usage | None = None,
    tools: list[BaseTool] | None = None,
    schema: type | None = None,
    hints: dict[str, Any] | None = None,
    temperature_boost: float = 0.0,
) -> ModelReply:
    """One model call for `role`, charged to the run's budgets."""
    deps = run.deps
    usage = usage or run.usage()
    if budget := exhausted_before_model_call(usage, deps.budgets, run.elapsed()):
        raise BudgetExhausted(budget, usage)

    model = _bound_model(deps, role, tools, schema, temperature_boost)
    index = usage["model_calls"].get(role, 0)
    config = {
        "metadata": {"wakeful_role": role, "wakeful_call": index, "wakeful_hints": hints or {}},
        "run_name": f"wakeful.{role}",
    }
    timeout = model_call_timeout(usage, deps.budgets, run.elapsed())
    started = time.monotonic()
    try:
        result = await _invoke(model, messages, config, timeout, deps.extras.get("stop_event"))
    except TimeoutError:
        usage["model_calls"][role] = index + 1
        capped = timeout < deps.budgets.iteration_timeout_seconds
        raise BudgetExhausted(
            "max_runtime_seconds" if capped else "iteration_timeout_seconds", usage
        ) from None

    if schema is not None:
        message, parsed = result["raw"], result["parsed"]
    else:
        message, parsed = result, None
    tokens = (message.usage_metadata or {}).get("total_tokens", 0)
    usage["tokens"] += tokens
    usage["model_calls"][role] = index + 1
    await deps.channel.emit(
        MODEL_CALL,
        {
            "role": role,
            "model": deps.models[role].label,
            "tokens": tokens,
            "input_tokens": (message.usage_metadata or {}).get("input_tokens", 0),
            "output_tokens": (message.usage_metadata or {}).get("output_tokens", 0),
            "tool_calls": [c["name"] for c in message.tool_calls],
            "ms": round((time.monotonic() - started) * 1000, 1),
        },
        key=f"model:{role}:{index}",
    )
    return ModelReply(message=message, parsed=parsed, usage=usage)


async def _invoke(
    model: Any,
    messages: list[BaseMessage],
    config: dict[str, Any],
    timeout: float,
    stop_event: asyncio.Event | None,
) -> Any:
    """The model call, cut short by its timeout or by the run's stop event.

    A model call has no side effects, so abandoning it on cancel is safe; tool calls are
    never interrupted this way (a write must finish and reach the ledger).
    """
    if stop_event is None:
        async with asyncio.timeout(timeout):
            return await model.ainvoke(messages, config=config)
    call = asyncio.ensure_future(model.ainvoke(messages, config=config))
    stopped = asyncio.ensure_future(stop_event.wait())
    try:
        done, _ = await asyncio.wait(
            {call, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for future in (call, stopped):
            if not future.done():
                future.cancel()
    if call in done:
        return call.result()
    if stopped in done:
        raise RunStopped
    raise TimeoutError


def _bound_model(
    deps: Any, role: str, tools: list[BaseTool] | None, schema: type | None, boost: float
) -> Any:
    """The role's model with tools / structured output bound, built once and reused.

    Binding converts every tool schema to JSON schema; doing it on each call was a
    measurable share of a scripted run's time.
    """
    schemas = tuple(_tool_schema(t) for t in tools or ())
    key = (role, tuple(s["function"]["name"] for s in schemas), schema, round(boost, 3))
    cache = deps.models.bound
    if key in cache:
        return cache[key]
    role_model = deps.models[role]
    model: Any = role_model.model
    if boost and not role_model.scripted:
        model = model.model_copy(update={"temperature": min(2.0, role_model.temperature + boost)})
    if schemas:
        model = model.bind_tools(list(schemas))
    if schema is not None:
        model = model.with_structured_output(schema, include_raw=True, method="function_calling")
    cache[key] = model
    return model


_SCHEMAS: dict[tuple, dict[str, Any]] = {}


def _tool_schema(tool: BaseTool) -> dict[str, Any]:
    """A tool's OpenAI function schema, converted once per distinct tool definition."""
    key = (tool.name, tool.description, tool.args_schema if isinstance(tool.args_schema, type)
           else repr(tool.args_schema))
    if key not in _SCHEMAS:
        _SCHEMAS[key] = convert_to_openai_tool(tool)
    return _SCHEMAS[key]
