"""The runtime's commands as an operator runs them: `wakeful serve` with a continuous agent
bounded by --iterations, and `agent`, `task`, `killswitch` against a `wakeful worker`."""

from __future__ import annotations

import itertools
import re
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

pytestmark = pytest.mark.slow


def wakeful(
    runtime_db, module: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`wakeful <module> ARGS` as `python -m server.cli.<module>` (same Typer app)."""
    return subprocess.run(
        [sys.executable, "-m", f"server.cli.{module}", *args],
        env={**runtime_db.env(), "COLUMNS": "200"}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


async def test_serve_runs_a_continuous_agent_for_n_iterations(runtime_db, spec, rt, tmp_path):
    path = tmp_path / "watcher.yaml"
    path.write_text(yaml.safe_dump({**spec("watcher"), "goal": "Watch the load"}))
    result = wakeful(runtime_db, "serve", "--agent", str(path), "--interval", "1",
                     "--iterations", "3", "--port", "0", "--view", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"API\s+http://127\.0\.0\.1:\d+", out)
    token_file = runtime_db.data_dir / "admin.token"
    assert str(token_file) in out and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "3 iteration(s) ended · 3 completed" in out
    assert "scripted" in out and "state_change" in out

    tasks, _ = await rt.tasks.list("local", agent="watcher")
    iterations = sorted(tasks, key=lambda t: t.created_at)
    assert len(iterations) == 3 and all(t.state == "completed" for t in iterations)
    for previous, following in itertools.pairwise(iterations):
        assert following.created_at - previous.ended_at >= timedelta(seconds=1)
    assert (await rt.agents.status("local", "watcher")).state == "paused"


async def test_operators_commands_against_a_worker(runtime_db, spec, worker_process, tmp_path):
    tools = {"allow": ["load_average"], "policies": {"load_average": "approval"}}
    worker = [{"text": "Checking.", "tool_calls": [{"name": "load_average"}]}, "Load is fine."]
    path = tmp_path / "asker.yaml"
    path.write_text(yaml.safe_dump(spec("asker", worker=worker, tools=tools)))
    applied = wakeful(runtime_db, "agent", "apply", str(path))
    assert applied.returncode == 0, applied.stderr
    assert "agent asker applied · on demand" in applied.stdout
    running = worker_process("--concurrency", "2", name="cli-worker")

    sent = wakeful(runtime_db, "task", "send", "Check the load", "--agent", "asker", "--wait")
    assert sent.returncode == 1, sent.stdout + sent.stderr + running.output()  # it waits
    task_id = sent.stdout.splitlines()[0].strip()
    assert "needs approval" in sent.stdout
    shown = wakeful(runtime_db, "task", "get", task_id[:8])
    assert "input-required" in shown.stdout and "load_average" in shown.stdout

    answered = wakeful(runtime_db, "task", "approve", task_id[:8], "--comment", "go")
    assert answered.returncode == 0, answered.stderr
    followed = wakeful(runtime_db, "task", "events", task_id, "--follow")
    assert "working → completed" in followed.stdout
    listed = wakeful(runtime_db, "task", "list", "--state", "completed")
    assert task_id[:8] in listed.stdout
    again = wakeful(runtime_db, "task", "approve", task_id)
    assert again.returncode == 1 and "not waiting for an approval" in again.stderr

    assert wakeful(runtime_db, "killswitch", "on", "--by", "test").returncode == 0
    refused = wakeful(runtime_db, "task", "send", "Anything", "--agent", "asker")
    assert refused.returncode == 1 and "kill switch is on" in refused.stderr
    status = wakeful(runtime_db, "killswitch", "status")
    assert "ON" in status.stdout and "by test" in status.stdout
    assert wakeful(runtime_db, "killswitch", "off").returncode == 0
    missing = wakeful(runtime_db, "task", "get", "ffffffff")
    assert missing.returncode == 4
    bad = wakeful(runtime_db, "task", "send", "x", "--agent", "nobody")
    assert bad.returncode == 2 and "no agent named 'nobody'" in bad.stderr
    assert running.terminate() == 0
