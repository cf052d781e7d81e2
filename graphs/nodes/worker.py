"""worker: one ReAct turn on the current step; tool calls go to `tools`, text to `critic`.

Calls whose arguments could not be read are answered here, with an error the model sees
on its next turn (graphs.invalid_tool_calls); a turn with only such calls goes straight to
the entropy monitor and back, as a turn whose tools all failed would.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, SystemMessage
from langgraph.types import Command

from graphs import prompts
from graphs.boundary import FINALIZE, BudgetExhausted, NodeRun
from graphs.branches import fan_out, step_marker
from graphs.budgets import exhausted_before_worker_turn
from graphs.invalid_tool_calls import answer_invalid_calls, with_call_ids
from graphs.model_calls import call_model
from graphs.nodes.planner import _tool_hints
from graphs.plan import find_step, ready_steps, render_plan
from graphs.state import PlanStep


def _system_prompt(run: NodeRun, step: PlanStep) -> str:
    state, spec = run.state, run.deps.spec
    results = "\n".join(
        f"- {s['id']}: {s['result']}" for s in state["plan"] if s["status"] == "done"
    )
    memory = "\n".join(x for x in (state["summary"], state["recalled"]) if x)
    return prompts.WORKER.format(
        goal=state["goal"],
        plan=render_plan(state["plan"]),
        step_id=step["id"],
        step=step["description"],
        instructions=f"\n{spec.instructions}\n" if spec.instructions else "",
        memory=prompts.MEMORY_BLOCK.format(memory=memory) if memory else "",
        results=prompts.WORKER_RESULTS.format(results=results) if results else "",
    )


async def worker(run: NodeRun) -> Command:
    state, deps = run.state, run.deps
    step = find_step(state["plan"], state["current_step"])
    new_messages = []
    if step is None or step["status"] != "pending":
        if run.branch is not None:  # a branch works on its one step only
            return Command(goto=FINALIZE)
        ready = ready_steps(state["plan"], deps.spec.max_parallel_steps)
        if not ready:
            return Command(goto=FINALIZE, update={"current_step": None})
        if len(ready) > 1:
            return await fan_out(run, ready)
        step = ready[0]
        new_messages.append(step_marker(step))

    usage = run.usage()
    if budget := exhausted_before_worker_turn(run.live(usage), deps.budgets, run.elapsed()):
        raise BudgetExhausted(budget, usage)

    hints = {
        "goal": state["goal"],
        "step": {"id": step["id"], "description": step["description"]},
        "step_results": {s["id"]: s["result"] for s in state["plan"] if s["status"] == "done"},
        "tools": _tool_hints(run),
    }
    reply = await call_model(
        run,
        "worker",
        [SystemMessage(_system_prompt(run, step)), *state["messages"], *new_messages],
        usage=usage,
        tools=deps.toolset.model_tools(),
        hints=hints,
        temperature_boost=state["loop"]["temperature_boost"],
    )
    usage = reply.usage
    usage["iterations"] += 1
    message = with_call_ids(reply.message)
    loop = dict(state["loop"])
    thought = message.text.strip() if isinstance(message.text, str) else ""
    if thought:
        loop["thoughts"] = [*loop["thoughts"], thought][-deps.spec.entropy.semantic_window :]
    answers, loop = await answer_invalid_calls(run, message, loop)  # type: ignore[arg-type]
    update: dict = {"messages": [*new_messages, message, *answers], "usage": usage}
    # Write channels only when they change: every write is a checkpoint row.
    if state["current_step"] != step["id"]:
        update["current_step"] = step["id"]
    if state["phase"] != "acting":
        update["phase"] = "acting"
    if thought or answers:
        update["loop"] = loop
    return Command(goto=_next_node(message), update=update)


def _next_node(message: AIMessage) -> str:
    if message.tool_calls:
        return "tools"
    if message.invalid_tool_calls:
        return "entropy_monitor"  # the calls are answered; the monitor then sends us back
    return "critic"
