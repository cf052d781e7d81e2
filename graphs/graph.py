"""Wires the agent graph. Nodes route themselves with Command; see the architecture doc.

START → recall → planner → worker ⇄ tools → entropy_monitor → worker
                               └→ critic → entropy_monitor → worker | planner | finalize
finalize → memorize → END
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.boundary import boundary
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
    "worker": (worker, ("tools", "critic", "finalize")),
    "tools": (tools, ("entropy_monitor", "finalize")),
    "critic": (critic, ("entropy_monitor", "finalize")),
    "entropy_monitor": (entropy_monitor, ("worker", "planner", "finalize")),
    "finalize": (finalize, ("memorize",)),
    "memorize": (memorize, ()),
}


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    context_schema: type[Any] = RunContext,
) -> CompiledStateGraph:
    builder = StateGraph(AgentState, context_schema=context_schema)
    for name, (node, destinations) in NODES.items():
        builder.add_node(name, boundary(name, node), destinations=destinations)
    builder.add_edge(START, "recall")
    return builder.compile(checkpointer=checkpointer, name="wakeful-agent")
