"""Agent specs: the YAML an operator writes to say what an agent is and may do."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from graphs.budgets import MAX_RUNTIME_S, Budgets
from graphs.script import ROLES, Script, load_script_file, parse_script
from stack.errors import ConfigError
from stack.yaml_files import load_yaml_file
from tools.mcp.config import McpServerConfig
from tools.pii import PiiConfig
from tools.policy import ToolPolicyConfig
from tools.sandbox import SandboxLimits

MAX_INTERVAL_S = 366 * 24 * 3600

Provider = Literal["auto", "scripted", "openai"]


class ModelChoice(BaseModel):
    """One model: its provider, name and temperature (unset: the spec's defaults)."""

    model_config = {"extra": "forbid"}

    provider: Provider | None = None
    name: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)


class RoleModel(ModelChoice):
    """Per-role overrides (a cheap critic model, say), or a cascade: models tried in order,
    cheap first, escalating to the next when a reply cannot be read, a verdict's confidence
    is low, or the step was revised too often (graphs/model_cascade.py)."""

    cascade: list[ModelChoice] | None = Field(
        default=None,
        min_length=1,
        validation_alias=AliasChoices("cascade", "models"),
        description="ordered models for the role, cheapest first",
    )

    @model_validator(mode="after")
    def _cascade_or_one_model(self) -> RoleModel:
        if self.cascade is not None and (self.provider is not None or self.name is not None):
            raise ValueError(
                "give either provider/name or a cascade, not both (the cascade lists the models)"
            )
        return self


class ModelPrice(BaseModel):
    """What a model costs, in USD per million tokens (evals report cost per task by model)."""

    model_config = {"extra": "forbid"}

    input: float = Field(ge=0, description="USD per million input tokens")
    output: float = Field(ge=0, description="USD per million output tokens")


class ModelConfig(BaseModel):
    model_config = {"extra": "forbid"}

    # auto = ChatOpenAI when OPENAI_API_KEY is set, else the scripted model.
    provider: Provider = "auto"
    name: str | None = None
    temperature: float = Field(default=0.2, ge=0, le=2)
    roles: dict[str, RoleModel] = Field(default_factory=dict)
    script: dict[str, Any] | None = None
    script_file: Path | None = None
    escalate_below_confidence: float = Field(
        default=0.5, ge=0, le=1, description="a cascade escalates a verdict less sure than this"
    )
    escalate_after_revisions: int = Field(
        default=2, ge=1, description="a cascade starts a step's calls one model up per this many"
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="by model name or label (openai:gpt-4o-mini)"
    )

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict[str, RoleModel]) -> dict[str, RoleModel]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; roles are {list(ROLES)}")
        return value

    @model_validator(mode="after")
    def _cascades_are_distinct(self) -> ModelConfig:
        """Two models of one cascade must differ (by provider and name): each keeps its own
        script cursor and its own usage; inline `role:name` scripts must name one of them."""
        for role, override in self.roles.items():
            seen: list[tuple[str | None, str | None]] = []
            for index, choice in enumerate(override.cascade or []):
                key = (choice.provider or self.provider, choice.name)
                if key in seen:
                    raise ValueError(
                        f"roles.{role}.cascade.{index}: the same model as an earlier entry "
                        f"({key[0]} {key[1] or '(unnamed)'}); give each a distinct name"
                    )
                seen.append(key)
        for key in self.script or {}:
            role, _, name = str(key).partition(":")
            if role not in ROLES:
                continue  # parse_script names the unknown role
            cascade = self.roles[role].cascade if role in self.roles else None
            if name and not any(c.name == name for c in cascade or []):
                raise ValueError(f"script.{key}: role {role} has no cascade model named {name!r}")
        return self


class EntropyConfig(BaseModel):
    """When a run counts as stuck (graphs/loops), and what happens then.

    Progress is new information: a result, error or plan not seen before, a new action
    acknowledged, a step completed. Each signal below fires on repetition without it.
    """

    model_config = {"extra": "forbid", "populate_by_name": True}

    enabled: bool = True
    repeat_threshold: int = Field(
        default=3, ge=2, description="same call, same result this many times, nothing new between"
    )
    stale_turns: int | None = Field(
        default=None, ge=2, description="turns in a row with nothing new (default repeat_threshold)"
    )
    cycle_repeats: int = Field(
        default=2,
        ge=2,
        validation_alias=AliasChoices("cycle_repeats", "alternation_repeats"),
        description="a block of (call, result) pairs repeated back to back this many times",
    )
    cycle_max_period: int = Field(default=6, ge=2, description="longest block a cycle may have")
    error_repeats: int = Field(
        default=3, ge=2, description="same error class from a tool, no success of it between"
    )
    replan_repeats: int = Field(
        default=2, ge=2, description="the same plan this many times with nothing new between"
    )
    poll_budget: int = Field(
        default=24, ge=2, description="same call, changing result, no progress elsewhere"
    )
    wait_tools: list[str] = Field(
        default_factory=lambda: ["*sleep*", "*wait*", "*pause*", "*delay*", "*backoff*"],
        description="tools that let time pass (glob): a poll after one may repeat its result",
    )
    noop_args: list[str] = Field(
        default_factory=lambda: ["verbose", "debug", "quiet", "timeout", "timeout_s",
                                 "timeout_seconds", "retries", "max_retries", "request_id",
                                 "trace_id", "idempotency_key", "no_cache", "nocache", "color",
                                 "pretty", "explanation", "rationale", "reasoning", "thought"],
        description="argument keys that do not change what a call does (`key` or `tool:key`)",
    )
    jitter: float = Field(
        default=0.005, ge=0, lt=1, description="relative change in a number that is only noise"
    )
    ack_chars: int = Field(
        default=40, ge=0, description="a result this short only acknowledges an action"
    )
    semantic: bool = True
    semantic_window: int = Field(default=4, ge=2, description="last k worker thoughts")
    semantic_threshold: float = Field(
        default=0.7, gt=0, le=1, description="mean cosine of the last k thoughts"
    )
    max_resets: int = Field(default=1, ge=0, description="resets without progress before stuck")
    temperature_step: float = Field(default=0.3, ge=0)

    @property
    def stale_limit(self) -> int:
        return self.stale_turns or self.repeat_threshold


