"""Parallel plan steps: a fan-out of the ready steps (LangGraph `Send`), one branch per step,
and a join.

When more than one step's dependencies are met and the spec allows it
(`max_parallel_steps` > 1), the worker sends each ready step to the `branch` node: a
subgraph of worker ⇄ tools → critic → entropy monitor that works on that one step, with a
focused context (the system prompt with the plan and earlier results, plus the step's own
messages only). A branch ends when its step is judged (accept, replan, fail) or when it is
stopped (cancel, kill switch, budget); `branch_exit` hands its outcome to `join`, which
runs once all branches of the fan-out are back: the steps' results and verdicts go into the
plan, the branches' messages into L1 (branch after branch, in plan order), their spends add
up once into the task's usage (active time: the longest branch), and the run goes on —
to the next ready steps, to the planner if a branch asked for a replan, or to finalize if a
branch stopped.

Durability: each branch is a LangGraph task of its own, checkpointed under its own
namespace, so a crash mid-fan-out re-runs only the branches whose result was not saved, from
their last checkpoint; side effects are answered from the tool ledger as everywhere.
Approvals inside branches are interrupts like any other: several may wait at once, and
the runner answers them one at a time (by interrupt id).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import HumanMessage
from langgraph.config import get_config
from langgraph.types import Command, Send

from graphs import prompts
from graphs.boundary import FINALIZE, NodeRun
from graphs.branch_context import (
    scripted_roles,
    spend_of,
    spent_since,
    striped_cursor,
    usage_plus,
)
from graphs.heuristic_script import STEP_MARKER
from graphs.plan import find_step
from graphs.state import AgentState, BranchInfo, PlanStep, Usage, merge_branch_results

BRANCH = "branch"  # the node (a subgraph) that runs one step of a fan-out
JOIN = "join"
FAN_OUT_EVENT = "fan_out"
JOIN_EVENT = "join"
_STOPS_FIRST = ("canceled",)  # of several branches' stop reasons, these win


class BranchOutput(TypedDict):
    """What a branch hands back to the task's graph."""

    branch_results: Annotated[list[dict[str, Any]], merge_branch_results]


def step_marker(step: PlanStep) -> HumanMessage:
    text = prompts.STEP_START.format(step_id=step["id"], step=step["description"])
    return HumanMessage(text, additional_kwargs={STEP_MARKER: step["id"]})


def _fanout_id(run: NodeRun, steps: list[PlanStep]) -> str:
    try:
        at = (get_config().get("metadata") or {}).get("langgraph_step")
    except RuntimeError:  # outside a graph run
        at = None
    return f"{at}:{'+'.join(s['id'] for s in steps)}"


def branch_input(state: AgentState, step: PlanStep, info: BranchInfo) -> dict[str, Any]:
    """A branch's own state: the task's plan and memory, the step's messages only."""
    return {
        "goal": state["goal"],
        "plan": state["plan"],
        "current_step": step["id"],
        "phase": "acting",
        "messages": [step_marker(step)],
        "summary": state["summary"],
        "recalled": state["recalled"],
        "replan_reason": None,
        "replans": state.get("replans", 0),
        "usage": info["base"],
        "loop": state["loop"],
        "verdicts": [],
        "stop_reason": None,
        "output": None,
        "branch": info,
    }


async def fan_out(run: NodeRun, steps: list[PlanStep]) -> Command:
    """Send each of `steps` to a branch of its own."""
    base = dict(run.usage())
    fanout = _fanout_id(run, steps)
    await run.deps.channel.emit(
        FAN_OUT_EVENT,
        {
            "fanout": fanout,
            "steps": [s["id"] for s in steps],
            "max_parallel_steps": run.deps.spec.max_parallel_steps,
        },
        key=f"fan_out:{fanout}",
    )
    sends = [
        Send(
            BRANCH,
            branch_input(
                run.state,
                step,
                BranchInfo(
                    step=step["id"], fanout=fanout, base=base, index=index, width=len(steps)
                ),
            ),
        )
        for index, step in enumerate(steps)
    ]
    update: dict[str, Any] = {"current_step": None}
    if run.state.get("phase") != "acting":
        update["phase"] = "acting"
    return Command(goto=sends, update=update)


