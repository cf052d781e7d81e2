"""Hard limits on a run, checked before every model and tool call.

Exhaustion ends the run with a stop reason that is the budget's own name.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from graphs.state import Usage


class Budgets(BaseModel):
    model_config = {"extra": "forbid"}

    max_iterations: int = Field(default=30, ge=1, description="worker turns")
    max_runtime_seconds: float = Field(default=600.0, gt=0, description="active run time")
    max_tool_calls: int = Field(default=60, ge=0)
    max_tokens: int = Field(default=200_000, ge=1)
    iteration_timeout_seconds: float = Field(default=120.0, gt=0, description="one model call")

    def merged(self, **overrides: float | int | None) -> Budgets:
        """These budgets with the given (non-None) fields replaced, validated."""
        values = self.model_dump()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Budgets.model_validate(values)

    def recursion_limit(self) -> int:
        """LangGraph's super-step limit: generous, but finite, above what budgets allow."""
        per_iteration = 6  # worker, tools, monitor, critic, monitor, planner at most
        return self.max_iterations * per_iteration + 50


def exhausted_before_model_call(usage: Usage, budgets: Budgets, elapsed: float) -> str | None:
    """The name of the budget that forbids another model call, or None."""
    if usage["tokens"] >= budgets.max_tokens:
        return "max_tokens"
    if usage["active_seconds"] + elapsed >= budgets.max_runtime_seconds:
        return "max_runtime_seconds"
    return None


def exhausted_before_worker_turn(usage: Usage, budgets: Budgets, elapsed: float) -> str | None:
    if usage["iterations"] >= budgets.max_iterations:
        return "max_iterations"
    return exhausted_before_model_call(usage, budgets, elapsed)


def exhausted_before_tool_call(usage: Usage, budgets: Budgets, elapsed: float) -> str | None:
    if usage["tool_calls"] >= budgets.max_tool_calls:
        return "max_tool_calls"
    if usage["active_seconds"] + elapsed >= budgets.max_runtime_seconds:
        return "max_runtime_seconds"
    return None


def model_call_timeout(usage: Usage, budgets: Budgets, elapsed: float) -> float:
    """A model call may take the per-iteration timeout, but never past the runtime budget."""
    remaining = budgets.max_runtime_seconds - usage["active_seconds"] - elapsed
    return max(0.001, min(budgets.iteration_timeout_seconds, remaining))
