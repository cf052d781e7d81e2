"""planner: turn the goal (and memory) into a plan DAG; replan on request."""

from __future__ import annotations

from langchain_core.messages import SystemMessage
from langgraph.types import Command

from graphs import prompts
from graphs.boundary import FINALIZE, NodeRun
from graphs.events import PLAN
from graphs.model_calls import call_model
from graphs.plan import InvalidPlan, Plan, build_plan, render_plan


def _tool_hints(run: NodeRun) -> list[dict[str, str]]:
    toolset = run.deps.toolset
    hints = []
    for name in toolset.usable_names():
        entry = toolset.lookup(name)
        assert entry is not None
        hints.append({"name": name, "scope": entry.registered.spec.scope})
    return hints


async def planner(run: NodeRun) -> Command:
    state, deps = run.state, run.deps
    done = [s for s in state["plan"] if s["status"] == "done"]
    replan_reason = state.get("replan_reason")
    replans = state.get("replans", 0) + (1 if replan_reason else 0)
    if replan_reason and replans > deps.spec.critic.max_replans:
        return Command(goto=FINALIZE, update={"stop_reason": "replan_limit"})

    tools = _tool_hints(run)
    prompt = prompts.PLANNER.format(
        goal=state["goal"],
        tools=", ".join(f"{t['name']} ({t['scope']})" for t in tools) or "none",
        instructions=f"\n{deps.spec.instructions}\n" if deps.spec.instructions else "",
        memory=prompts.MEMORY_BLOCK.format(memory=state["recalled"]) if state["recalled"] else "",
        done=prompts.PLANNER_DONE.format(steps=render_plan(done)) if done else "",
        replan=prompts.PLANNER_REPLAN.format(reason=replan_reason) if replan_reason else "",
    )
    hints = {
        "goal": state["goal"],
        "tools": tools,
        "done_steps": [s["id"] for s in done],
        "replan_reason": replan_reason,
    }
    reply = await call_model(
        run,
        "planner",
        [SystemMessage(prompt)],
        schema=Plan,
        hints=hints,
        temperature_boost=state["loop"]["temperature_boost"],
    )
    try:
        plan = build_plan(reply.parsed, done)
        problem = None
    except InvalidPlan as exc:
        # One step that is the goal itself beats no plan; the critic still judges it.
        problem = str(exc)
        plan = build_plan(Plan(steps=[{"id": "goal", "description": state["goal"]}]), done)
    await deps.channel.emit(
        PLAN,
        {
            "steps": [{k: s[k] for k in ("id", "description", "depends_on")} for s in plan],
            "replan": bool(replan_reason),
            "reason": replan_reason,
            "invalid_plan": problem,
        },
    )
    return Command(
        goto="worker",
        update={
            "plan": plan,
            "current_step": None,
            "phase": "acting",
            "replan_reason": None,
            "replans": replans,
            "usage": reply.usage,
        },
    )
