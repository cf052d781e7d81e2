"""Calling a role's model: budget check first, a timeout, token accounting, one event.

A reply that cannot be read (structured output that does not parse, an empty `choices`
list) is asked for once more, with the parser's own message; a second such reply ends the
run with `ModelOutputError`. A role with a model cascade asks its next model instead, and
escalates a low-confidence verdict too (graphs/model_cascade.py); each move is an event.
An endpoint that fails (after the client's own retries) ends it with `ModelEndpointError`.
Both name the role, the model and its endpoint.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from graphs import model_cascade
from graphs.boundary import BudgetExhausted, NodeRun, RunStopped
from graphs.budgets import exhausted_before_model_call, model_call_timeout
from graphs.events import MODEL_CALL, MODEL_ESCALATED
from graphs.model_faults import (
    ModelEndpointError,
    ModelOutputError,
    NoChoices,
    UnreadableReply,
    one_line,
)
from graphs.model_usage import CallTokens, call_tokens, charge_model, charge_tokens, over_budget
from graphs.models import RoleModel
from graphs.state import Usage

READ_ATTEMPTS = 2  # an unreadable reply is asked for once more, then the run fails
REASK = (
    "Your previous answer could not be read: {problem}\n"
    "Answer again: call {name} once, with arguments that are one JSON object matching its "
    "schema."
)


@dataclass
class ModelReply:
    message: AIMessage
    parsed: Any  # the structured output, when a schema was given
    usage: Usage


@dataclass(frozen=True)
class _Request:
    role: str
    tools: list[BaseTool] | None
    schema: type | None
    hints: dict[str, Any] | None
    boost: float
    model: RoleModel  # the cascade's model this attempt asks
    cascaded: bool  # the role has a cascade: each model keeps its own script cursor


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
    """One model call for `role` (more when a reply cannot be read or a cascade escalates),
    charged to the run's budgets."""
    usage = usage or run.usage()
    chain = run.deps.models.cascade(role)
    config = run.deps.spec.model
    start = model_cascade.start_level(run.state, role, config, len(chain))
    level = start.level
    if level:
        await _escalate(
            run, role, chain[0], chain[level], usage, model_cascade.REVISIONS, start.detail
        )
    asked, problem, attempts, tries = list(messages), "", 0, 0
    unsure_reply: tuple[ModelReply, RoleModel] | None = None  # readable, kept if all else fails
    while tries < READ_ATTEMPTS:
        request = _Request(
            role, tools, schema, hints, temperature_boost, chain[level], len(chain) > 1
        )
        attempts, tries = attempts + 1, tries + 1
        try:
            reply = await _attempt(run, request, asked, usage)
        except ModelEndpointError as exc:
            if unsure_reply is None:
                raise
            return await _fall_back(run, role, chain[level], unsure_reply, usage, exc.problem)
        except UnreadableReply as exc:
            problem = exc.problem
            if level + 1 < len(chain):  # the next model, before asking this one again
                await _escalate(
                    run, role, chain[level], chain[level + 1], usage, model_cascade.PARSE, problem
                )
                level, asked, tries = level + 1, list(messages), 0
            elif schema is not None:  # say what was wrong; a plain reply is simply asked again
                reask = REASK.format(problem=problem, name=schema.__name__)
                asked = [*messages, HumanMessage(reask)]
            continue
        unsure = model_cascade.low_confidence(reply.parsed, config)
        if unsure is None or level + 1 == len(chain):
            return reply
        await _escalate(
            run, role, chain[level], chain[level + 1], usage, model_cascade.LOW_CONFIDENCE, unsure
        )
        unsure_reply = (reply, chain[level])
        level, asked, tries = level + 1, list(messages), 0
    if unsure_reply is not None:  # a stronger model failed to answer: the unsure answer stands
        return await _fall_back(run, role, chain[level], unsure_reply, usage, problem)
    wanted = f"readable {schema.__name__}" if schema is not None else "readable reply"
    raise ModelOutputError(
        chain[level].describe(), f"no {wanted} in {attempts} attempts: {problem}", usage
    )


async def _fall_back(
    run: NodeRun,
    role: str,
    failed: RoleModel,
    kept: tuple[ModelReply, RoleModel],
    usage: Usage,
    problem: str,
) -> ModelReply:
    """A model escalated to gave no usable answer: keep the readable, less sure one."""
    reply, source = kept
    data = model_cascade.escalation_event(
        role, failed.label, source.label, model_cascade.FALL_BACK, problem
    )
    index = usage["model_calls"].get(role, 0)
    await run.deps.channel.emit(MODEL_ESCALATED, data, key=f"fell_back:{role}:{index}")
    return ModelReply(reply.message, reply.parsed, usage)


async def _escalate(
    run: NodeRun,
    role: str,
    source: RoleModel,
    target: RoleModel,
    usage: Usage,
    reason: str,
    detail: str | None,
) -> None:
    """Record that a call moves from `source` to `target` in the role's cascade."""
    data = model_cascade.escalation_event(role, source.label, target.label, reason, detail)
    index = usage["model_calls"].get(role, 0)  # the attempt it leads to
    await run.deps.channel.emit(MODEL_ESCALATED, data, key=f"escalated:{role}:{index}")


