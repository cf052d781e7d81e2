"""Wires the agent graph. Nodes route themselves with Command; see the architecture doc.

START → recall → planner → worker ⇄ tools → entropy_monitor → worker
                               └→ critic → entropy_monitor → worker | planner | finalize
                           worker ─Send→ branch × N → join → worker | planner | finalize
finalize → memorize → END

A `branch` (graphs/branches.py) is a subgraph of worker ⇄ tools → critic → entropy_monitor
for one plan step of a fan-out; its `finalize` and `planner` end the branch.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.boundary import boundary
from graphs.branches import BRANCH, JOIN, BranchOutput, branch_exit, join
from graphs.context import RunContext
from graphs.nodes.critic import critic
from graphs.nodes.entropy_monitor import entropy_monitor
from graphs.nodes.finalize import finalize
from graphs.nodes.memorize import memorize
from graphs.nodes.planner import planner
from graphs.nodes.recall import recall
from graphs.nodes.tool_calls import tools
from graphs.nodes.worker import worker
from graphs.state import AgentState

NODES = {
    "recall": (recall, ("planner", "finalize")),
    "planner": (planner, ("worker", "finalize")),
    "worker": (worker, ("tools", "critic", "finalize", BRANCH)),
    "tools": (tools, ("entropy_monitor", "finalize")),
    "critic": (critic, ("entropy_monitor", "finalize")),
    "entropy_monitor": (entropy_monitor, ("worker", "planner", "finalize")),
    JOIN: (join, ("worker", "planner", "finalize")),
    "finalize": (finalize, ("memorize",)),
    "memorize": (memorize, ()),
}
BRANCH_NODES = ("worker", "tools", "critic", "entropy_monitor")
BRANCH_EXITS = ("finalize", "planner")  # where a node would leave the step


def build_branch_graph(context_schema: type[Any] = RunContext) -> CompiledStateGraph:
    """One plan step of a fan-out; checkpointed with the task's graph (its checkpointer)."""
    builder = StateGraph(AgentState, context_schema=context_schema, output_schema=BranchOutput)
    for name in BRANCH_NODES:
        node, destinations = NODES[name]
        kept = tuple(d for d in destinations if d != BRANCH)
        builder.add_node(name, boundary(name, node), destinations=kept)
    for name in BRANCH_EXITS:
        builder.add_node(name, branch_exit)
        builder.add_edge(name, END)
    builder.add_edge(START, "worker")
    return builder.compile(name="wakeful-branch")


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    context_schema: type[Any] = RunContext,
) -> CompiledStateGraph:
    builder = StateGraph(AgentState, context_schema=context_schema)
    for name, (node, destinations) in NODES.items():
        builder.add_node(name, boundary(name, node), destinations=destinations)
    builder.add_node(BRANCH, build_branch_graph(context_schema))
    builder.add_edge(BRANCH, JOIN)
    builder.add_edge(START, "recall")
    return builder.compile(checkpointer=checkpointer, name="wakeful-agent")
