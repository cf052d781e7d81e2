"""An answer to a pending approval (ApprovalIn); the server adds who decided."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from graphs.approval import Action, ApprovalDecision


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action = Field(
        description="approve / reject / edit for an approval; done / retry / skip for an "
        "unknown outcome (the pending request's `kind`)"
    )
    args: dict[str, Any] | None = Field(
        default=None, description="the tool call's new arguments; required for edit"
    )
    comment: str | None = Field(
        default=None,
        max_length=4_000,
        description="shown to the model: why (reject, skip), or the result (done)",
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
