"""A role's model cascade: which model a call starts with, and when it moves one up.

Cheap first. A call goes on to the role's next model when
- its structured reply cannot be read (`parse`), instead of asking the same model again;
- its structured reply carries a `confidence` below `model.escalate_below_confidence`
  (`low_confidence`: the critic's verdict);
and a call made on a step (worker, critic) starts one model up for every
`model.escalate_after_revisions` times the critic sent that step back (`revisions`).
The last model is asked again once when its reply cannot be read, as a role without a
cascade is. Escalation is per call: the next call starts cheap again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphs.spec import ModelConfig

PARSE = "parse"
LOW_CONFIDENCE = "low_confidence"
FALL_BACK = "fell_back"  # the next model failed; the unsure reply before it is kept
REVISIONS = "revisions"
STEP_ROLES = frozenset({"worker", "critic"})  # their calls are made on one plan step


def step_revisions(state: Mapping[str, Any]) -> tuple[str | None, int]:
    """The step a call is made on and how often the critic sent it back (its `attempts`).

    The one place a cascade reads the plan: a run with parallel branches adapts this to
    find its branch's step.
    """
    step_id = state.get("current_step")
    for step in state.get("plan") or []:
        if step_id is not None and step["id"] == step_id:
            return step_id, int(step.get("attempts") or 0)
    return step_id, 0


@dataclass(frozen=True)
class Start:
    level: int  # index into the role's cascade
    detail: str | None = None  # why it is not 0


def start_level(state: Mapping[str, Any], role: str, config: ModelConfig, size: int) -> Start:
    """Where in a cascade of `size` models a call for `role` starts."""
    if size < 2 or role not in STEP_ROLES:
        return Start(0)
    step_id, revisions = step_revisions(state)
    level = min(size - 1, revisions // config.escalate_after_revisions)
    if level == 0:
        return Start(0)
    return Start(level, f"step {step_id} was revised {revisions} times")


def low_confidence(parsed: Any, config: ModelConfig) -> str | None:
    """Why a structured reply is not sure enough to keep (its confidence), or None."""
    confidence = getattr(parsed, "confidence", None)
    if not isinstance(confidence, int | float):
        return None
    threshold = config.escalate_below_confidence
    if confidence >= threshold:
        return None
    return f"confidence {confidence:g} is below {threshold:g}"


def escalation_event(
    role: str, source: str, target: str, reason: str, detail: str | None
) -> dict[str, Any]:
    """The `model_escalated` event: which role went from which model to which, and why."""
    return {"role": role, "from": source, "to": target, "reason": reason, "detail": detail}
