"""Tool calls whose arguments could not be read: answered with an error the model sees.

LangChain puts a call whose arguments are not JSON in `AIMessage.invalid_tool_calls`. The
assistant message still carries it (ChatOpenAI sends it back as a tool call), so an
OpenAI-style server refuses the next request unless a tool message answers it. Each such
call gets an error ToolMessage under its id, a `tool_call` event with status `invalid`,
and the same loop-state records as a failing tool, so the repeated-error signal counts it.
Nothing runs, so it is not charged to `max_tool_calls`; worker turns bound the retries.
"""

from __future__ import annotations

import uuid

from langchain_core.messages import AIMessage, ToolMessage

from graphs.boundary import NodeRun
from graphs.entropy import remember
from graphs.events import TOOL_CALL
from graphs.model_faults import one_line
from graphs.state import LoopState
from tools.arguments import args_hash
from tools.policy import spec_tool_name

INVALID = "invalid"  # the tool_call event status of a call that could not be read
# LangChain's streamed parser gives no reason; it refuses only arguments that are no object.
NOT_AN_OBJECT = "the arguments are not a JSON object"
INVALID_ARGUMENTS = (
    "Your call of {name} was not run: its arguments could not be read ({error}). "
    "Call it again with arguments that are one JSON object matching its schema."
)


def with_call_ids(message: AIMessage) -> AIMessage:
    """The message with an id on every invalid call: an answer needs an id to refer to."""
    if all(call.get("id") for call in message.invalid_tool_calls):
        return message
    calls = [
        {**call, "id": call.get("id") or f"call_invalid_{uuid.uuid4().hex[:12]}"}
        for call in message.invalid_tool_calls
    ]
    return message.model_copy(update={"invalid_tool_calls": calls})


def _answer(call: dict) -> ToolMessage:
    name = call.get("name") or "a tool"
    error = one_line(call.get("error") or NOT_AN_OBJECT, 400)
    return ToolMessage(
        content=INVALID_ARGUMENTS.format(name=name, error=error),
        tool_call_id=call["id"],
        name=call.get("name") or "",
        status="error",
    )


async def answer_invalid_calls(
    run: NodeRun, message: AIMessage, loop: LoopState
) -> tuple[list[ToolMessage], LoopState]:
    """An error answer per invalid call, its event, and the loop state that remembers it."""
    loop = LoopState(**loop)  # type: ignore[typeddict-item]
    answers = []
    for call in message.invalid_tool_calls:
        answer = _answer(call)
        answers.append(answer)
        name = call.get("name") or ""
        digest = args_hash({"raw_arguments": call.get("args")})
        signature = f"{name}#{digest}"
        if signature not in loop["tool_hashes"]:
            loop["compactions"] = 0  # something new happened: compaction is not churn
        loop["tool_hashes"] = remember(loop["tool_hashes"], signature)
        error = args_hash({"error": str(answer.content)[:300]})
        loop["errors"] = remember(loop["errors"], f"{name}#{error}")
        await run.deps.channel.emit(
            TOOL_CALL,
            {
                "tool": spec_tool_name(name),
                "args_hash": digest,
                "status": INVALID,
                "error": one_line(call.get("error") or NOT_AN_OBJECT, 1000),
                "duration_ms": 0,
                "attempts": 0,
                "tool_call_id": call["id"],
                "step": run.state["current_step"],
                "approval": None,
            },
            key=f"tool:{call['id']}",
        )
    return answers, loop