def branch_exit(state: AgentState) -> dict[str, Any]:
    """The last node of a branch: its outcome, for the join."""
    info = state["branch"]
    assert info is not None
    step = find_step(state["plan"], info["step"])
    assert step is not None
    return {
        "branch_results": [
            {
                "step": info["step"],
                "fanout": info["fanout"],
                "status": step["status"],
                "result": step["result"],
                "attempts": step["attempts"],
                "spent": spent_since(dict(state["usage"]), info["base"]),
                "verdicts": state.get("verdicts", []),
                "messages": state.get("messages", []),
                "summary": state.get("summary", ""),
                "loop": state["loop"],
                "stop_reason": state.get("stop_reason"),
                "replan_reason": state.get("replan_reason"),
            }
        ]
    }


def merged_usage(
    base: Usage, results: list[dict[str, Any]], scripted: frozenset[str]
) -> dict[str, Any]:
    """Each branch's spend once; active time: the longest branch's (they ran together); a
    scripted role's cursor past the fan-out's last round (graphs/branch_context.py)."""
    usage: dict[str, Any] = dict(base)
    longest = 0.0
    for result in results:
        spent = dict(result["spent"])
        longest = max(longest, float(spent.pop("active_seconds", 0.0)))
        usage = usage_plus(usage, spent)
    usage["active_seconds"] = usage.get("active_seconds", 0.0) + longest
    calls = dict(usage.get("model_calls") or {})
    for key in calls:
        if key.partition(":")[0] in scripted:
            made = [int((r["spent"].get("model_calls") or {}).get(key, 0)) for r in results]
            calls[key] = striped_cursor(int(base["model_calls"].get(key, 0)), made)
    usage["model_calls"] = calls
    return usage


def _merged_loop(loop: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(loop)
    resets = [r["loop"]["total_resets"] - loop["total_resets"] for r in results]
    merged["total_resets"] = loop["total_resets"] + sum(resets)
    merged["temperature_boost"] = max(r["loop"]["temperature_boost"] for r in results)
    if all(r["status"] == "done" for r in results):  # progress: the detector starts afresh
        merged.update(tool_hashes=[], errors=[], thoughts=[], resets=0, compactions=0)
    else:
        merged["resets"] = max(r["loop"]["resets"] for r in results)
    return merged


def merged_summary(summary: str, results: list[dict[str, Any]]) -> str:
    """The L2 summary with what each branch added: a note (a stuck reset), or the summary
    its compaction wrote in place of the one it started from."""
    merged = summary
    for result in results:
        mine = result["summary"]
        if mine == summary:
            continue
        added = mine[len(summary) :] if mine.startswith(summary) else f"[{result['step']}] {mine}"
        merged = f"{merged}\n{added.strip()}".strip()
    return merged


def _stop_reason(results: list[dict[str, Any]]) -> str | None:
    reasons = [r["stop_reason"] for r in results if r["stop_reason"]]
    first = [r for r in reasons if r in _STOPS_FIRST]
    return (first or reasons or [None])[0]


async def join(run: NodeRun) -> Command:
    """All branches of the fan-out are back: their outcomes into the task's state."""
    state = run.state
    order = {s["id"]: i for i, s in enumerate(state["plan"])}
    results = sorted(state.get("branch_results") or [], key=lambda r: order.get(r["step"], 0))
    plan = [dict(s) for s in state["plan"]]
    by_id = {s["id"]: s for s in plan}
    for result in results:
        step = by_id[result["step"]]
        step.update(status=result["status"], result=result["result"], attempts=result["attempts"])
    summary = merged_summary(state["summary"], results)
    update: dict[str, Any] = {
        "plan": plan,
        "branch_results": None,
        "current_step": None,
        "phase": "judged",
        "usage": merged_usage(state["usage"], results, scripted_roles(run.deps.models)),
        "verdicts": [*state["verdicts"], *(v for r in results for v in r["verdicts"])],
        "messages": [m for r in results for m in r["messages"]],
        "summary": summary,
    }
    if results:
        update["loop"] = _merged_loop(dict(state["loop"]), results)
        spend_of(run.deps.extras).forget(results[0]["fanout"])
    stop = _stop_reason(results)
    replans = [f"{r['step']}: {r['replan_reason']}" for r in results if r["replan_reason"]]
    await run.deps.channel.emit(
        JOIN_EVENT,
        {
            "fanout": results[0]["fanout"] if results else None,
            "steps": [
                {"step": r["step"], "status": r["status"], "stop_reason": r["stop_reason"]}
                for r in results
            ],
        },
    )
    if stop:
        update["stop_reason"] = stop
        return Command(goto=FINALIZE, update=update)
    if replans:
        update["replan_reason"] = "; ".join(replans)
        return Command(goto="planner", update=update)
    return Command(goto="worker", update=update)
