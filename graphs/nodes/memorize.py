"""memorize: write what this run learned to long-term memory (the memory tiers, issue 3)."""

from __future__ import annotations

from langgraph.graph import END
from langgraph.types import Command

from graphs.boundary import NodeRun


async def memorize(run: NodeRun) -> Command:
    memory = run.deps.extras.get("memory")
    if memory is not None:
        await memory.memorize(run.state, run.deps)
    return Command(goto=END)
