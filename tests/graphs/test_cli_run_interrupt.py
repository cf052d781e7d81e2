"""`wakeful run` as an operator meets it: Ctrl-C says how to continue and leaves the task
resumable at once; `--approve ask` with no terminal says how to answer instead of aborting."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from stack.lifecycle import run_owner

WAKEFUL = [sys.executable, "-m", "server.cli.main"]
REPO = Path(__file__).resolve().parents[2]
ONE_STEP = {"steps": [{"id": "s", "description": "Look at the load"}]}


def spec_file(tmp_path: Path, name: str, script: dict, tools: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "goal": "Look at the load.",
        "model": {"provider": "scripted", "script": script}, "tools": tools,
        "entropy": {"semantic": False}, "memory": {"episodic": False, "knowledge": False},
    }))
    return path


def env_for(settings, pg_url: str) -> dict[str, str]:
    import os

    return {**os.environ, "WAKEFUL_DATA_DIR": str(settings.data_dir), "DATABASE_URL": pg_url,
            "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


async def newest_task(engine, agent: str, timeout: float = 120):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        tasks = await engine.records.list_tasks(agent=agent, limit=1)
        if tasks:
            return tasks[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no task for {agent}")


async def test_ctrl_c_says_how_to_resume_and_leaves_the_task_resumable(
    engine, settings, pg_url, tmp_path
):
    name = f"interrupt-{uuid.uuid4().hex[:6]}"
    slow = {"structured": ONE_STEP, "latency_seconds": 600}
    path = spec_file(tmp_path, name, {"planner": [slow]}, {"allow": ["load_average"]})
    process = subprocess.Popen([*WAKEFUL, "run", "--agent", str(path), "--approve", "auto"],
                               env=env_for(settings, pg_url), cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        task = await newest_task(engine, name)
        deadline = asyncio.get_running_loop().time() + 120
        while not [e for e in await engine.records.list_events(task.id)
                   if e.data.get("node") == "planner"]:
            assert process.poll() is None, process.communicate()
            assert asyncio.get_running_loop().time() < deadline, "the planner never started"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, out + err
    assert f"interrupted; continue with: wakeful resume {task.id}" in err
    task = await engine.records.get_task(task.id)
    assert task.state == "working" and task.lease_owner is None  # given up, not lapsing
    claim = await engine.lifecycle.claim(task.id, run_owner("test"))
    assert claim.lease is not None  # resumable at once
    await engine.lifecycle.cancel(task.id, by="test")


async def test_approve_ask_without_a_terminal_says_how_to_answer(
    engine, settings, pg_url, tmp_path
):
    name = f"no-tty-{uuid.uuid4().hex[:6]}"
    worker = [{"text": "Checking.", "tool_calls": [{"name": "load_average"}]}, "Fine."]
    tools = {"allow": ["load_average"], "policies": {"load_average": "approval"}}
    path = spec_file(tmp_path, name, {"planner": [{"structured": ONE_STEP}], "worker": worker},
                     tools)
    result = subprocess.run([*WAKEFUL, "run", "--agent", str(path), "--approve", "ask"],
                            env=env_for(settings, pg_url), cwd=REPO, text=True,
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    task = await newest_task(engine, name)
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())  # the terminal width may wrap it
    assert f"Answer with: wakeful task approve {task.id}" in said
    assert "load_average" in said
    assert (await engine.records.get_task(task.id)).state == "input-required"
