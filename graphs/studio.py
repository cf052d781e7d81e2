"""The graph as `langgraph dev` (LangGraph Studio) loads it: see langgraph.json.

The server supplies the checkpointer; the context is `StudioContext` (which agent spec),
and dependencies are built on first use (graphs/context.py).
"""

from __future__ import annotations

import os

from graphs.context import StudioContext
from graphs.graph import build_graph

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANGSMITH_TRACING", "false")

graph = build_graph(context_schema=StudioContext)
