"""A `wakeful run` process killed with SIGKILL mid-task is finished by `wakeful resume`,
with no completed step and no side effect repeated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml
from wakeful_testing import report_files

WAKEFUL = [sys.executable, "-m", "server.cli.main"]
REPO = Path(__file__).resolve().parents[2]


def write_spec(tmp_path: Path, name: str, tools: dict[str, Any], script: dict[str, Any]) -> Path:
    spec = {
        "name": name,
        "goal": "Gather host data, then write a report.",
        "model": {"provider": "scripted", "script": script},
        "tools": tools,
        "entropy": {"semantic": False},
        # No L3/L4: Qdrant local mode is single-process and the test process holds it.
        "memory": {"episodic": False, "knowledge": False},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cli_env(settings: Any, pg_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_CRASH")}
    env.update(
        WAKEFUL_DATA_DIR=str(settings.data_dir),
        DATABASE_URL=pg_url,
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


async def task_of(engine: Any, agent: str, *, timeout: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        tasks = await engine.records.list_tasks(agent=agent, limit=1)
        if tasks:
            return tasks[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no task for agent {agent}")


def resume(task_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WAKEFUL, "resume", task_id, "--approve", "auto"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180,
    )


GATHER_THEN_REPORT = {
    "planner": [{"structured": {"steps": [
        {"id": "gather", "description": "Gather load and memory"},
        {"id": "report", "description": "Write the report", "depends_on": ["gather"]},
    ]}}],
    "worker": [
        {"text": "Load first.", "tool_calls": [{"name": "load_average"}]},
        {"text": "Now memory.", "tool_calls": [{"name": "memory_usage"}]},
        "Load and memory gathered.",
        {"text": "Writing.", "tool_calls": [
            {"name": "write_report", "args": {"title": "Crash test", "body": "data"}}]},
        "Report saved.",
    ],
}


async def test_sigkill_right_after_a_write_is_not_repeated(engine, settings, pg_url, tmp_path):
    name = f"crash-after-{uuid.uuid4().hex[:6]}"
    spec = write_spec(tmp_path, name, {"allow": ["load_average", "memory_usage", "write_report"]},
                      GATHER_THEN_REPORT)
    before = len(report_files(settings.data_dir))
    env = cli_env(settings, pg_url)
    crashed = subprocess.run(
        [*WAKEFUL, "run", "--agent", str(spec), "--approve", "auto"],
        env={**env, "WAKEFUL_CRASH_AFTER_TOOL": "write_report"},
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(report_files(settings.data_dir)) == before + 1  # the write happened
    task = await task_of(engine, name)
    assert task.state == "working"

    finished = resume(task.id, env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    task = await engine.records.get_task(task.id)
    assert task.state == "completed"
    assert len(report_files(settings.data_dir)) == before + 1  # ...exactly once
    events = await engine.records.list_events(task.id, limit=10_000)
    writes = [e.data for e in events if e.type == "tool_call" and e.data["tool"] == "write_report"]
    assert [w["status"] for w in writes] == ["replayed"]
    completed = [e.data["step"] for e in events if e.type == "step_completed"]
    assert completed == ["gather", "report"]


async def test_sigkill_while_waiting_for_approval_then_resume(engine, settings, pg_url, tmp_path):
    name = f"crash-wait-{uuid.uuid4().hex[:6]}"
    tools = {"allow": ["load_average", "memory_usage", "write_report"],
             "policies": {"write_report": "approval"}}
    spec = write_spec(tmp_path, name, tools, GATHER_THEN_REPORT)
    before = len(report_files(settings.data_dir))
    env = cli_env(settings, pg_url)
    process = subprocess.Popen(
        [*WAKEFUL, "run", "--agent", str(spec), "--approve", "ask"],
        env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        task = await task_of(engine, name)
        deadline = asyncio.get_running_loop().time() + 120
        while not [e for e in await engine.records.list_events(task.id) if
                   e.type == "approval_requested"]:
            assert asyncio.get_running_loop().time() < deadline, "no approval request"
            await asyncio.sleep(0.05)
        # With no terminal to ask on, the run may have stopped by itself, leaving the task
        # waiting; otherwise it dies here while waiting.
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert len(report_files(settings.data_dir)) == before

    finished = resume(task.id, env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    task = await engine.records.get_task(task.id)
    assert task.state == "completed"
    assert len(report_files(settings.data_dir)) == before + 1
    events = await engine.records.list_events(task.id, limit=10_000)
    tools_run = [e.data["tool"] for e in events if e.type == "tool_call"]
    assert tools_run == ["load_average", "memory_usage", "write_report"]  # none twice
    assert [e.data["step"] for e in events if e.type == "step_completed"] == ["gather", "report"]
    decided = [e.data for e in events if e.type == "approval_decided"]
    assert [d["decided_by"] for d in decided] == ["cli:--approve auto"]


async def test_sigkill_between_event_flush_and_checkpoint(engine, settings, pg_url, tmp_path):
    """The planner has run, then the process dies before its checkpoint: its events were
    waiting to go with the checkpoint (graphs/checkpoint_events.py), so neither is written;
    the resumed run plans again, and the plan is recorded once, with no gap in seq."""
    name = f"crash-flush-{uuid.uuid4().hex[:6]}"
    spec = write_spec(tmp_path, name, {"allow": ["load_average", "memory_usage", "write_report"]},
                      GATHER_THEN_REPORT)
    env = cli_env(settings, pg_url)
    crashed = subprocess.run(
        [*WAKEFUL, "run", "--agent", str(spec), "--approve", "auto"],
        env={**env, "WAKEFUL_CRASH_AFTER_FLUSH": "planner"},
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    task = await task_of(engine, name)
    before = await engine.records.list_events(task.id, limit=10_000)
    assert [e.type for e in before].count("plan") == 0

    finished = resume(task.id, env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    events = await engine.records.list_events(task.id, limit=10_000)
    assert [e.type for e in events].count("plan") == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    started = [e.data for e in events if e.type == "run_started"]
    assert [s["reason"] for s in started] == ["first", "crash"]
    task = await engine.records.get_task(task.id)
    assert (task.state, task.crash_retries) == ("completed", 1)
