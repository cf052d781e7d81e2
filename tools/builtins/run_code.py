"""run_python and run_shell: run code the agent wrote in the sandbox (scope external).

The code runs with no network, a read-only view of /usr, and the task's scratch directory
(/scratch, also the working directory) as the only writable place that outlives the call;
CPU, memory, process, file-size and wall-clock limits apply (tools/sandbox.py). Python is
Debian's /usr/bin/python3 in isolated mode, so it sees none of the worker's packages.
A run that exits non-zero, is killed or times out is a tool error saying which limit hit.
"""

from __future__ import annotations

import signal

from langchain_core.tools import ToolException
from pydantic import BaseModel, Field

from tools.sandbox import Sandbox, SandboxResult
from tools.sandbox_task import current_task_id
from tools.spec import RegisteredTool, ToolSpec

MAX_CODE_CHARS = 100_000
PYTHON = ["/usr/bin/python3", "-I", "-"]
SHELL = ["/bin/sh", "-s"]


class RunPythonArgs(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="A Python 3 program; print what you want to see. Files go in /scratch.",
    )


class RunShellArgs(BaseModel):
    script: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="A POSIX sh script; the working directory is /scratch.",
    )


def report(result: SandboxResult, sandbox: Sandbox) -> str:
    """The run's output for the model; a ToolException saying why when it did not succeed."""
    text = _streams(result)
    if result.ok:
        return text
    raise ToolException(f"{_why(result, sandbox)}\n{text}".rstrip())


def _streams(result: SandboxResult) -> str:
    parts = [f"--- stdout ---\n{result.stdout}" if result.stdout else "(no output)"]
    if result.stderr:
        parts.append(f"--- stderr ---\n{result.stderr}")
    return "\n".join(parts)


def _why(result: SandboxResult, sandbox: Sandbox) -> str:
    limits = sandbox.limits
    if result.timed_out:
        return f"the code ran longer than the {limits.wall_seconds:g}s limit and was killed"
    if result.signal == signal.SIGXCPU or result.signal == signal.SIGKILL:
        return (
            f"the code was killed by {signal.Signals(result.signal).name} (CPU limit "
            f"{limits.cpu_seconds}s, memory limit {limits.memory_mb} MB)"
        )
    if result.signal is not None:
        return f"the code was killed by signal {signal.Signals(result.signal).name}"
    return (
        f"the code exited with status {result.exit_code} (sandbox: no network, read-only "
        f"files outside /scratch, {limits.memory_mb} MB memory, {limits.max_processes} processes)"
    )


def run_python_tool(sandbox: Sandbox) -> RegisteredTool:
    description = (
        "Run a Python 3 program in a sandbox (standard library only, no network; /scratch "
        "is a writable directory kept for this task) and return what it printed."
    )
    return _code_tool(sandbox, "run_python", description, RunPythonArgs, PYTHON)


def run_shell_tool(sandbox: Sandbox) -> RegisteredTool:
    description = (
        "Run a POSIX shell script in a sandbox (no network; /scratch is a writable "
        "directory kept for this task) and return what it printed."
    )
    return _code_tool(sandbox, "run_shell", description, RunShellArgs, SHELL)


def _code_tool(
    sandbox: Sandbox, name: str, description: str, schema: type[BaseModel], argv: list[str]
) -> RegisteredTool:
    async def run(**args: str) -> str:
        (source,) = args.values()  # the schema's one field: the code
        return report(await sandbox.run(argv, stdin=source, task_id=current_task_id()), sandbox)

    spec = ToolSpec(
        name=name,
        description=description,
        scope="external",
        continuous_policy="approval",  # nobody watches a continuous agent's code
        timeout_s=sandbox.limits.wall_seconds + 10,  # our own kill comes first
        max_retries=0,
    )
    return RegisteredTool.from_function(spec, args_schema=schema, coroutine=run)
