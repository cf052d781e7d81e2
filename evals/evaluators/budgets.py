"""budgets: how much of each budget the run used, and which one (if any) ran out.

Use is a ratio per budget: iterations, tool calls, tokens and active seconds against their
limits (the last is wall-clock time, so it is reported but never judged by default).
Exhaustion comes from the `budget_exhausted` events.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score, verdict
from evals.trace import Trace

# usage counter -> budget that limits it
LIMITS = {
    "iterations": "max_iterations",
    "tool_calls": "max_tool_calls",
    "tokens": "max_tokens",
    "active_seconds": "max_runtime_seconds",
}


class BudgetsExpect(Expectation):
    exhausted: str | None = None  # the budget that must run out; None: none may
    max_use: dict[str, float] = Field(default_factory=dict)  # counter -> highest ratio

    @field_validator("max_use")
    @classmethod
    def _known_counters(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(LIMITS))
        if unknown:
            raise ValueError(f"unknown counter(s) {unknown}; counters are {list(LIMITS)}")
        return value


def use_ratios(trace: Trace) -> dict[str, float]:
    budgets = trace.task.get("budgets") or {}
    usage = trace.usage
    ratios = {}
    for counter, budget in LIMITS.items():
        limit = budgets.get(budget)
        if limit:
            ratios[counter] = round(float(usage.get(counter) or 0) / float(limit), 4)
    return ratios


def evaluate(trace: Trace, expect: BudgetsExpect, context: EvalContext) -> Score:
    exhausted = [e["data"]["budget"] for e in trace.events_of("budget_exhausted")]
    if trace.events_of("fan_out"):
        # parallel branches share the task's budgets: each one that meets the end says so
        exhausted = list(dict.fromkeys(exhausted))
    ratios = use_ratios(trace)
    problems = []
    if expect.exhausted is None and exhausted:
        problems.append(f"budget exhausted: {', '.join(exhausted)}")
    if expect.exhausted is not None and exhausted != [expect.exhausted]:
        problems.append(f"expected {expect.exhausted} to run out; ran out: {exhausted or 'none'}")
    for counter, highest in sorted(expect.max_use.items()):
        if ratios.get(counter, 0.0) > highest:
            problems.append(f"{counter} used {ratios[counter]:.0%} > {highest:.0%}")
    ok = f"ran out of {expect.exhausted}" if expect.exhausted else "within budgets"
    return verdict(
        "budgets",
        problems,
        ok,
        exhausted=",".join(exhausted) or None,
        **{f"use_{counter}": ratio for counter, ratio in ratios.items()},
    )


EVALUATOR = Evaluator(
    name="budgets",
    description="budget use ratios and which budget ran out",
    expectation=BudgetsExpect,
    evaluate=evaluate,
    default=True,
)
