"""Approval of risky tool calls: the interrupt payload and the decisions that resume it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

Action = Literal["approve", "reject", "edit"]


class ApprovalDecision(BaseModel):
    """What a person (CLI, API or Studio) answers to an approval interrupt."""

    model_config = {"extra": "forbid"}

    action: Action
    args: dict[str, Any] | None = Field(default=None, description="new arguments, for edit")
    comment: str | None = Field(default=None, description="shown to the model on reject")
    decided_by: str = "unknown"

    @model_validator(mode="after")
    def _edit_has_args(self) -> ApprovalDecision:
        if self.action == "edit" and self.args is None:
            raise ValueError("an edit decision needs `args`")
        return self


def parse_decision(value: Any) -> ApprovalDecision:
    """Accept a decision object, a dict, or a bare action word (as Studio may send)."""
    if isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, str):
        value = {"action": value}
    try:
        return ApprovalDecision.model_validate(value)
    except ValidationError:
        # An unreadable answer must not run a risky tool.
        return ApprovalDecision(action="reject", comment=f"unreadable decision: {value!r}")


def approval_request(
    call: dict[str, Any], *, rationale: str, scope: str, policy_source: str, step: str | None
) -> dict[str, Any]:
    """The interrupt payload: everything a person needs to decide."""
    return {
        "kind": "approval",
        "tool": call["name"],
        "args": call.get("args", {}),
        "tool_call_id": call.get("id"),
        "scope": scope,
        "policy_source": policy_source,
        "rationale": rationale,
        "step": step,
    }
