"""recall: build the context the planner and worker start from (memory tiers, issue 3)."""

from __future__ import annotations

from langgraph.types import Command

from graphs.boundary import NodeRun


async def recall(run: NodeRun) -> Command:
    memory = run.deps.extras.get("memory")
    update: dict = {}
    if memory is not None:
        recalled = await memory.recall(run.state, run.deps)
        update = {"recalled": recalled.text, "summary": recalled.summary or run.state["summary"]}
    return Command(goto="planner", update=update)
