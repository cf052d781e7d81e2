"""Run a task whose agent uses MCP servers (`TaskRunner.run` opens them). Used by the graph
tests (loaded by conftest) and, as a script, by the crash tests' child process:

    python tests/tools/mcp_agent.py DATABASE_URL DATA_DIR TASK_ID [ACTION]

(ACTION: a person's answer to the pending request, e.g. retry.)

(WAKEFUL_CRASH_AFTER_TOOL / WAKEFUL_CRASH_DURING_TOOL make it SIGKILL itself mid-run.)
"""

from __future__ import annotations

import asyncio
import os
import signal
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


async def run_until_killed(
    engine: Engine, task_id: str, *, crash_env: str, tool: str, action: str | None = None
) -> None:
    """Run (or resume, answering `action`) the task in a child process running this file,
    which SIGKILLs itself at the point `crash_env` names for `tool`; fails unless it did."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_CRASH")}
    env[crash_env] = tool
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__)),
        engine.url,
        str(engine.settings.data_dir),
        task_id,
        *([action] if action else []),
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == -signal.SIGKILL, (stdout + stderr).decode()[-3000:]


async def main(url: str, data_dir: str, task_id: str, action: str | None = None) -> None:
    settings = load_settings(WAKEFUL_DATA_DIR=Path(data_dir), DATABASE_URL=url)
    engine = await Engine.open(settings, url=url)
    decision = ApprovalDecision(action=action, decided_by="child") if action else None  # type: ignore[arg-type]
    try:
        result = await run_task(engine, task_id, decision=decision)
    finally:
        await engine.close()
    print(result.task.state)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
