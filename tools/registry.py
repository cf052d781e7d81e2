"""Every tool the process knows (ToolRegistry) and the subset one agent may use (Toolset)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from langchain_core.tools import BaseTool

from stack.errors import ConfigError, NotFound
from tools.policy import PolicyDecision, ToolPolicyConfig
from tools.spec import RegisteredTool


class ToolRegistry:
    """Tools by name. Names are unique; registering one twice is a ConfigError."""

    def __init__(self, tools: Iterable[RegisteredTool] = ()) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: RegisteredTool) -> None:
        if tool.name in self._tools:
            raise ConfigError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> RegisteredTool:
        try:
            return self._tools[name]
        except KeyError:
            raise NotFound(f"no tool named {name!r} is registered") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def toolset(self, config: ToolPolicyConfig, *, continuous: bool) -> Toolset:
        """The tools one agent may use, with each policy resolved for the run mode."""
        return Toolset.build(self, config, continuous=continuous)


@dataclass(frozen=True)
class ResolvedTool:
    """A registered tool with the policy that applies to it for one agent and mode."""

    registered: RegisteredTool
    decision: PolicyDecision

    @property
    def name(self) -> str:
        return self.registered.name


class Toolset:
    """One agent's view of the registry: every registered tool with its resolved policy."""

    def __init__(self, entries: Mapping[str, ResolvedTool]) -> None:
        self._entries = dict(entries)

    @classmethod
    def build(
        cls, registry: ToolRegistry, config: ToolPolicyConfig, *, continuous: bool
    ) -> Toolset:
        """Resolve every registered tool; a config naming unknown tools is a ConfigError."""
        config.check_known(registry.names())
        entries = {}
        for name in registry.names():
            registered = registry.get(name)
            decision = config.resolve(registered.spec, continuous=continuous)
            entries[name] = ResolvedTool(registered=registered, decision=decision)
        return cls(entries)

    def model_tools(self) -> list[BaseTool]:
        """The tools to bind to the model: allowed and approval-gated ones, never denied ones."""
        return [e.registered.tool for e in self._usable()]

    def usable_names(self) -> list[str]:
        return [e.name for e in self._usable()]

    def lookup(self, name: str) -> ResolvedTool | None:
        """The tool and its decision, or None if no tool of that name is registered."""
        return self._entries.get(name)

    def needs_approval(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and entry.decision.policy == "approval"

    def _usable(self) -> list[ResolvedTool]:
        return [e for e in self._entries.values() if e.decision.policy != "deny"]
