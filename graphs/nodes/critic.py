"""critic: judge the step's result — cheap deterministic checks first, then the model."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.types import Command
from pydantic import BaseModel, Field, field_validator

from graphs import prompts
from graphs.boundary import NodeRun
from graphs.events import STEP_COMPLETED, VERDICT
from graphs.heuristic_script import _step_messages
from graphs.model_calls import call_model
from graphs.nodes.tool_calls import REJECTED
from graphs.plan import find_step
from graphs.state import Decision, PlanStep, Verdict


class StepVerdict(BaseModel):
    """The critic's judgement of one step's result."""

    decision: Literal["accept", "revise", "replan", "fail"] = Field(
        description="accept: done; revise: try again; replan: plan is wrong; fail: give up"
    )
    reason: str = Field(description="one sentence: why")
    confidence: float | None = Field(
        default=None, description="how sure you are, from 0 (a guess) to 1 (certain)"
    )

    @field_validator("confidence", mode="before")
    @classmethod
    def _readable_confidence(cls, value: Any) -> float | None:
        """A confidence never makes a verdict unreadable: 90 or "90%" is 0.9, "high" is
        0.9, out of range is clamped, anything else unknown (None: no escalation)."""
        return confidence_of(value)


WORDS = {"very high": 0.95, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}


def confidence_of(value: Any) -> float | None:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in WORDS:
            return WORDS[text]
        try:
            value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    if value > 1:
        value = value / 100 if value <= 100 else 1.0  # a percentage
    return min(max(float(value), 0.0), 1.0)


def deterministic_check(result: str, step_messages: list) -> str | None:
    """A reason to revise without asking a model, or None."""
    if not result.strip():
        return "the step produced no output"
    # A call the operator rejected is not the worker's failure: the model was told and adapts.
    tool_results = [
        m
        for m in step_messages
        if isinstance(m, ToolMessage) and not m.additional_kwargs.get(REJECTED)
    ]
    if tool_results and all(m.status == "error" for m in tool_results):
        return "every tool call in this step failed: " + str(tool_results[-1].content)[:200]
    return None


async def critic(run: NodeRun) -> Command:
    state = run.state
    step = find_step(state["plan"], state["current_step"])
    assert step is not None, "critic reached without a current step"
    last = state["messages"][-1]
    result = last.text if isinstance(last, AIMessage) and isinstance(last.text, str) else ""
    usage = run.usage()

    problem = deterministic_check(result, _step_messages(state["messages"], step["id"]))
    confidence: float | None = None
    if problem is not None:
        decision: Decision = "revise"
        reason, source = problem, "check"
    else:
        prompt = prompts.CRITIC.format(
            goal=state["goal"], step_id=step["id"], step=step["description"], result=result
        )
        reply = await call_model(
            run,
            "critic",
            [SystemMessage(prompt)],
            usage=usage,
            schema=StepVerdict,
            hints={"step": dict(step), "result": result},
        )
        usage = reply.usage
        # call_model re-asks once for a verdict it cannot read, then fails the run saying why.
        verdict_model: StepVerdict = reply.parsed
        decision, reason, source = verdict_model.decision, verdict_model.reason, "model"
        confidence = verdict_model.confidence

    return await _apply(run, step, result, decision, reason, source, usage, confidence)


async def _apply(
    run: NodeRun,
    step: PlanStep,
    result: str,
    decision: Decision,
    reason: str,
    source: Literal["check", "model"],
    usage: dict,
    confidence: float | None = None,
) -> Command:
    state, deps = run.state, run.deps
    plan = [dict(s) for s in state["plan"]]
    current = next(s for s in plan if s["id"] == step["id"])
    update: dict = {"usage": usage, "phase": "judged"}
    loop = dict(state["loop"])

    if decision == "revise":
        current["attempts"] += 1
        if current["attempts"] > deps.spec.critic.max_revisions:
            decision, reason = "replan", f"step {step['id']} failed review too often: {reason}"
        else:
            feedback = prompts.REVISE_FEEDBACK.format(step_id=step["id"], reason=reason)
            update["messages"] = [HumanMessage(feedback)]
    if decision == "accept":
        current["status"], current["result"] = "done", result
        update["current_step"] = None
        # Progress: the loop detector starts afresh.
        loop.update(tool_hashes=[], errors=[], thoughts=[], resets=0, compactions=0)
        await deps.channel.emit(
            STEP_COMPLETED,
            {"step": step["id"], "description": step["description"], "result": result[:2000]},
            key=f"step:{step['id']}",
        )
    elif decision == "replan":
        update["replan_reason"] = reason
        update["current_step"] = None
    elif decision == "fail":
        current["status"] = "failed"
        update["stop_reason"] = "critic_fail"

    verdict = Verdict(step_id=step["id"], decision=decision, reason=reason, source=source)
    # the event says how sure the critic was (what a cascade escalates on); state keeps
    # the verdict itself
    recorded = dict(verdict) if confidence is None else {**verdict, "confidence": confidence}
    await deps.channel.emit(VERDICT, recorded)
    update.update(plan=plan, loop=loop, verdicts=[*state["verdicts"], verdict])
    return Command(goto="entropy_monitor", update=update)
