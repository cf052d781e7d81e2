"""Hard limits on a run, checked before every model and tool call.

Exhaustion ends the run with a stop reason that is the budget's own name.

`Budgets` (a spec's limits) and `BudgetOverrides` (a caller's, for one task) share one set
of field types, so REST, A2A and agent specs accept exactly the same numbers: strict ones
(`true` is not 1, `"5"` is not 5, a whole-number field takes no fractions) within ranges
that a run can actually use (`1e300` seconds is refused, not stored).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from graphs.state import Usage

MAX_RUNTIME_S = 7 * 24 * 3600
MAX_ITERATION_TIMEOUT_S = 24 * 3600


def _number(value: Any) -> int | float:
    # bool is an int in Python; a budget of `true` is a client's mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _whole(value: Any) -> int:
    number = _number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"must be a whole number, not {number}")
        # A2A data parts carry every number as a double: 5.0 is 5; a huge one is clamped so
        # that the range check below names the limit.
        return int(max(-(2**62), min(number, 2**62)))
    return number


def _seconds(value: Any) -> float:
    return float(_number(value))


Iterations = Annotated[int, Field(ge=1, le=10_000), BeforeValidator(_whole)]
RuntimeSeconds = Annotated[float, Field(gt=0, le=MAX_RUNTIME_S), BeforeValidator(_seconds)]
ToolCalls = Annotated[int, Field(ge=0, le=100_000), BeforeValidator(_whole)]
Tokens = Annotated[int, Field(ge=1, le=100_000_000), BeforeValidator(_whole)]
TimeoutSeconds = Annotated[
    float, Field(gt=0, le=MAX_ITERATION_TIMEOUT_S), BeforeValidator(_seconds)
]


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_iterations: Iterations = Field(default=30, description="worker turns")
    max_runtime_seconds: RuntimeSeconds = Field(default=600.0, description="active run time")
    max_tool_calls: ToolCalls = 60
    max_tokens: Tokens = 200_000
    iteration_timeout_seconds: TimeoutSeconds = Field(default=120.0, description="one model call")

    def merged(self, **overrides: float | int | None) -> Budgets:
        """These budgets with the given (non-None) fields replaced, validated."""
        values = self.model_dump()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Budgets.model_validate(values)

    def recursion_limit(self) -> int:
        """LangGraph's super-step limit: generous, but finite, above what budgets allow."""
        per_iteration = 6  # worker, tools, monitor, critic, monitor, planner at most
        return self.max_iterations * per_iteration + 50


class BudgetOverrides(BaseModel):
    """Hard limits for one task; each one left out comes from the agent's spec."""

    model_config = ConfigDict(extra="forbid")

    max_iterations: Iterations | None = Field(default=None, description="worker turns")
    max_runtime_seconds: RuntimeSeconds | None = Field(default=None, description="active run time")
    max_tool_calls: ToolCalls | None = None
    max_tokens: Tokens | None = None
    iteration_timeout_seconds: TimeoutSeconds | None = Field(
        default=None, description="one model call"
    )

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def parse_overrides(raw: Any, *, where: str = "budgets") -> dict[str, Any]:
    """A caller's budget overrides, validated; ValueError naming each bad field."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object of budget names to numbers")
    try:
        return BudgetOverrides.model_validate(raw).overrides()
    except ValidationError as exc:
        raise ValueError(describe_errors(exc, where)) from None


def describe_errors(exc: ValidationError, where: str) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in (where, *err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}")
    return f"invalid {where}: " + "; ".join(problems)


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
