"""What came of one tool call: the content the model sees and how it came about."""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, ConfigDict

from tools import untrusted
from tools.policy import spec_tool_name

ToolStatus = Literal[
    "ok",
    "error",
    "denied",
    "unknown_outcome",
    "needs_approval",
    "replayed",
    "confirmed",
    "skipped",
]
"""ok: ran and returned; error: bad arguments, raised, timed out (a read tool), or failed
earlier; denied: unknown tool or policy deny; unknown_outcome: a side-effecting call that
timed out, lost its connection, was cancelled, or was found started but never finished:
it may or may not have taken effect, it is not repeated, and a person settles it (done /
retry / skip, tools/ledger.py); needs_approval: a new call repeating one whose outcome is
unknown (same tool, same arguments), so it runs only when approved
(`execute_tool_call(approved=True)`); replayed: an earlier attempt completed, its recorded
result is returned without running; confirmed: a person said this call took effect (its
result is their note); skipped: a person said it did not happen or must not be done."""

UnknownReason = Literal[
    "timeout", "connection_lost", "canceled", "crashed", "repeat_of_unknown_outcome"
]
"""Why an outcome is unknown: no answer in time; the connection broke mid-call; the call was
cancelled (a stop, a shutdown); found "started" on resume (the process died mid-call); a
new call repeating another whose outcome is unknown."""


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
    unknown_reason: UnknownReason | None = None  # set with status unknown_outcome

    @property
    def succeeded(self) -> bool:
        return self.status in ("ok", "replayed", "confirmed")

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
