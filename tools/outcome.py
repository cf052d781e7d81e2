"""What came of one tool call: the content the model sees and how it came about."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, ConfigDict

from tools import untrusted
from tools.policy import spec_tool_name

ToolStatus = Literal["ok", "error", "denied", "unknown_outcome", "needs_approval", "replayed"]
"""ok: ran and returned; error: bad arguments, raised, or timed out; denied: unknown tool or
policy deny; unknown_outcome: an earlier attempt of this call started but never finished, not
repeated; needs_approval: an earlier call of the same tool with the same arguments has an
unknown outcome, so this one runs only when approved (`execute_tool_call(approved=True)`);
replayed: an earlier attempt completed, its recorded result is returned without running."""


class ToolOutcome(BaseModel):
    """The result of `execute_tool_call`. Errors are content for the model, not exceptions."""

    model_config = ConfigDict(frozen=True)

    tool_call_id: str | None
    name: str
    content: str
    status: ToolStatus
    duration_ms: int
    args_hash: str
    attempts: int  # how many times the tool body was started in this call (0 if never)

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "replayed")

    @property
    def from_tool(self) -> bool:
        """Whether `content` came from the tool (untrusted) rather than from the runtime."""
        return self.status == "replayed" or self.attempts > 0

    def to_message(self) -> ToolMessage:
        """The ToolMessage answering the model's tool call.

        Text the tool produced is wrapped as untrusted data (tools/untrusted.py); the
        runtime's own refusals and argument errors are not.
        """
        content = self.content
        if self.from_tool:
            content = untrusted.wrap(spec_tool_name(self.name), content)
        return ToolMessage(
            content=content,
            tool_call_id=self.tool_call_id or "",
            name=self.name,
            status="success" if self.succeeded else "error",
        )
