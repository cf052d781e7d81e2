"""What a tool is: its spec (name, scope, default policy, limits) paired with a LangChain tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field

from stack.errors import ConfigError

Scope = Literal["read", "write", "external"]
"""read: no side effects; write: changes local state; external: acts on other systems."""

Policy = Literal["allow", "deny", "approval"]
"""allow: run it; deny: never run it; approval: a human approves each call first."""

SIDE_EFFECT_SCOPES: frozenset[Scope] = frozenset({"write", "external"})


class ToolSpec(BaseModel):
    """How the runtime treats one tool, independent of which agent uses it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(min_length=1)
    scope: Scope
    policy: Policy = "allow"
    # The tool's own default in continuous mode, when no continuous rule names it or its scope.
    continuous_policy: Policy | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_output_chars: int = Field(default=8_000, ge=64)

    @property
    def has_side_effects(self) -> bool:
        """True for write and external tools: these go through the idempotency ledger."""
        return self.scope in SIDE_EFFECT_SCOPES


@dataclass(frozen=True)
class RegisteredTool:
    """A ToolSpec and the LangChain tool that implements it (with a typed args schema)."""

    spec: ToolSpec
    tool: BaseTool

    def __post_init__(self) -> None:
        if self.tool.name != self.spec.name:
            raise ConfigError(
                f"tool {self.tool.name!r} is registered under the spec name {self.spec.name!r}; "
                "give both the same name"
            )
        if self.tool.args_schema is None:
            raise ConfigError(f"tool {self.spec.name!r} has no args schema; give it a typed one")

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def from_function(
        cls,
        spec: ToolSpec,
        *,
        args_schema: type[BaseModel],
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
    ) -> RegisteredTool:
        """Wrap a plain function (sync, run in a thread) or coroutine as a tool."""
        tool = StructuredTool.from_function(
            func=func,
            coroutine=coroutine,
            name=spec.name,
            description=spec.description,
            args_schema=args_schema,
        )
        return cls(spec=spec, tool=tool)
