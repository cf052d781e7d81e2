"""ChatOpenAI that reads every answer it can and says plainly what it cannot.

LangChain fails a whole reply on two kinds of malformed output: tool-call arguments that
are JSON but not an object (`[1, 2]`, `"x"`: a pydantic error while building the message)
and an empty `choices` list (a bare IndexError further up; a proxy's content filter or an
overloaded vLLM answers 200 like that). The first become invalid tool calls, like
arguments that are not JSON at all, so the model is told (graphs.invalid_tool_calls); the
second raises `NoChoices`, which graphs.model_calls asks again about.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from langchain_core.messages import AIMessage
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI

from graphs.model_faults import NoChoices


class CheckedChatOpenAI(ChatOpenAI):
    def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> ChatResult:
        response, set_aside = _set_aside_non_object_arguments(response)
        result = super()._create_chat_result(response, generation_info)
        if not result.generations:
            raise NoChoices(NoChoices.__doc__)
        for index, calls in set_aside.items():
            message = result.generations[index].message
            if isinstance(message, AIMessage):
                message.invalid_tool_calls = [*message.invalid_tool_calls, *calls]
        return result


def _not_an_object(arguments: Any) -> str | None:
    """Why these arguments cannot be a call's arguments though they parse, or None."""
    try:
        value = json.loads(arguments) if isinstance(arguments, str) and arguments else None
    except ValueError:
        return None  # not JSON at all: LangChain itself makes it an invalid call
    if value is None or isinstance(value, dict):
        return None
    return f"the arguments must be a JSON object, not a JSON {type(value).__name__}"


def _set_aside_non_object_arguments(response: Any) -> tuple[Any, dict[int, list[Any]]]:
    """The response without tool calls whose arguments are not an object, and those calls
    as invalid tool calls per choice index (the response is untouched when there are none)."""
    if isinstance(response, openai.BaseModel):
        data = response.model_dump(warnings=False)
    elif isinstance(response, dict):
        data = response
    else:
        return response, {}
    set_aside: dict[int, list[Any]] = {}
    choices = [dict(c) for c in data.get("choices") or []]
    for index, choice in enumerate(choices):
        message = dict(choice.get("message") or {})
        kept = []
        for call in message.get("tool_calls") or []:
            problem = _not_an_object((call.get("function") or {}).get("arguments"))
            if problem is None:
                kept.append(call)
            else:
                set_aside.setdefault(index, []).append(make_invalid_tool_call(call, problem))
        message["tool_calls"] = kept or None
        choice["message"] = message
    if not set_aside:
        return response, {}
    return {**data, "choices": choices}, set_aside
