"""How much the agent graph costs per node step, against a bare LangGraph graph.

Both graphs run on the same Postgres checkpointer (AsyncPostgresSaver, durability "sync"),
in the same process and run:

- agent: the full wakeful graph through `TaskRunner` (task rows and events in Postgres,
  the scripted model, real read-only host probes, the entropy monitor with its embedder,
  the L2 summary), without the L3/L4 tiers — `ratio`;
- agent with memory tiers: the same with Qdrant episodes and the knowledge graph (recall
  and memorize per task) — `ratio_with_memory_tiers`;
- bare: four trivial async nodes in a loop, ending after as many node steps as an agent
  task takes.

A node step is one node execution: for the agent, one `node` event (every node records
one on entry); for the bare graph, one increment of its counter. After a warm-up (model,
tokenizer and embedder loads excluded), agent tasks and bare runs alternate; the JSON on
stdout reports the median node steps per second of each and their ratio (target >= 0.7).
Progress goes to stderr.

    python -P benchmarks/graph_overhead.py --tasks 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec
from stack.settings import load_settings

TARGET_RATIO = 0.7
GOAL = "Check this host's load, memory and disk and summarise them"
AGENT = {
    "name": "bench-agent",
    "model": {"provider": "scripted"},  # the heuristic script: each read tool once, then a summary
    "tools": {"allow": ["load_average", "memory_usage", "disk_usage"]},
}
BARE_NODES = ("a", "b", "c", "d")


@dataclass
class Sample:
    steps: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.steps / self.seconds


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class BareState(TypedDict):
    steps: int
    limit: int


def build_bare_graph(engine: Engine) -> CompiledStateGraph:
    """a → b → c → d → a … until `limit` node steps, on the engine's checkpointer."""

    def node(name: str, following: str) -> Any:
        async def step(state: BareState) -> Command:
            steps = state["steps"] + 1
            goto = END if steps >= state["limit"] else following
            return Command(goto=goto, update={"steps": steps})

        step.__name__ = name
        return step

    builder = StateGraph(BareState)
    for index, name in enumerate(BARE_NODES):
        following = BARE_NODES[(index + 1) % len(BARE_NODES)]
        builder.add_node(name, node(name, following), destinations=(following, END))
    builder.add_edge(START, BARE_NODES[0])
    return builder.compile(checkpointer=engine.checkpointer, name="bare")


async def agent_task(engine: Engine, spec: AgentSpec) -> Sample:
    runner = TaskRunner(engine)
    task = await runner.submit(GOAL, spec)
    started = time.perf_counter()
    result = await runner.run(task.id)
    seconds = time.perf_counter() - started
    if result.task.state != "completed":
        raise RuntimeError(f"agent task ended {result.task.state}: {result.task.output}")
    events = await engine.records.list_events(task.id, limit=100_000)
    return Sample(steps=sum(1 for e in events if e.type == "node"), seconds=seconds)


async def bare_run(engine: Engine, graph: CompiledStateGraph, limit: int) -> Sample:
    config = {"configurable": {"thread_id": f"bench-bare-{uuid.uuid4()}"}}
    started = time.perf_counter()
    final = await graph.ainvoke(
        {"steps": 0, "limit": limit},
        config,
        durability=engine.settings.durability,
    )
    return Sample(steps=final["steps"], seconds=time.perf_counter() - started)


def summary(samples: list[Sample]) -> dict[str, Any]:
    rates = [s.rate for s in samples]
    return {
        "node_steps_per_s": round(statistics.median(rates), 1),
        "ms_per_node_step": round(1000 / statistics.median(rates), 3),
        "node_steps_per_run": statistics.median(s.steps for s in samples),
        "runs_node_steps_per_s": [round(r, 1) for r in rates],
    }


# The same agent with the long-term memory tiers on (recall and memorize run L3/L4 I/O
# and embeddings per task): reported separately, so the graph's own cost stays visible.
AGENT_WITHOUT_MEMORY = {**AGENT, "memory": {"episodic": False, "knowledge": False}}


async def measure(tasks: int) -> dict[str, Any]:
    settings = load_settings()
    if settings.durability != "sync":
        progress(f"note: WAKEFUL_DURABILITY={settings.durability}; measuring with sync")
        settings = settings.model_copy(update={"durability": "sync"})
    spec = parse_agent_spec(AGENT_WITHOUT_MEMORY, source="benchmark agent")
    spec_with_memory = parse_agent_spec(AGENT, source="benchmark agent with memory")
    engine = await Engine.open(settings, url=settings.database_url)
    try:
        bare = build_bare_graph(engine)
        progress("warm-up: one agent task of each kind (loads tokenizer, embedder, stores)")
        warm = await agent_task(engine, spec)
        await agent_task(engine, spec_with_memory)
        await bare_run(engine, bare, warm.steps)
        agent_samples: list[Sample] = []
        memory_samples: list[Sample] = []
        bare_samples: list[Sample] = []
        for index in range(tasks):
            agent_samples.append(await agent_task(engine, spec))
            memory_samples.append(await agent_task(engine, spec_with_memory))
            bare_samples.append(await bare_run(engine, bare, warm.steps))
            progress(
                f"run {index + 1}/{tasks}: agent {agent_samples[-1].rate:.0f} steps/s "
                f"({agent_samples[-1].steps} steps), with memory "
                f"{memory_samples[-1].rate:.0f}, bare {bare_samples[-1].rate:.0f} steps/s"
            )
    finally:
        await engine.close()
    agent, bare_summary = summary(agent_samples), summary(bare_samples)
    with_memory = summary(memory_samples)
    ratio = agent["node_steps_per_s"] / bare_summary["node_steps_per_s"]
    memory_ratio = with_memory["node_steps_per_s"] / bare_summary["node_steps_per_s"]
    return {
        "benchmark": "graph_overhead",
        "tasks": tasks,
        "checkpointer": "AsyncPostgresSaver",
        "durability": settings.durability,
        "model": "scripted",
        "agent": agent,
        "agent_with_memory_tiers": with_memory,
        "bare": bare_summary,
        "cpus": os.cpu_count(),
        "ratio": round(ratio, 3),  # agent / bare, median node steps per second
        "ratio_with_memory_tiers": round(memory_ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10, help="measured runs of each graph")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    print(json.dumps(asyncio.run(measure(args.tasks)), indent=2))


if __name__ == "__main__":
    main()
