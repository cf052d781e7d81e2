"""What a person is asked while a task waits (`input-required`), and what they answer.

Two kinds of interrupt payload, told apart by `kind`:

- `approval` (`approval_request`): may this risky tool call run? Answers: approve, reject
  (with a comment for the model), edit (with new `args`).
- `unknown_outcome` (`unknown_outcome_request`): a side-effecting call timed out, lost its
  connection, was cancelled, or was found started but never finished: did it happen?
  Answers: done (it happened; `comment` is the result text for the model, optional),
  retry (run it again now), skip (it did not happen, or must not be done).

Every answer is an `ApprovalDecision`; `check_decision_fits` says whether it answers the
pending payload's kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, model_validator

ApprovalAction = Literal["approve", "reject", "edit"]
OutcomeAction = Literal["done", "retry", "skip"]
Action = Literal["approve", "reject", "edit", "done", "retry", "skip"]
RequestKind = Literal["approval", "unknown_outcome"]
ACTIONS_BY_KIND: dict[str, tuple[str, ...]] = {
    "approval": get_args(ApprovalAction),
    "unknown_outcome": get_args(OutcomeAction),
}
OUTCOME_QUESTION = "Did this call take effect?"


class ApprovalDecision(BaseModel):
    """What a person (CLI, API, A2A or Studio) answers to a pending request."""

    model_config = {"extra": "forbid"}

    action: Action
    args: dict[str, Any] | None = Field(default=None, description="new arguments, for edit")
    comment: str | None = Field(
        default=None,
        description="shown to the model: why, on reject or skip; the result text, on done",
    )
    decided_by: str = "unknown"

    @model_validator(mode="after")
    def _edit_has_args(self) -> ApprovalDecision:
        if self.action == "edit" and self.args is None:
            raise ValueError("an edit decision needs `args`")
        return self


def request_kind(request: dict[str, Any]) -> str:
    """The payload's kind (payloads from before kinds existed are approvals)."""
    return str(request.get("kind") or "approval")


def check_decision_fits(request: dict[str, Any], decision: ApprovalDecision) -> None:
    """Raise ValueError, with a message for the person, unless `decision` answers `request`
    (an interrupt payload): approve / reject / edit for an approval, done / retry / skip
    for an unknown outcome; `args` only with edit."""
    kind = request_kind(request)
    allowed = ACTIONS_BY_KIND.get(kind)
    if allowed is None:
        raise ValueError(f"the pending request has an unknown kind {kind!r}")
    tool = request.get("tool") or "a tool"
    if decision.action not in allowed:
        what = (
            f"an approval of {tool}"
            if kind == "approval"
            else f"a decision on {tool}, whose outcome is unknown ({OUTCOME_QUESTION})"
        )
        raise ValueError(
            f"the task waits for {what}: answer {_either(allowed)}, not {decision.action!r}"
        )
    if decision.args is not None and decision.action != "edit":
        raise ValueError(f"`args` goes only with edit, not with {decision.action!r}")


def parse_decision(value: Any) -> ApprovalDecision:
    """Accept a decision object, a dict, or a bare action word (as Studio may send)."""
    if isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, str):
        value = {"action": value}
    try:
        return ApprovalDecision.model_validate(value)
    except ValidationError:
        # An unreadable answer must not run a risky tool (nor settle an unknown outcome:
        # "reject" fits no such question, so it is asked again).
        return ApprovalDecision(action="reject", comment=f"unreadable decision: {value!r}")


def approval_request(
    call: dict[str, Any], *, rationale: str, scope: str, policy_source: str, step: str | None
) -> dict[str, Any]:
    """The approval interrupt payload: everything a person needs to decide."""
    return {
        "kind": "approval",
        "tool": call["name"],
        "args": call.get("args", {}),
        "tool_call_id": call.get("id"),
        "scope": scope,
        "policy_source": policy_source,
        "rationale": rationale,
        "step": step,
        "answers": list(ACTIONS_BY_KIND["approval"]),
    }


def unknown_outcome_request(
    call: dict[str, Any],
    *,
    scope: str,
    started_at: datetime,
    reason: str,
    detail: str | None,
    step: str | None,
    repeat_of: str | None = None,
) -> dict[str, Any]:
    """The "did this happen?" interrupt payload for a call whose outcome is unknown.

    `reason`: timeout, connection_lost, canceled, crashed (found started but unfinished on
    resume) or repeat_of_unknown_outcome (a new call repeating `repeat_of`, whose outcome is
    unknown; the answer settles both). `started_at`: when the call (or the one it repeats)
    started. `detail`: what the runtime saw (the timeout message, say).
    """
    return {
        "kind": "unknown_outcome",
        "tool": call["name"],
        "args": call.get("args", {}),
        "tool_call_id": call.get("id"),
        "scope": scope,
        "started_at": started_at.isoformat(),
        "reason": reason,
        "detail": detail,
        "repeat_of": repeat_of,
        "step": step,
        "question": OUTCOME_QUESTION,
        "answers": list(ACTIONS_BY_KIND["unknown_outcome"]),
    }


def _either(actions: tuple[str, ...]) -> str:
    return ", ".join(actions[:-1]) + f" or {actions[-1]}"
