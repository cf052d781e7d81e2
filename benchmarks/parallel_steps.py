"""Parallel plan steps: a plan of four independent steps with slow tools, run one step at a
time (max_parallel_steps=1) and as four branches of one fan-out (max_parallel_steps=4).

Each step calls the side-effecting MCP tool `slow_step` (tests/support/steps_mcp_server.py,
sleeping `--tool-seconds`) once and answers; the models are scripted (`--model-seconds` of
latency per worker call). Both agents run through `TaskRunner` on the engine's Postgres
(task rows, events, checkpoints, durability "sync"), alternating, `--tasks` times each
after a warm-up. The JSON on stdout: the median wall time of each and `speedup`
(sequential / parallel), and the same for the steps alone (`steps_speedup`: from the plan
event to the last step_completed, without the MCP server's start, planning and the end of
the task). Progress goes to stderr.

    python -P benchmarks/parallel_steps.py --tasks 3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec
from stack.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def _steps_server() -> ModuleType:
    """tests/support/steps_mcp_server.py, loaded by file (tests/ is not a package)."""
    path = REPO / "tests" / "support" / "steps_mcp_server.py"
    spec = importlib.util.spec_from_file_location("steps_mcp_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STEPS_SERVER = _steps_server()
STEPS = ("s1", "s2", "s3", "s4")
TOOL = "st__slow_step"


def worker_script(parallel: int, tool_seconds: float, model_seconds: float) -> list[Any]:
    """Per step: one slow tool call, then the answer. One step at a time the responses
    come step after step; in a fan-out of n branches, round by round (graphs/branch_context)."""
    calls = [
        {
            "text": f"Doing {s}.",
            "latency_seconds": model_seconds,
            "tool_calls": [{"name": TOOL, "args": {"name": s, "seconds": tool_seconds}}],
        }
        for s in STEPS
    ]
    answers = [{"text": f"{s} done.", "latency_seconds": model_seconds} for s in STEPS]
    if parallel == 1:
        return [r for pair in zip(calls, answers, strict=True) for r in pair]
    return [*calls, *answers]


def agent(parallel: int, log: Path, tool_seconds: float, model_seconds: float) -> AgentSpec:
    plan = {"steps": [{"id": s, "description": f"Do step {s}", "depends_on": []} for s in STEPS]}
    return parse_agent_spec(
        {
            "name": f"bench-parallel-{parallel}",
            "model": {
                "provider": "scripted",
                "script": {
                    "planner": [{"structured": plan}],
                    "worker": worker_script(parallel, tool_seconds, model_seconds),
                },
            },
            "mcp_servers": [STEPS_SERVER.server_config(log, {"slow_step": "write"})],
            "tools": {"allow": ["st.slow_step"]},
            "entropy": {"semantic": False},
            "memory": {"episodic": False, "knowledge": False},
            "max_parallel_steps": parallel,
        },
        source="benchmark agent",
    )


async def timed_task(engine: Engine, spec: AgentSpec) -> tuple[float, float]:
    """The task's wall time, and the time its steps took (plan event to last step done)."""
    runner = TaskRunner(engine)
    task = await runner.submit(f"Do the four steps ({uuid.uuid4().hex[:6]})", spec)
    started = time.perf_counter()
    result = await runner.run(task.id)
    elapsed = time.perf_counter() - started
    if result.task.state != "completed":
        raise RuntimeError(
            f"{spec.name}: task ended {result.task.state} ({result.task.stop_reason})"
        )
    events = await engine.records.list_events(task.id, limit=10_000)
    planned = min(e.ts for e in events if e.type == "plan")
    done = max(e.ts for e in events if e.type == "step_completed")
    return elapsed, (done - planned).total_seconds()


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure(tasks: int, tool_seconds: float, model_seconds: float) -> dict[str, Any]:
    settings = load_settings()
    settings = settings.model_copy(update={"durability": "sync"})
    engine = await Engine.open(settings, url=settings.database_url)
    times: dict[int, list[float]] = {1: [], 4: []}
    steps: dict[int, list[float]] = {1: [], 4: []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            specs = {
                p: agent(p, Path(tmp) / f"steps-{p}.jsonl", tool_seconds, model_seconds)
                for p in times
            }
            progress("warm-up: one task of each")
            for spec in specs.values():
                await timed_task(engine, spec)
            for index in range(tasks):
                for parallel, spec in specs.items():
                    elapsed, in_steps = await timed_task(engine, spec)
                    times[parallel].append(elapsed)
                    steps[parallel].append(in_steps)
                progress(
                    f"run {index + 1}/{tasks}: sequential {times[1][-1]:.2f} s, "
                    f"parallel {times[4][-1]:.2f} s"
                )
    finally:
        await engine.close()
    sequential, parallel = statistics.median(times[1]), statistics.median(times[4])
    steps_sequential, steps_parallel = statistics.median(steps[1]), statistics.median(steps[4])
    return {
        "plan": "4 independent steps, one slow side-effecting MCP tool call each",
        "tool_seconds": tool_seconds,
        "model_seconds_per_worker_call": model_seconds,
        "tasks": tasks,
        "sequential_seconds": round(sequential, 3),
        "parallel_seconds": round(parallel, 3),
        "speedup": round(sequential / parallel, 2),
        # the part parallelism changes: from the plan to the last step done (event times)
        "steps_sequential_seconds": round(steps_sequential, 3),
        "steps_parallel_seconds": round(steps_parallel, 3),
        "steps_speedup": round(steps_sequential / steps_parallel, 2),
        "sequential_runs": [round(t, 3) for t in times[1]],
        "parallel_runs": [round(t, 3) for t in times[4]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=3, help="measured runs of each agent")
    parser.add_argument("--tool-seconds", type=float, default=2.0, help="each slow tool call")
    parser.add_argument("--model-seconds", type=float, default=0.2, help="each worker call")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    print(
        json.dumps(
            asyncio.run(measure(args.tasks, args.tool_seconds, args.model_seconds)), indent=2
        )
    )


if __name__ == "__main__":
    main()