class MemoryConfig(BaseModel):
    """How much the agent keeps in its context, and when it compacts and recalls."""

    model_config = {"extra": "forbid"}

    working_tokens: int = Field(default=6000, ge=200, description="L1 budget")
    compaction_threshold: float = Field(default=0.9, gt=0, le=1)
    compaction_fraction: float = Field(default=0.3, ge=0.3, le=0.9, description="share evicted")
    max_compactions_without_progress: int = Field(default=3, ge=1)
    recall_tokens: int = Field(default=1200, ge=0, description="budget for recalled context")
    summary: bool = True  # carry the running summary (L2) from run to run of the agent
    episodic: bool = True
    knowledge: bool = True
    consolidate_after_importance: int = Field(
        default=30, ge=1, description="unconsolidated L3 importance that starts the dreamer"
    )
    consolidate_every_iterations: int = Field(default=25, ge=1)


class CriticConfig(BaseModel):
    model_config = {"extra": "forbid"}

    max_revisions: int = Field(default=2, ge=0, description="per step, then replan")
    max_replans: int = Field(default=3, ge=0, description="per task, then fail")


class Autonomous(BaseModel):
    """Continuous mode: the runtime wakes the agent every interval with its standing goal."""

    model_config = {"extra": "forbid"}

    goal: str = Field(min_length=1)
    # A year at most: the next wake-up is stored as a timestamp, and an interval past its
    # range would fail every iteration's end instead of the spec.
    interval_seconds: float = Field(gt=0, le=MAX_INTERVAL_S)
    max_iter_runtime_seconds: float | None = Field(default=None, gt=0, le=MAX_RUNTIME_S)
    daily_token_budget: int | None = Field(default=None, ge=1)


class AgentSpec(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    description: str = ""
    goal: str | None = None
    instructions: str = ""
    model: ModelConfig = Field(default_factory=ModelConfig)
    tools: ToolPolicyConfig = Field(default_factory=ToolPolicyConfig)
    mcp_servers: list[McpServerConfig] = Field(default_factory=list)
    budgets: Budgets = Field(default_factory=Budgets)
    entropy: EntropyConfig = Field(default_factory=EntropyConfig)
    critic: CriticConfig = Field(default_factory=CriticConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    code: SandboxLimits = Field(default_factory=SandboxLimits)  # run_python / run_shell limits
    pii: PiiConfig = Field(default_factory=PiiConfig)  # mask personal data in tool output
    autonomous: Autonomous | None = None
    # Plan steps whose dependencies are met run concurrently, this many at once (1: one by one)
    max_parallel_steps: int = Field(default=1, ge=1, le=16)

    @field_validator("mcp_servers")
    @classmethod
    def _unique_servers(cls, value: list[McpServerConfig]) -> list[McpServerConfig]:
        names = [server.name for server in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"MCP server name(s) used twice: {twice}")
        return value

    @model_validator(mode="after")
    def _script_parses(self) -> AgentSpec:
        parse_script(self.model.script, source=f"agent {self.name}: model.script")
        return self

    def script(self, base_dir: Path | None = None) -> Script:
        """The scripted responses: the inline script, then the script file's for other roles."""
        script: Script = {}
        if self.model.script_file is not None:
            path = self.model.script_file
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            script.update(load_script_file(path))
        script.update(parse_script(self.model.script, source=f"agent {self.name}"))
        return script


def _format_errors(exc: ValidationError, source: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()
    )
    return f"{source}: {problems}"


def parse_agent_spec(data: Any, *, source: str = "agent spec") -> AgentSpec:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: an agent spec is a YAML mapping")
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from exc


def load_agent_spec(path: Path) -> AgentSpec:
    return parse_agent_spec(load_yaml_file(path, "agent spec"), source=str(path))


def default_agent_spec() -> AgentSpec:
    """An agent with the read-only host probes, for `wakeful run` without --agent."""
    return AgentSpec(
        name="default",
        description="General agent with read-only host probes",
        tools=ToolPolicyConfig(
            allow=["load_average", "memory_usage", "disk_usage", "top_processes"]
        ),
    )
