"""plan: did the run carry out its plan? The executed step sequence (step_completed events)
against the final plan's steps, as an LCS ratio: LCS / max(planned, executed). 1.0 means
every planned step was completed, in plan order, and nothing else.

Steps that ran in parallel (one `fan_out` event) finish in whichever order they finish:
within such a group, the order of completion is not held against the run, neither in the
ratio nor in an expected `steps` sequence (both are compared with each group in plan order).
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


def completions_by_group(events: list[dict]) -> tuple[list[str], list[int | None]]:
    """The completed step ids in order, and for each the index of the fan-out it belongs
    to (None outside one): a completion belongs to the latest fan-out that started it and
    has not seen it complete yet (ids restart after a replan, so not by id alone)."""
    executed: list[str] = []
    groups: list[int | None] = []
    open_steps: dict[str, int] = {}
    fan_outs = 0
    for event in events:
        if event["type"] == "fan_out":
            for step in event["data"].get("steps") or []:
                open_steps[step] = fan_outs
            fan_outs += 1
        elif event["type"] == "step_completed":
            step = event["data"]["step"]
            executed.append(step)
            groups.append(open_steps.pop(step, None))
    return executed, groups


def in_plan_order_within_fan_outs(
    executed: list[str], groups: list[int | None], planned: list[str]
) -> list[str]:
    """`executed` with the steps of each parallel group put back in plan order, in the
    places the group's steps took (a group's order of completion is not the run's choice)."""
    rank = {step: i for i, step in enumerate(planned)}
    result = list(executed)
    for group in {g for g in groups if g is not None}:
        places = [i for i, g in enumerate(groups) if g == group]
        ordered = sorted((result[i] for i in places), key=lambda s: rank.get(s, len(rank)))
        for place, step in zip(places, ordered, strict=True):
            result[place] = step
    return result


def evaluate(trace: Trace, expect: PlanExpect, context: EvalContext) -> Score:
    plans = [e["data"] for e in trace.events_of("plan")]
    executed, groups = completions_by_group(trace.events)
    if not plans:
        return Score("plan", False, 0.0, "no plan was made", {"executed_steps": len(executed)})
    planned = [s["id"] for s in plans[-1]["steps"]]
    executed = in_plan_order_within_fan_outs(executed, groups, planned)
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
