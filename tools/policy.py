"""Which tools an agent may use, and whether each call runs, is refused, or waits for approval.

Written in the agent spec under `tools:`::

    tools:
      allow: [load_average, memory_usage, write_report]  # "*" = every registered tool
      policies: {write_report: approval}                 # per tool
      scopes: {write: allow, external: approval}         # per scope
      continuous: {scopes: {write: approval}}            # stricter rules when nobody waits
      http_allow: [example.com, "*.example.org"]          # hosts http_get may fetch

MCP tools are named `server.tool` here and in events, and `server__tool` to the model (whose
function names allow only [A-Za-z0-9_-]): see `model_tool_name`. Both spellings are accepted.

Precedence: a tool not in `allow` is denied; otherwise the per-tool rule, else the per-scope
rule, else the tool's own default. In continuous mode the `continuous` rules are resolved the
same way and the stricter of the two decisions applies (deny > approval > allow); they can
only tighten, never loosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stack.errors import ConfigError
from tools.spec import Policy, Scope, ToolSpec

ALL_TOOLS = "*"
MCP_SEPARATOR = "__"
MAX_TOOL_NAME = 64
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_HOST_PATTERN = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")
_STRICTNESS: dict[Policy, int] = {"allow": 0, "approval": 1, "deny": 2}


class PolicyDecision(BaseModel):
    """The policy for one tool and the rule that decided it.

    `source` is one of "not-allowed", "default", "tool:<name>", "scope:<scope>", or one of the
    last two prefixed with "continuous." when a continuous-mode rule tightened the decision;
    "pin:unapproved" marks an MCP tool whose description or schema is not approved
    (tools/mcp/pinning.py). <name> is the spec's spelling (`server.tool` for MCP tools).
    """

    model_config = ConfigDict(frozen=True)

    policy: Policy
    source: str


class ContinuousOverrides(BaseModel):
    """Rules that apply on top of the normal ones when the agent runs unattended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: dict[str, Policy] = Field(default_factory=dict)
    scopes: dict[Scope, Policy] = Field(default_factory=dict)

    @field_validator("policies")
    @classmethod
    def _model_names(cls, value: dict[str, Policy]) -> dict[str, Policy]:
        return _model_keys(value)


class ToolPolicyConfig(BaseModel):
    """The `tools:` section of an agent spec. Nothing is allowed unless listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: list[str] = Field(default_factory=list)
    policies: dict[str, Policy] = Field(default_factory=dict)
    scopes: dict[Scope, Policy] = Field(default_factory=dict)
    continuous: ContinuousOverrides = Field(default_factory=ContinuousOverrides)
    http_allow: list[str] = Field(default_factory=list)

    @field_validator("allow")
    @classmethod
    def _allow_model_names(cls, value: list[str]) -> list[str]:
        return [model_tool_name(name) for name in value]

    @field_validator("policies")
    @classmethod
    def _model_names(cls, value: dict[str, Policy]) -> dict[str, Policy]:
        return _model_keys(value)

    @field_validator("http_allow")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip().lower().rstrip(".") for host in value]
        bad = [host for host in hosts if not _HOST_PATTERN.match(host)]
        if bad:
            raise ValueError(
                f"not host names: {bad}; write a host (example.com), an IP address "
                "(127.0.0.1) or a subdomain wildcard (*.example.com), without scheme or port"
            )
        return hosts

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> ToolPolicyConfig:
        """Build from the YAML mapping; an invalid section is a ConfigError that says why."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"tools.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid tools section in agent spec: {problems}") from exc

    def referenced_names(self) -> set[str]:
        """Every tool name the config mentions (without the "*" wildcard)."""
        names = set(self.allow) | set(self.policies) | set(self.continuous.policies)
        return names - {ALL_TOOLS}

    def check_known(self, registered: Iterable[str]) -> None:
        """Raise ConfigError naming every tool the config mentions that is not registered."""
        unknown = sorted(spec_tool_name(n) for n in self.referenced_names() - set(registered))
        if unknown:
            known = sorted(spec_tool_name(name) for name in registered)
            raise ConfigError(
                f"agent spec names unknown tool(s): {', '.join(unknown)}; "
                f"registered tools are: {', '.join(known) or '(none)'}"
            )

    def allows(self, name: str) -> bool:
        return ALL_TOOLS in self.allow or name in self.allow

    def resolve(self, spec: ToolSpec, *, continuous: bool) -> PolicyDecision:
        """The policy for one tool call of `spec`, in task or continuous mode."""
        if not self.allows(spec.name):
            return PolicyDecision(policy="deny", source="not-allowed")
        decision = _match(spec, self.policies, self.scopes, prefix="") or PolicyDecision(
            policy=spec.policy, source="default"
        )
        if not continuous:
            return decision
        tighter = _match(spec, self.continuous.policies, self.continuous.scopes, "continuous.")
        if tighter is None and spec.continuous_policy is not None:
            tighter = PolicyDecision(policy=spec.continuous_policy, source="continuous.default")
        return stricter(decision, tighter) if tighter else decision


def model_tool_name(name: str) -> str:
    """The name the model sees for a tool named `name` in a spec.

    `server.tool` (an MCP tool) becomes `server__tool`, with every character outside
    [A-Za-z0-9_-] in the tool part replaced by "_"; other names are returned unchanged.
    Server names hold no "_" (see McpServerConfig), so the first "__" splits it back.
    """
    if "." not in name or name == ALL_TOOLS:
        return name
    server, tool = name.split(".", 1)
    return f"{server}{MCP_SEPARATOR}{_UNSAFE_CHARS.sub('_', tool)}"


def _model_keys(policies: Mapping[str, Policy]) -> dict[str, Policy]:
    return {model_tool_name(name): policy for name, policy in policies.items()}


def spec_tool_name(name: str) -> str:
    """The name a spec and the events use for a model-facing tool name: `s__t` → `s.t`."""
    server, sep, tool = name.partition(MCP_SEPARATOR)
    return f"{server}.{tool}" if sep and server and tool else name


def stricter(current: PolicyDecision, other: PolicyDecision) -> PolicyDecision:
    """The stricter decision (deny > approval > allow); the current one on a tie."""
    if _STRICTNESS[other.policy] > _STRICTNESS[current.policy]:
        return other
    return current


def _match(
    spec: ToolSpec,
    policies: Mapping[str, Policy],
    scopes: Mapping[Scope, Policy],
    prefix: str,
) -> PolicyDecision | None:
    if spec.name in policies:
        source = f"{prefix}tool:{spec_tool_name(spec.name)}"
        return PolicyDecision(policy=policies[spec.name], source=source)
    if spec.scope in scopes:
        return PolicyDecision(policy=scopes[spec.scope], source=f"{prefix}scope:{spec.scope}")
    return None
