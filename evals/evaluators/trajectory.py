"""trajectory: the tool calls the model made against an expected trajectory, via agentevals.

Modes are agentevals' (`strict`: same calls in the same order; `unordered`: same calls in
any order; `subset`: no call beyond the expected ones; `superset`: at least the expected
ones). Each side becomes one assistant message per tool call, so `strict` compares the
call sequence itself.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from agentevals.trajectory.match import create_trajectory_match_evaluator
from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.evaluators.expected_calls import ArgsMode, ArgsRule, ExpectedCall, describe_call
from evals.tool_calls import tool_calls
from evals.trace import Trace

Mode = Literal["strict", "unordered", "subset", "superset"]


class TrajectoryExpect(Expectation):
    mode: Mode = "strict"
    tool_args: ArgsMode = "exact"
    overrides: dict[str, ArgsRule] = Field(default_factory=dict)
    calls: list[ExpectedCall]


def _message(name: str, args: dict[str, Any]) -> dict[str, Any]:
    call = {"id": "", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def evaluate(trace: Trace, expect: TrajectoryExpect, context: EvalContext) -> Score:
    actual = tool_calls(trace)
    overrides: dict[str, Any] = dict(expect.overrides)
    for call in expect.calls:  # a call written without args ignores that tool's arguments
        if call.args is None:
            overrides.setdefault(call.name, "ignore")
    evaluator = create_trajectory_match_evaluator(
        trajectory_match_mode=expect.mode,
        tool_args_match_mode=expect.tool_args,
        tool_args_match_overrides=overrides or None,
    )
    result = evaluator(
        outputs=[_message(c.name, c.args or {}) for c in actual],
        reference_outputs=[_message(c.name, c.args or {}) for c in expect.calls],
    )
    passed = bool(result["score"])
    got = ", ".join(describe_call(c) for c in actual) or "no calls"
    wanted = ", ".join(c.describe() for c in expect.calls) or "no calls"
    return Score(
        evaluator="trajectory",
        passed=passed,
        score=1.0 if passed else 0.0,
        detail=f"{expect.mode} match" if passed else f"{expect.mode}: expected {wanted}; got {got}",
        metrics={"mode": expect.mode, "calls": len(actual), "expected_calls": len(expect.calls)},
    )


EVALUATOR = Evaluator(
    name="trajectory",
    description="tool-call trajectory vs the expected one (agentevals trajectory match)",
    expectation=TrajectoryExpect,
    evaluate=evaluate,
)
