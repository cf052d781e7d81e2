"""What a new operator runs, as they run it (subprocesses; a real terminal under tmux):

- `task send --wait` ends with the outcome and the task's output; the old `tasks` group and
  `task show` still answer; `task get --events` lists the event log;
- a first `wakeful run` names each backing service as it becomes ready, with its time, and
  an MCP server's stderr goes to a log file under the data dir, not into our output; no
  "Loading weights" bars;
- on a terminal, the live view's runtime is the budget's clock: a wait at an approval
  prompt does not count.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
NOISE = "noise from the notes server"


def wakeful(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli.main", *args], cwd=REPO,
        env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def test_send_wait_shows_the_output(runtime_db, spec, worker_process, tmp_path):
    path = tmp_path / "teller.yaml"
    path.write_text(yaml.safe_dump(spec("teller", worker=["The load is 0.4: fine."])))
    env = runtime_db.env()
    assert wakeful(env, "agent", "apply", str(path)).returncode == 0
    running = worker_process(name="op-worker")

    sent = wakeful(env, "task", "send", "Check the load", "--agent", "teller", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr + running.output()
    task_id = sent.stdout.splitlines()[0].strip()
    ending = sent.stdout.split("state_change", 1)[1]
    assert "completed" in ending and "output" in ending
    assert "The load is 0.4: fine." in ending

    old = wakeful(env, "tasks", "list", "--state", "completed")
    assert old.returncode == 0 and task_id[:8] in old.stdout
    shown = wakeful(env, "task", "show", task_id[:8], "--events")
    assert shown.returncode == 0, shown.stderr
    assert "The load is 0.4: fine." in shown.stdout and "state_change" in shown.stdout
    assert running.terminate() == 0


def _noisy_spec(tmp_path: Path) -> Path:
    """A scripted agent with memory on and an MCP server that writes to its stderr."""
    server = (f"import sys, runpy; print({NOISE!r}, file=sys.stderr, flush=True); "
              "runpy.run_module('tools.mcp.demo_server', run_name='__main__')")
    path = tmp_path / "noisy.yaml"
    path.write_text(yaml.safe_dump({
        "name": "noisy", "goal": "Read the notes", "model": {"provider": "scripted"},
        "mcp_servers": [{"name": "notes", "transport": "stdio", "command": "python",
                         "args": ["-c", server],
                         "env": {"WAKEFUL_NOTES_FILE": str(tmp_path / "notes.txt")},
                         "scopes": {"list_notes": "read"}}],
        "tools": {"allow": ["notes.list_notes"], "scopes": {"read": "allow"}},
    }))
    return path


def test_first_run_names_each_service_and_keeps_mcp_stderr_out(runtime_db, tmp_path):
    result = wakeful(runtime_db.env(), "run", "--agent", str(_noisy_spec(tmp_path)))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for service in ("Postgres", "Qdrant", "FalkorDB", "embedder", "MCP server notes"):
        assert re.search(rf"✓ {service} ready in \d+\.\ds", out), (service, out)
    assert NOISE not in out
    assert "Loading weights" not in out and "Warning" not in out
    log = runtime_db.data_dir / "logs" / "mcp-notes.log"
    assert NOISE in log.read_text()


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def _screen(socket: str) -> str:
    return _tmux(socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", "run")


def _until(socket: str, text: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while text not in (screen := _screen(socket)):
        assert time.monotonic() < deadline, f"{text!r} never appeared:\n{screen}"
        time.sleep(0.2)
    return screen


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_the_runtime_bar_does_not_count_a_wait_at_the_prompt(runtime_db, spec, tmp_path):
    path = tmp_path / "asker.yaml"
    path.write_text(yaml.safe_dump({**spec("asker", worker=[
        {"text": "Checking.", "tool_calls": [{"name": "load_average"}]}, "Load is fine."]),
        "tools": {"allow": ["load_average"], "policies": {"load_average": "approval"}},
        "goal": "Check the load"}))
    env = {**runtime_db.env(), "TERM": "xterm-256color"}
    command = " ".join([
        "env", *(shlex.quote(f"{k}={v}") for k, v in env.items()),
        shlex.quote(sys.executable), "-m", "server.cli.main", "run", "--agent",
        shlex.quote(str(path)), "--approve", "ask", ";", "sleep", "600",
    ])
    socket = f"wakeful-test-{uuid.uuid4().hex[:8]}"
    _tmux(socket, "new-session", "-d", "-s", "run", "-x", "120", "-y", "50", "-c", str(REPO),
          command)
    try:
        _until(socket, "approve, reject or edit?")
        waited = 5.0
        time.sleep(waited)  # the subject: time at the prompt is not the run's
        _tmux(socket, "send-keys", "-t", "run", "a", "Enter")
        screen = _until(socket, "task id:")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, timeout=30)
    assert "completed" in screen, screen
    readings = [float(r) for r in re.findall(r"runtime\s+\S+\s+(\d+\.\d)s/\d+s", screen)]
    assert readings, screen
    assert max(readings) < waited, screen
    assert "Loading weights" not in screen
