"""What a run needs besides its state, handed to nodes through LangGraph's runtime context.

The CLI and the server build `AgentDeps` and pass `RunContext(deps=...)`. Under
`langgraph dev` (Studio) the context is a plain JSON object, `StudioContext`, and the
dependencies are built here on first use: scripted or configured models, the built-in
tools, events to the log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.runtime import Runtime

from graphs.budgets import Budgets
from graphs.events import LogChannel, TaskChannel
from graphs.models import RoleModels, build_models
from graphs.spec import AgentSpec, load_agent_spec
from stack.errors import ConfigError
from stack.settings import Settings, load_settings
from tools.builtins import build_builtin_registry
from tools.ledger import ToolLedger
from tools.registry import ToolRegistry, Toolset

if TYPE_CHECKING:
    from memory.embeddings import Embedder

DEFAULT_AGENT_FILE = "agents/host-monitor.yaml"


@dataclass
class AgentDeps:
    task_id: str
    spec: AgentSpec
    settings: Settings
    models: RoleModels
    toolset: Toolset
    channel: TaskChannel
    budgets: Budgets
    ledger: ToolLedger | None = None
    embedder: Embedder | None = None
    continuous: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    deps: AgentDeps


@dataclass
class StudioContext:
    """The context Studio may send: which agent spec to run (path relative to the project)."""

    agent: str = DEFAULT_AGENT_FILE


async def deps_of(runtime: Runtime[Any]) -> AgentDeps:
    context = runtime.context
    if isinstance(context, RunContext):
        return context.deps
    agent = context.agent if isinstance(context, StudioContext) else DEFAULT_AGENT_FILE
    # Building them reads files and may load a model: off the event loop, which
    # `langgraph dev` guards against blocking calls.
    return await asyncio.to_thread(studio_deps, agent)


def builtin_registry(spec: AgentSpec, settings: Settings) -> ToolRegistry:
    return build_builtin_registry(
        settings.data_dir, http_allow=spec.tools.http_allow, code_limits=spec.code
    )


def toolset_for(spec: AgentSpec, settings: Settings, *, continuous: bool = False) -> Toolset:
    """The agent's built-in tools. An agent with MCP servers needs `TaskToolboxes.open`."""
    if spec.mcp_servers:
        raise ConfigError(
            f"agent {spec.name!r} uses MCP servers; its tools come from TaskToolboxes.open()"
        )
    return builtin_registry(spec, settings).toolset(spec.tools, continuous=continuous)


def semantic_embedder(spec: AgentSpec, settings: Settings) -> Embedder | None:
    if not spec.entropy.semantic:
        return None
    from memory.embeddings import shared_embedder

    return shared_embedder(settings.embedding_model)


@lru_cache(maxsize=8)
def studio_deps(agent_file: str) -> AgentDeps:
    settings = load_settings()
    path = Path(agent_file)
    spec = load_agent_spec(path)
    return AgentDeps(
        task_id="studio",
        spec=spec,
        settings=settings,
        models=build_models(spec, settings, spec_dir=path.parent),
        toolset=toolset_for(spec, settings),
        channel=LogChannel(),
        budgets=spec.budgets,
        embedder=semantic_embedder(spec, settings),
    )
