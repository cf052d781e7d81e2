"""The evaluators, one per file; each reads its own section of a scenario's `expect:`.

Default evaluators run on every trace (with their default expectation when the scenario
says nothing); the others run when the scenario has their section.
"""

from __future__ import annotations

from evals.evaluators import (
    approvals,
    budgets,
    graph,
    llm_judge,
    loops,
    outcome,
    output,
    plan_fidelity,
    tokens,
    tool_correctness,
    trajectory,
)
from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score

EVALUATORS: dict[str, Evaluator] = {
    e.name: e
    for e in (
        outcome.EVALUATOR,
        trajectory.EVALUATOR,
        graph.EVALUATOR,
        tool_correctness.EVALUATOR,
        plan_fidelity.EVALUATOR,
        loops.EVALUATOR,
        budgets.EVALUATOR,
        tokens.EVALUATOR,
        approvals.EVALUATOR,
        output.EVALUATOR,
        llm_judge.EVALUATOR,
    )
}

__all__ = ["EVALUATORS", "EvalContext", "Evaluator", "Expectation", "Score"]
