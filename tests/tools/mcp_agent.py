"""Run a task whose agent uses MCP servers (`TaskRunner.run` opens them). Used by the graph
tests (loaded by conftest) and, as a script, by the crash tests' child process:

    python tests/tools/mcp_agent.py DATABASE_URL DATA_DIR TASK_ID

(WAKEFUL_CRASH_AFTER_TOOL / WAKEFUL_CRASH_DURING_TOOL make it SIGKILL itself mid-run.)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from graphs.approval import ApprovalDecision
from graphs.engine import Engine
from graphs.runner import RunResult, TaskRunner
from stack.settings import load_settings


async def run_task(
    engine: Engine, task_id: str, *, decision: ApprovalDecision | None = None
) -> RunResult:
    """Run (or resume) a task until it ends or waits; the runner keeps its MCP servers up
    meanwhile."""
    return await TaskRunner(engine).run(task_id, decision=decision)


async def main(url: str, data_dir: str, task_id: str) -> None:
    settings = load_settings(WAKEFUL_DATA_DIR=Path(data_dir), DATABASE_URL=url)
    engine = await Engine.open(settings, url=url)
    try:
        result = await run_task(engine, task_id)
    finally:
        await engine.close()
    print(result.task.state)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
