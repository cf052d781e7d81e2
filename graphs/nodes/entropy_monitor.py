"""entropy_monitor: notice going in circles; reset once, then stop as `stuck`.

Runs after every tool round and every verdict. The loop detector (graphs/loops, fed by
graphs/entropy) tells repetition from progress; on a loop it emits `stuck_detected` with
what repeated, since when and the evidence, then purges the short-term history (the
summary stays; the detector's fingerprints stay too, so a resumed loop is caught at once),
raises the temperature, warns, and forces a replan. After `max_resets` resets without an
accepted step, the run ends with stop reason `stuck`.
"""

from __future__ import annotations

import asyncio

from langchain_core.messages import HumanMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Command

from graphs import prompts
from graphs.boundary import FINALIZE, NodeRun
from graphs.compaction import compact_if_needed
from graphs.entropy import after_reset, check
from graphs.events import STUCK_DETECTED


async def entropy_monitor(run: NodeRun) -> Command:
    state, deps = run.state, run.deps
    config = deps.spec.entropy
    loop = state["loop"]
    found, detector = await asyncio.to_thread(check, state, config, deps.embedder)
    details = found.to_event() if found is not None else {}
    signal = found.signal if found is not None else None
    churn_limit = deps.spec.memory.max_compactions_without_progress
    if signal is None and config.enabled and loop.get("compactions", 0) >= churn_limit:
        signal = f"compaction_churn: {loop['compactions']} compactions with nothing new"
        details = {"signal": signal, "rule": "compaction_churn"}
    if signal is None:
        update = await compact_if_needed(run)
        update["loop"] = {**update.get("loop", loop), "detector": detector}
        return Command(goto=_route(run), update=update)

    exhausted = loop["resets"] >= config.max_resets
    await deps.channel.emit(
        STUCK_DETECTED, {**details, "resets": loop["resets"], "ending": exhausted}
    )
    if exhausted:
        return Command(
            goto=FINALIZE, update={"stop_reason": "stuck", "loop": {**loop, "detector": detector}}
        )
    warning = prompts.STUCK_WARNING.format(signal=signal)
    note = f"Reset {loop['total_resets'] + 1}: stopped a loop ({signal})."
    new_loop = dict(loop)
    new_loop.update(
        tool_hashes=[],
        errors=[],
        thoughts=[],
        resets=loop["resets"] + 1,
        total_resets=loop["total_resets"] + 1,
        temperature_boost=loop["temperature_boost"] + config.temperature_step,
        compactions=0,
        signal=signal,
        detector=after_reset(detector, config),
    )
    return Command(
        goto="planner",
        update={
            "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), HumanMessage(warning)],
            "summary": f"{state['summary']}\n{note}".strip(),
            "loop": new_loop,
            "current_step": None,
            "replan_reason": f"stuck: {signal}",
        },
    )


def _route(run: NodeRun) -> str:
    state = run.state
    if state.get("stop_reason"):
        return FINALIZE
    if state["phase"] != "judged" or not state["verdicts"]:
        return "worker"
    decision = state["verdicts"][-1]["decision"]
    if decision == "accept" and state.get("branch"):
        return FINALIZE  # a branch's one step is done: the branch ends (graphs/branches.py)
    return {"accept": "worker", "revise": "worker", "replan": "planner"}.get(decision, FINALIZE)
