"""finalize: settle the stop reason and compose the output from the accepted steps."""

from __future__ import annotations

from langgraph.types import Command

from graphs.boundary import NodeRun
from graphs.events import FINISHED

COMPLETED = "completed"


def compose_output(plan: list, stop_reason: str) -> str:
    done = [s for s in plan if s["status"] == "done"]
    if stop_reason == COMPLETED and len(done) == 1:
        return done[0]["result"] or ""
    parts = [f"## {s['id']}: {s['description']}\n\n{s['result']}" for s in done]
    if stop_reason != COMPLETED:
        parts.append(f"Stopped before the goal was met: {stop_reason}.")
    return "\n\n".join(parts)


async def finalize(run: NodeRun) -> Command:
    state = run.state
    stop_reason = state.get("stop_reason") or COMPLETED
    output = state.get("output") or compose_output(state.get("plan", []), stop_reason)
    await run.deps.channel.emit(
        FINISHED,
        {"stop_reason": stop_reason, "usage": dict(state.get("usage") or {})},
        key="finished",
    )
    return Command(goto="memorize", update={"stop_reason": stop_reason, "output": output})
