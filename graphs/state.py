"""The agent graph's state: what a run knows, checkpointed after every node.

Task lifecycle (submitted, working, ...) is not here: it lives in the tasks table.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

StepStatus = Literal["pending", "done", "failed", "skipped"]
Phase = Literal["planning", "acting", "judged"]
Decision = Literal["accept", "revise", "replan", "fail"]


class PlanStep(TypedDict):
    id: str
    description: str
    depends_on: list[str]
    status: StepStatus
    result: str | None
    attempts: int


class Usage(TypedDict):
    iterations: int
    tool_calls: int
    tokens: int
    active_seconds: float
    started_at: float
    model_calls: dict[str, int]  # per role; also the scripted model's replay cursor
    by_model: NotRequired[dict[str, dict[str, Any]]]  # per model label (graphs/model_usage)


class LoopState(TypedDict):
    tool_hashes: list[str]  # recent tool+args hashes since the last reset
    errors: list[str]  # recent tool error hashes since the last reset
    thoughts: list[str]  # recent worker thoughts since the last reset
    resets: int  # stuck resets since the last accepted step
    total_resets: int
    temperature_boost: float
    compactions: int  # L2 compactions since the last accepted step
    signal: str | None  # the last stuck signal, for the record
    detector: NotRequired[dict[str, Any]]  # the loop detector's record (graphs/loops)


class Verdict(TypedDict):
    step_id: str
    decision: Decision
    reason: str
    source: Literal["check", "model"]


class BranchInfo(TypedDict):
    """Set in the state of a plan step running as a branch of a fan-out (graphs/branches)."""

    step: str  # the step this branch works on
    fanout: str  # the fan-out it belongs to
    base: dict[str, Any]  # the task's usage when the fan-out began
    index: int  # the branch's place in the fan-out (plan order)
    width: int  # how many branches the fan-out has


def merge_branch_results(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Branches add their results; the join empties the list (it writes None)."""
    if right is None:
        return []
    return [*(left or []), *right]


class AgentState(TypedDict, total=False):
    goal: str
    plan: list[PlanStep]
    current_step: str | None
    phase: Phase
    messages: Annotated[list[AnyMessage], add_messages]  # L1 working memory
    summary: str  # L2 running summary
    recalled: str  # context recalled from L3/L4
    replan_reason: str | None
    replans: int
    usage: Usage
    loop: LoopState
    verdicts: list[Verdict]
    stop_reason: str | None
    output: str | None
    branch: BranchInfo | None  # only in a branch's own state
    branch_results: Annotated[list[dict[str, Any]], merge_branch_results]  # until the join


def new_usage(now: float) -> Usage:
    return Usage(
        iterations=0, tool_calls=0, tokens=0, active_seconds=0.0, started_at=now, model_calls={}
    )


def new_loop_state() -> LoopState:
    return LoopState(
        tool_hashes=[],
        errors=[],
        thoughts=[],
        resets=0,
        total_resets=0,
        temperature_boost=0.0,
        compactions=0,
        signal=None,
    )


def initial_state(goal: str, now: float) -> dict[str, Any]:
    """The input that starts a run."""
    return {
        "goal": goal,
        "plan": [],
        "current_step": None,
        "phase": "planning",
        "messages": [],
        "summary": "",
        "recalled": "",
        "replan_reason": None,
        "replans": 0,
        "usage": new_usage(now),
        "loop": new_loop_state(),
        "verdicts": [],
        "stop_reason": None,
        "output": None,
    }