async def _attempt(
    run: NodeRun, request: _Request, messages: list[BaseMessage], usage: Usage
) -> ModelReply:
    deps, role, role_model = run.deps, request.role, request.model
    if budget := exhausted_before_model_call(usage, deps.budgets, run.elapsed()):
        raise BudgetExhausted(budget, usage)

    model, schemas = _bound_model(deps, request)
    index = usage["model_calls"].get(role, 0)
    usage["model_calls"][role] = index + 1  # every attempt moves the (scripted) cursor
    cursor = _cascade_cursor(usage, request) if request.cascaded else index
    charge_model(usage, role_model.label, role)
    config = {
        "metadata": {
            "wakeful_role": role,
            "wakeful_call": cursor,
            "wakeful_hints": request.hints or {},
        },
        "run_name": f"wakeful.{role}",
    }
    timeout = model_call_timeout(usage, deps.budgets, run.elapsed())
    started = time.monotonic()
    try:
        result = await _invoke(model, messages, config, timeout, deps.extras.get("stop_event"))
    except TimeoutError:
        capped = timeout < deps.budgets.iteration_timeout_seconds
        raise BudgetExhausted(
            "max_runtime_seconds" if capped else "iteration_timeout_seconds", usage
        ) from None
    except RunStopped:
        raise
    except NoChoices as exc:
        await _record(run, request, index, started, usage, error=str(exc))
        raise UnreadableReply(str(exc)) from None
    except Exception as exc:  # whatever the client raised: say who failed, and why
        problem = f"request failed: {type(exc).__name__}: {one_line(str(exc))}"
        await _record(run, request, index, started, usage, error=problem)
        raise ModelEndpointError(role_model.describe(), problem, usage) from exc

    message, parsed, problem = _read(result, request.schema)
    tokens = call_tokens(messages, message, schemas)
    usage["tokens"] += tokens.total
    charge_tokens(usage, role_model.label, tokens, role_model.price)
    await _record(
        run, request, index, started, usage, message=message, tokens=tokens, error=problem
    )
    if problem is not None:
        raise UnreadableReply(problem)
    return ModelReply(message=message, parsed=parsed, usage=usage)


def _cascade_cursor(usage: Usage, request: _Request) -> int:
    """A cascade model's own call count for the role, `model_calls["<role>:<label>"]`: each
    model of a cascade replays its own script from its own cursor (`model_calls[role]`
    counts the role's attempts over all its models)."""
    key = f"{request.role}:{request.model.label}"
    cursor = usage["model_calls"].get(key, 0)
    usage["model_calls"][key] = cursor + 1
    return cursor


def _read(result: Any, schema: type | None) -> tuple[AIMessage, Any, str | None]:
    """The reply message, its structured output, and why that could not be read (or None)."""
    if schema is None:
        return result, None, None
    message, parsed = result["raw"], result["parsed"]
    if parsed is not None:
        return message, parsed, None
    if (error := result.get("parsing_error")) is not None:
        return message, None, one_line(str(error))
    for call in message.invalid_tool_calls:  # arguments that are not JSON
        return message, None, one_line(call.get("error") or f"{call.get('name')}: unparseable")
    said = message.text.strip() if isinstance(message.text, str) else ""
    answer = f"; it answered: {one_line(said, 200)!r}" if said else ""
    return message, None, f"the reply did not call {schema.__name__}{answer}"


async def _record(
    run: NodeRun,
    request: _Request,
    index: int,
    started: float,
    usage: Usage,
    *,
    message: AIMessage | None = None,
    tokens: CallTokens | None = None,
    error: str | None = None,
) -> None:
    """The call's `model_call` event: what it cost (and whether that was estimated), what it
    asked for, and what went wrong."""
    role = request.role
    data: dict[str, Any] = {
        "role": role,
        "model": request.model.label,
        "tokens": tokens.total if tokens else 0,
        "input_tokens": tokens.input if tokens else 0,
        "output_tokens": tokens.output if tokens else 0,
        "usage_estimated": tokens.estimated if tokens else False,
        "tool_calls": [c["name"] for c in message.tool_calls] if message else [],
        "ms": round((time.monotonic() - started) * 1000, 1),
    }
    if message is not None and message.invalid_tool_calls:
        data["invalid_tool_calls"] = [c.get("name") for c in message.invalid_tool_calls]
    if overshoot := over_budget(usage, run.deps.budgets):
        data["over_budget"] = overshoot
    if error is not None:
        data["error"] = error
    await run.deps.channel.emit(MODEL_CALL, data, key=f"model:{role}:{index}")


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


def _bound_model(deps: Any, request: _Request) -> tuple[Any, list[dict[str, Any]]]:
    """The role's model with tools / structured output bound, built once and reused, and
    the function schemas it sends (for counting tokens offline).

    Binding converts every tool schema to JSON schema; doing it on each call was a
    measurable share of a scripted run's time.
    """
    schemas = tuple(_tool_schema(t) for t in request.tools or ())
    names = tuple(s["function"]["name"] for s in schemas)
    role_model = request.model
    key = (request.role, role_model.label, names, request.schema, round(request.boost, 3))
    cache = deps.models.bound
    if key in cache:
        return cache[key]
    model: Any = role_model.model
    if request.boost and not role_model.scripted:
        temperature = min(2.0, role_model.temperature + request.boost)
        model = model.model_copy(update={"temperature": temperature})
    sent = list(schemas)
    if schemas:
        model = model.bind_tools(sent)
    if request.schema is not None:
        model = model.with_structured_output(
            request.schema, include_raw=True, method="function_calling"
        )
        sent.append(convert_to_openai_tool(request.schema))
    cache[key] = (model, sent)
    return model, sent


_SCHEMAS: dict[tuple, dict[str, Any]] = {}


def _tool_schema(tool: BaseTool) -> dict[str, Any]:
    """A tool's OpenAI function schema, converted once per distinct tool definition."""
    key = (
        tool.name,
        tool.description,
        tool.args_schema if isinstance(tool.args_schema, type) else repr(tool.args_schema),
    )
    if key not in _SCHEMAS:
        _SCHEMAS[key] = convert_to_openai_tool(tool)
    return _SCHEMAS[key]
