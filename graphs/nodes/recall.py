"""recall: complete the input into a full state, and recall memory (the memory tiers).

Callers may start a run with just {"goal": ...} (Studio does); missing keys get defaults.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.types import Command

from graphs.boundary import FINALIZE, NodeRun
from graphs.state import initial_state


async def recall(run: NodeRun) -> Command:
    state = run.state
    if not str(state.get("goal") or "").strip():
        return Command(goto=FINALIZE, update={"stop_reason": "no_goal", "output": "No goal given."})
    defaults = initial_state(state["goal"], time.time())
    update: dict[str, Any] = {k: v for k, v in defaults.items() if k not in state}
    memory = run.deps.extras.get("memory")
    if memory is not None:
        recalled = await memory.recall({**defaults, **state}, run.deps)
        update["recalled"] = recalled.text
        update["summary"] = recalled.summary or state.get("summary", "")
    return Command(goto="planner", update=update)
