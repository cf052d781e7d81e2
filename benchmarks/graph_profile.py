"""Where an agent task's time goes: statements per task and a cProfile of the run.

Runs graph_overhead.py's agent (no L3/L4 tiers) `--tasks` times after a warm-up, counting
every statement sent to Postgres (a wrapper around psycopg's async cursor
`execute`/`executemany`, plus the pool's connection checks) and profiling the measured
tasks with cProfile. Prints JSON: statements per task by kind, node steps per task, and the
top functions by cumulative and by own time.

    python -P benchmarks/graph_profile.py --tasks 5
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import pstats
import re
import sys
from pathlib import Path
from typing import Any

import psycopg

from graphs.engine import Engine
from graphs.spec import parse_agent_spec
from stack import postgres
from stack.settings import load_settings

sys.path.append(str(Path(__file__).parent))  # after the packages (see bench_siblings)
from bench_siblings import load_sibling

_overhead = load_sibling("graph_overhead")
AGENT_WITHOUT_MEMORY = _overhead.AGENT_WITHOUT_MEMORY
agent_task = _overhead.agent_task

COUNTS: collections.Counter[str] = collections.Counter()
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9.]*")


def _kind(query: Any) -> str:
    text = query if isinstance(query, str) else str(getattr(query, "as_string", lambda: query)())
    words = _WORD.findall(text)[:6]
    if not words:
        return "(empty: pool check)"
    head = words[0].upper()
    for word in words[1:]:
        skip = {"INTO", "FROM", "OR", "REPLACE", "DISTINCT", "ON", "UPDATE"}
        if word.upper() not in skip and head in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            return f"{head} {word}"
    return head


def _count(cls: type, name: str) -> None:
    original = getattr(cls, name)

    async def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS[f"{name}: {_kind(query)}"] += 1
        return await original(self, query, *args, **kwargs)

    setattr(cls, name, counted)


_count(psycopg.AsyncCursor, "execute")  # AsyncConnection.execute goes through it too
_count(psycopg.AsyncCursor, "executemany")
_pool_check = postgres.check_if_closed


async def _counted_check(conn: psycopg.AsyncConnection) -> None:
    COUNTS["pool checkouts (checked without a round trip)"] += 1
    await _pool_check(conn)


postgres.check_if_closed = _counted_check  # open_pool reads it when the engine opens


def _top(profile: cProfile.Profile, key: str, limit: int) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(key).print_stats(limit)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [line for line in lines[start:] if line.strip()]


async def run(tasks: int, limit: int) -> dict[str, Any]:
    settings = load_settings().model_copy(update={"durability": "sync"})
    spec = parse_agent_spec(AGENT_WITHOUT_MEMORY, source="benchmark agent")
    engine = await Engine.open(settings, url=settings.database_url)
    try:
        await agent_task(engine, spec)  # warm-up: model, tokenizer, embedder loads
        COUNTS.clear()
        profile = cProfile.Profile()
        steps = 0
        seconds = 0.0
        profile.enable()
        for _ in range(tasks):
            sample = await agent_task(engine, spec)
            steps += sample.steps
            seconds += sample.seconds
        profile.disable()
    finally:
        await engine.close()
    per_task = {k: round(v / tasks, 1) for k, v in COUNTS.most_common()}
    return {
        "benchmark": "graph_profile",
        "tasks": tasks,
        "node_steps_per_task": steps / tasks,
        "seconds_per_task": round(seconds / tasks, 4),
        "statements_per_task": round(sum(COUNTS.values()) / tasks, 1),
        "statements_per_task_by_kind": per_task,
        "top_cumulative": _top(profile, "cumulative", limit),
        "top_own_time": _top(profile, "tottime", limit),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5, help="profiled agent tasks")
    parser.add_argument("--top", type=int, default=30, help="functions listed per ranking")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    print(json.dumps(asyncio.run(run(args.tasks, args.top)), indent=2))


if __name__ == "__main__":
    main()
