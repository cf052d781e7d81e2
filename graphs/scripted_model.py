"""A real LangChain chat model that replays scripted responses, for demos and tests.

It supports `bind_tools` and structured output like any provider model. Which response
comes next is decided by the caller's per-role call counter (passed in the run metadata as
`wakeful_call`, and checkpointed with the graph state), so a resumed run replays from
where it stopped. When a role's script is used up (or absent) the heuristic default
script in `graphs.heuristic_script` answers. Every response is labelled as scripted.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from graphs.heuristic_script import ToolInfo, heuristic_response
from graphs.script import RoleScript, ScriptedResponse
from memory.tokens import count_message_tokens

SCRIPTED_MODEL_NAME = "scripted"


class ScriptedModelError(RuntimeError):
    """A scripted response asked the model call to fail."""


def _tool_info(tool: Any) -> ToolInfo:
    """Name and scope of a bound tool (scope from BaseTool.metadata, else unknown)."""
    if isinstance(tool, BaseTool):
        scope = (tool.metadata or {}).get("scope", "unknown")
        return ToolInfo(name=tool.name, scope=str(scope))
    if isinstance(tool, dict):  # an agent tool, already in OpenAI format
        return ToolInfo(name=convert_to_openai_tool(tool)["function"]["name"], scope="unknown")
    name = convert_to_openai_tool(tool)["function"]["name"]
    return ToolInfo(name=name, scope="structured")


class ScriptedChatModel(BaseChatModel):
    """Replays `script` for one `role`, then falls back to the heuristic script."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    role: str
    script: RoleScript | None = None
    heuristic: Callable[..., AIMessage] = heuristic_response
    _fallback_counter: itertools.count = PrivateAttr(default_factory=itertools.count)

    @property
    def _llm_type(self) -> str:
        return SCRIPTED_MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"role": self.role, "scripted": True}

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        infos = [_tool_info(t) for t in tools]
        return self.bind(tools=formatted, tool_infos=infos, tool_choice=tool_choice, **kwargs)

    def with_structured_output(  # type: ignore[override]
        self, schema: Any, *, include_raw: bool = False, method: str | None = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        # Structured output rides on tool calling, as for provider models; `method` is moot.
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._respond(messages, run_manager.metadata if run_manager else {}, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Replaying is CPU-cheap: answer on the loop instead of hopping to a thread.
        metadata = run_manager.metadata if run_manager else {}
        latency = self._latency(metadata)
        if latency:
            await asyncio.sleep(latency)  # a simulated slow model, cancellable by timeouts
        return self._respond(messages, metadata, kwargs)

    def _latency(self, metadata: dict[str, Any]) -> float:
        index = metadata.get("wakeful_call")
        if self.script is None or index is None:
            return 0.0
        response = self.script.response_at(int(index))
        return response.latency_seconds if response is not None else 0.0

    def _respond(
        self, messages: list[BaseMessage], metadata: dict[str, Any], kwargs: dict[str, Any]
    ) -> ChatResult:
        index = metadata.get("wakeful_call")
        if index is None:
            index = next(self._fallback_counter)
        hints = metadata.get("wakeful_hints") or {}
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        infos: list[ToolInfo] = kwargs.get("tool_infos") or []

        scripted = self.script.response_at(int(index)) if self.script else None
        if scripted is None:
            message = self.heuristic(self.role, messages, infos, hints)
        else:
            message = self._from_script(scripted, tools)

        input_tokens = count_message_tokens(messages)
        output_tokens = count_message_tokens([message])
        if scripted is not None and scripted.tokens is not None:
            output_tokens = scripted.tokens
        message.usage_metadata = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        message.response_metadata = {
            "model_name": SCRIPTED_MODEL_NAME,
            "scripted": True,
            "role": self.role,
            "script_index": int(index),
            "source": "script" if scripted is not None else "heuristic",
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _from_script(self, response: ScriptedResponse, tools: list[dict[str, Any]]) -> AIMessage:
        if response.error:
            raise ScriptedModelError(response.error)
        calls = [(c.name, c.raw_args if c.raw_args is not None else c.args, c.id)
                 for c in response.tool_calls]
        if response.structured is not None:
            if not tools:
                raise ScriptedModelError(
                    f"scripted {self.role} response has `structured` but no schema was bound"
                )
            calls.append((tools[0]["function"]["name"], response.structured, None))
        tool_calls, invalid = [], []
        for name, args, call_id in calls:
            call_id = call_id or f"call_{uuid.uuid4().hex[:12]}"
            if not isinstance(args, str):
                tool_calls.append({"name": name, "args": args, "id": call_id})
                continue
            # Raw arguments are parsed the way ChatOpenAI parses a provider's, failures too.
            wire = {"id": call_id, "function": {"name": name, "arguments": args}}
            try:
                tool_calls.append(parse_tool_call(wire, return_id=True))
            except OutputParserException as exc:
                invalid.append(make_invalid_tool_call(wire, str(exc)))
        return AIMessage(content=response.text, tool_calls=tool_calls, invalid_tool_calls=invalid)
