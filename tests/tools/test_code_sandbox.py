"""run_python / run_shell in the bubblewrap sandbox: each escape attempt is a clean tool
error and the worker stays healthy (later runs work, no sandbox process outlives its run)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.builtins import build_builtin_registry
from tools.execution import execute_tool_call
from tools.outcome import ToolOutcome
from tools.policy import ToolPolicyConfig
from tools.registry import Toolset
from tools.sandbox import SandboxLimits, _processes_of, _sandbox_uid
from tools.sandbox_task import task_scope

LIMITS = SandboxLimits(wall_seconds=6, cpu_seconds=4, memory_mb=256, max_processes=16)
SECRET = "s3cr3t-value-the-sandbox-must-not-see"


@pytest.fixture(scope="module", autouse=True)
def bubblewrap() -> None:
    """Install Debian's bubblewrap when missing (never skip: CI must run these)."""
    if shutil.which("bwrap") and shutil.which("prlimit"):
        return
    if shutil.which("apt-get") is None:
        pytest.fail("bubblewrap is missing and there is no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "bubblewrap"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    assert shutil.which("bwrap"), "apt-get left no bwrap"


@pytest.fixture
def toolset(tmp_path: Path) -> Toolset:
    registry = build_builtin_registry(tmp_path, code_limits=LIMITS)
    config = ToolPolicyConfig(allow=["run_python", "run_shell"])
    return registry.toolset(config, continuous=False)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A real port on the host's loopback that the sandbox must not reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


async def run(
    toolset: Toolset, code: str, tool: str = "run_python", task: str = "t1"
) -> ToolOutcome:
    field = "code" if tool == "run_python" else "script"
    with task_scope(task):
        call = {"name": tool, "args": {field: code}, "id": f"call-{time.monotonic_ns()}"}
        return await execute_tool_call(call, toolset, task_id=task, ledger=None)


async def assert_healthy(toolset: Toolset, baseline: int) -> None:
    """A later run works and no sandbox process is left behind."""
    outcome = await run(toolset, "print(6 * 7)")
    assert outcome.status == "ok" and "42" in outcome.content
    assert _processes_of(_sandbox_uid()) <= baseline


async def test_code_runs_and_scratch_is_kept_per_task(toolset: Toolset, tmp_path: Path) -> None:
    wrote = await run(toolset, "open('notes.txt', 'w').write('kept'); print('wrote')")
    assert wrote.status == "ok" and "wrote" in wrote.content
    assert (tmp_path / "sandbox" / "t1" / "notes.txt").read_text() == "kept"
    again = await run(toolset, "cat /scratch/notes.txt", tool="run_shell")
    assert again.status == "ok" and "kept" in again.content
    other = await run(toolset, "print(open('notes.txt').read())", task="t2")
    assert other.status == "error" and "FileNotFoundError" in other.content


async def test_network_is_unreachable(toolset: Toolset, listening_port: int) -> None:
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {listening_port}), timeout=3)\n"
    local = await run(toolset, code)
    assert local.status == "error" and "ConnectionRefusedError" in local.content
    outside = await run(toolset, "import socket; socket.create_connection(('1.1.1.1', 80), 3)")
    assert outside.status == "error" and "Network is unreachable" in outside.content
    assert "exited with status 1" in outside.content


async def test_data_dir_and_environment_are_hidden(
    toolset: Toolset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret.txt").write_text(SECRET)
    monkeypatch.setenv("WAKEFUL_TEST_SECRET", SECRET)
    read = await run(toolset, f"print(open({str(tmp_path / 'secret.txt')!r}).read())")
    assert read.status == "error" and "FileNotFoundError" in read.content
    env = await run(
        toolset, "import os; print(sorted(os.environ), os.environ.get('WAKEFUL_TEST_SECRET'))"
    )
    assert env.status == "ok" and "WAKEFUL_TEST_SECRET" not in env.content
    project = await run(toolset, "ls /work /root /etc 2>&1; echo done", tool="run_shell")
    assert project.status == "ok" and "No such file or directory" in project.content
    assert SECRET not in read.content + env.content + project.content


async def test_writes_outside_scratch_fail(toolset: Toolset, tmp_path: Path) -> None:
    usr = await run(toolset, "open('/usr/evil', 'w').write('x')")
    assert usr.status == "error" and "Read-only file system" in usr.content
    host = await run(toolset, f"echo x > {tmp_path}/evil", tool="run_shell")
    assert host.status == "error" and "exited with status" in host.content
    assert not (tmp_path / "evil").exists() and not Path("/usr/evil").exists()


async def test_fork_bomb_is_contained(toolset: Toolset) -> None:
    baseline = _processes_of(_sandbox_uid())
    bomb = await run(toolset, "import os\nwhile True:\n    os.fork()\n")
    assert bomb.status == "error"
    assert "Resource temporarily unavailable" in bomb.content or "limit" in bomb.content
    await assert_healthy(toolset, baseline)


async def test_allocating_10_gb_fails(toolset: Toolset) -> None:
    baseline = _processes_of(_sandbox_uid())
    big = await run(toolset, "block = bytearray(10 * 1024**3)")
    assert big.status == "error" and "MemoryError" in big.content
    assert "256 MB memory" in big.content
    await assert_healthy(toolset, baseline)


async def test_sleeping_past_the_limit_is_killed(toolset: Toolset) -> None:
    baseline = _processes_of(_sandbox_uid())
    started = time.monotonic()
    slow = await run(toolset, "sleep 120 & sleep 120; echo never", tool="run_shell")
    took = time.monotonic() - started
    assert slow.status == "error" and "longer than the 6s limit" in slow.content
    assert "never" not in slow.content
    assert took < LIMITS.wall_seconds + 5
    await assert_healthy(toolset, baseline)


def test_code_tools_need_approval_in_continuous_mode(tmp_path: Path) -> None:
    registry = build_builtin_registry(tmp_path)
    config = ToolPolicyConfig(allow=["run_python", "run_shell"])
    continuous = registry.toolset(config, continuous=True)
    task = registry.toolset(config, continuous=False)
    for name in ("run_python", "run_shell"):
        gated = continuous.lookup(name)
        assert gated is not None and gated.decision.policy == "approval"
        assert gated.decision.source == "continuous.default"
        plain = task.lookup(name)
        assert plain is not None and plain.decision.policy == "allow"
        assert plain.registered.spec.scope == "external"
    opted_out = ToolPolicyConfig.model_validate(
        {"allow": ["run_python"], "continuous": {"policies": {"run_python": "allow"}}}
    )
    entry = registry.toolset(opted_out, continuous=True).lookup("run_python")
    assert entry is not None and entry.decision.policy == "allow"
