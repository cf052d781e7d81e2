"""tokens: tokens the task used (total, per role, in and out), against optional limits.

The total is the task's usage counter; the split by role and direction comes from the
`model_call` events."""

from __future__ import annotations

from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score, verdict
from evals.trace import Trace


class TokensExpect(Expectation):
    max: int | None = Field(default=None, ge=0)
    max_per_role: dict[str, int] = Field(default_factory=dict)


def evaluate(trace: Trace, expect: TokensExpect, context: EvalContext) -> Score:
    usage = trace.usage
    calls = [e["data"] for e in trace.events_of("model_call")]
    by_role: dict[str, int] = {}
    for call in calls:
        role = str(call.get("role", "?"))
        by_role[role] = by_role.get(role, 0) + int(call.get("tokens") or 0)
    total = int(usage.get("tokens") or sum(by_role.values()))
    problems = []
    if expect.max is not None and total > expect.max:
        problems.append(f"{total} tokens > {expect.max}")
    for role, limit in sorted(expect.max_per_role.items()):
        if by_role.get(role, 0) > limit:
            problems.append(f"{role} used {by_role[role]} tokens > {limit}")
    iterations = int(usage.get("iterations") or 0)
    return verdict(
        "tokens",
        problems,
        f"{total} tokens" + (f" <= {expect.max}" if expect.max is not None else ""),
        tokens=total,
        input_tokens=sum(int(c.get("input_tokens") or 0) for c in calls),
        output_tokens=sum(int(c.get("output_tokens") or 0) for c in calls),
        tokens_per_iteration=round(total / iterations, 1) if iterations else None,
        **{f"tokens_{role}": n for role, n in sorted(by_role.items())},
    )


EVALUATOR = Evaluator(
    name="tokens",
    description="tokens per task (total, per role) against limits",
    expectation=TokensExpect,
    evaluate=evaluate,
    default=True,
)
