"""outcome: how the task ended — its state and stop reason (by default: completed)."""

from __future__ import annotations

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score, verdict
from evals.trace import Trace


class OutcomeExpect(Expectation):
    state: str | None = "completed"
    stop_reason: str | None = None


def evaluate(trace: Trace, expect: OutcomeExpect, context: EvalContext) -> Score:
    state, stop_reason = trace.task.get("state"), trace.task.get("stop_reason")
    problems = []
    if expect.state is not None and state != expect.state:
        problems.append(f"state {state}, expected {expect.state}")
    if expect.stop_reason is not None and stop_reason != expect.stop_reason:
        problems.append(f"stop reason {stop_reason}, expected {expect.stop_reason}")
    return verdict(
        "outcome", problems, f"{state} ({stop_reason})", state=state, stop_reason=stop_reason
    )


EVALUATOR = Evaluator(
    name="outcome",
    description="task state and stop reason",
    expectation=OutcomeExpect,
    evaluate=evaluate,
    default=True,
)
