"""plan: did the run carry out its plan? The executed step sequence (step_completed events)
against the final plan's steps, as an LCS ratio: LCS / max(planned, executed). 1.0 means
every planned step was completed, in plan order, and nothing else.
"""

from __future__ import annotations

from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.trace import Trace


class PlanExpect(Expectation):
    min_fidelity: float = Field(default=1.0, ge=0, le=1)
    steps: list[str] | None = None  # the executed step ids, in order
    replans: int | None = Field(default=None, ge=0)


def lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def fidelity(executed: list[str], planned: list[str]) -> float:
    longest = max(len(executed), len(planned))
    return lcs_length(executed, planned) / longest if longest else 1.0


def evaluate(trace: Trace, expect: PlanExpect, context: EvalContext) -> Score:
    plans = [e["data"] for e in trace.events_of("plan")]
    executed = [e["data"]["step"] for e in trace.events_of("step_completed")]
    if not plans:
        return Score("plan", False, 0.0, "no plan was made", {"executed_steps": len(executed)})
    planned = [s["id"] for s in plans[-1]["steps"]]
    value = fidelity(executed, planned)
    first_plan = [s["id"] for s in plans[0]["steps"]]
    replans = sum(1 for p in plans if p.get("replan"))

    problems = []
    if value < expect.min_fidelity:
        problems.append(
            f"fidelity {value:.2f} < {expect.min_fidelity:.2f}: executed {executed}, "
            f"planned {planned}"
        )
    if expect.steps is not None and executed != expect.steps:
        problems.append(f"executed steps {executed}, expected {expect.steps}")
    if expect.replans is not None and replans != expect.replans:
        problems.append(f"{replans} replan(s), expected {expect.replans}")
    return Score(
        evaluator="plan",
        passed=not problems,
        score=value,
        detail="; ".join(problems) if problems else f"fidelity {value:.2f}",
        metrics={
            "fidelity": round(value, 4),
            "first_plan_fidelity": round(fidelity(executed, first_plan), 4),
            "planned_steps": len(planned),
            "executed_steps": len(executed),
            "replans": replans,
        },
    )


EVALUATOR = Evaluator(
    name="plan",
    description="executed steps vs the plan (LCS ratio), replans",
    expectation=PlanExpect,
    evaluate=evaluate,
)
