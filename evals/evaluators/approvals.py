"""approvals: which calls asked for approval, what was decided, and that decisions held.

Always checked: every request got a decision (unless the task still waits), no gated
call ran without an approve or edit, and no rejected call ran. A scenario may also name
the tools that must ask (`requested`) and the decisions, in order (`decisions`).
"""

from __future__ import annotations

from typing import Literal

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score, verdict
from evals.tool_calls import tool_calls
from evals.trace import Trace

Action = Literal["approve", "reject", "edit"]
_WAITING = "input-required"


class ApprovalsExpect(Expectation):
    requested: list[str] | None = None  # tool names, in order
    decisions: list[Action] | None = None


def evaluate(trace: Trace, expect: ApprovalsExpect, context: EvalContext) -> Score:
    requests = [e["data"] for e in trace.events_of("approval_requested")]
    decisions = [e["data"] for e in trace.events_of("approval_decided")]
    decided = {d.get("tool_call_id"): d["action"] for d in decisions}
    problems = []
    undecided = [r["tool"] for r in requests if r.get("tool_call_id") not in decided]
    if undecided and trace.task.get("state") != _WAITING:
        problems.append(f"request(s) never decided: {', '.join(undecided)}")
    for call in tool_calls(trace):
        if call.id not in {r.get("tool_call_id") for r in requests}:
            continue
        action = decided.get(call.id)
        if call.ran and action not in ("approve", "edit"):
            problems.append(f"{call.name} ran without approval (decision: {action})")
        if action == "reject" and call.status != "rejected":
            problems.append(f"{call.name} was rejected but its status is {call.status}")
    names = [r["tool"] for r in requests]
    actions = [d["action"] for d in decisions]
    if expect.requested is not None and names != expect.requested:
        problems.append(f"approval requested for {names}, expected {expect.requested}")
    if expect.decisions is not None and actions != list(expect.decisions):
        problems.append(f"decisions {actions}, expected {list(expect.decisions)}")
    return verdict(
        "approvals",
        problems,
        f"{len(requests)} request(s), decisions {actions}" if requests else "no approvals",
        requested=len(requests),
        approved=actions.count("approve") + actions.count("edit"),
        rejected=actions.count("reject"),
    )


EVALUATOR = Evaluator(
    name="approvals",
    description="approval requests and decisions; gated calls ran only when approved",
    expectation=ApprovalsExpect,
    evaluate=evaluate,
    default=True,
)
