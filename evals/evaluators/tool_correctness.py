"""tools: were the expected tools called (with the expected arguments and outcome), and no
forbidden one? Precision, recall and F1 over calls; each expected call matches at most
one actual call, in order of appearance.
"""

from __future__ import annotations

from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.evaluators.expected_calls import ArgsMode, ArgsRule, ExpectedCall, call_matches
from evals.tool_calls import tool_calls
from evals.trace import Trace


class ToolsExpect(Expectation):
    expected: list[ExpectedCall] = Field(default_factory=list)
    args: ArgsMode = "exact"
    overrides: dict[str, ArgsRule] = Field(default_factory=dict)
    forbidden: list[str] = Field(default_factory=list)
    allow_extra: bool = True  # calls beyond the expected ones are fine


def evaluate(trace: Trace, expect: ToolsExpect, context: EvalContext) -> Score:
    actual = tool_calls(trace)
    used: set[int] = set()
    missing: list[str] = []
    for wanted in expect.expected:
        index = next(
            (
                i
                for i, call in enumerate(actual)
                if i not in used and call_matches(call, wanted, expect.args, expect.overrides)
            ),
            None,
        )
        if index is None:
            missing.append(wanted.describe())
        else:
            used.add(index)
    matched = len(used)
    precision = matched / len(actual) if actual else 1.0
    recall = matched / len(expect.expected) if expect.expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    forbidden = sorted({c.name for c in actual if c.name in expect.forbidden})
    extra = [c.name for i, c in enumerate(actual) if i not in used]

    problems = []
    if missing:
        problems.append(f"not called: {', '.join(missing)}")
    if forbidden:
        problems.append(f"forbidden tool(s) called: {', '.join(forbidden)}")
    if extra and not expect.allow_extra:
        problems.append(f"unexpected call(s): {', '.join(extra)}")
    score = recall if expect.allow_extra else f1
    return Score(
        evaluator="tools",
        passed=not problems,
        score=0.0 if forbidden else score,
        detail="; ".join(problems) if problems else f"{matched} expected call(s) made",
        metrics={
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "calls": len(actual),
        },
    )


EVALUATOR = Evaluator(
    name="tools",
    description="expected vs called tools (precision / recall / F1, argument matching)",
    expectation=ToolsExpect,
    evaluate=evaluate,
)
