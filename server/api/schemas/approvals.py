"""An answer to a pending approval (ApprovalIn); the server adds who decided."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from graphs.approval import ApprovalDecision


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "reject", "edit"]
    args: dict[str, Any] | None = Field(
        default=None, description="the tool call's new arguments; required for edit"
    )
    comment: str | None = Field(
        default=None, max_length=4_000, description="shown to the model, e.g. why it was rejected"
    )

    @model_validator(mode="after")
    def _edit_has_args(self) -> ApprovalIn:
        if self.action == "edit" and self.args is None:
            raise ValueError("an edit needs `args`: the tool call's new arguments")
        return self

    def decision(self, decided_by: str) -> ApprovalDecision:
        return ApprovalDecision(
            action=self.action, args=self.args, comment=self.comment, decided_by=decided_by
        )
