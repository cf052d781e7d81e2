"""A real SIGKILL in the middle of a side-effecting call, then a resumed run of the same call."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from tools.builtins import build_builtin_registry
from tools.execution import execute_tool_call
from tools.faults import CRASH_AFTER_ENV, CRASH_DURING_ENV, no_crash_hook
from tools.ledger import ToolLedger
from tools.outcome import ToolOutcome
from tools.policy import ToolPolicyConfig

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
CALL_ARGS = {"title": "Crash test", "body": "written once"}

pytestmark = pytest.mark.slow


async def run_child_until_killed(
    env_var: str, url: str, data_dir: Path, task_id: str, call_id: str
) -> tuple[int, bytes]:
    env = {**os.environ, env_var: "write_report"}
    env.pop(CRASH_AFTER_ENV if env_var == CRASH_DURING_ENV else CRASH_DURING_ENV, None)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        url,
        str(data_dir),
        task_id,
        call_id,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    return child.returncode, stdout


async def resume(data_dir: Path, ledger: ToolLedger, task_id: str, call_id: str) -> ToolOutcome:
    toolset = build_builtin_registry(data_dir).toolset(
        ToolPolicyConfig(allow=["write_report"]), continuous=False
    )
    return await execute_tool_call(
        {"name": "write_report", "args": CALL_ARGS, "id": call_id},
        toolset,
        task_id=task_id,
        ledger=ledger,
        crash_hook=no_crash_hook,
    )


def reports(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "reports").glob("*.md")) if (data_dir / "reports").exists() else []


async def test_crash_after_the_tool_then_resume_replays_without_writing_again(
    ledger: ToolLedger, ledger_db_url: str, tmp_path: Path
) -> None:
    task_id, call_id = f"crash-{uuid.uuid4()}", "call-after"

    _, stdout = await run_child_until_killed(
        CRASH_AFTER_ENV, ledger_db_url, tmp_path, task_id, call_id
    )

    assert stdout == b""  # killed before it could report anything
    entry = await ledger.get(task_id, call_id)
    assert entry is not None and entry.status == "completed"
    assert [str(p) for p in reports(tmp_path)] == [entry.result]

    outcome = await resume(tmp_path, ledger, task_id, call_id)

    assert outcome.status == "replayed" and outcome.content == entry.result
    assert len(reports(tmp_path)) == 1


async def test_crash_during_the_tool_then_resume_reports_unknown_outcome(
    ledger: ToolLedger, ledger_db_url: str, tmp_path: Path
) -> None:
    task_id, call_id = f"crash-{uuid.uuid4()}", "call-during"

    await run_child_until_killed(CRASH_DURING_ENV, ledger_db_url, tmp_path, task_id, call_id)

    entry = await ledger.get(task_id, call_id)
    assert entry is not None and entry.status == "started"
    assert reports(tmp_path) == []

    outcome = await resume(tmp_path, ledger, task_id, call_id)

    assert outcome.status == "unknown_outcome" and "NOT repeated" in outcome.content
    assert reports(tmp_path) == []
