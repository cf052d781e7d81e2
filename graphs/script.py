"""Scripted model responses: what the scripted chat model replays, per role.

In an agent spec (or a separate YAML file) a role maps to a list of responses, or to
`{responses: [...], cycle: true}` to repeat them forever. A response is a plain string
(text), or a mapping with `text`, `tool_calls`, `structured` (the arguments of a
structured-output call such as a plan or a verdict), `tokens` (usage to report) or
`error` (the call raises, to exercise failure paths) or `latency_seconds` (a slow model).
A tool call's `raw_args` (or a string `structured`) are arguments as a model sends them,
unparsed: broken JSON there lands in `invalid_tool_calls`, as it does from ChatOpenAI.

A role with a model cascade scripts each model under `<role>:<model name>` (`critic:strong`);
the cascade's first model also answers from the role's own script (graphs/models.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from stack.errors import ConfigError
from stack.yaml_files import load_yaml_file

ROLES = ("planner", "worker", "critic", "summarizer", "consolidator")


class ScriptedToolCall(BaseModel):
    model_config = {"extra": "forbid"}

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None
    # The arguments as a model would send them, unparsed (e.g. broken JSON); wins over args.
    raw_args: str | None = None


class ScriptedResponse(BaseModel):
    model_config = {"extra": "forbid"}

    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    structured: dict[str, Any] | str | None = None  # a str: raw arguments, maybe not JSON
    tokens: int | None = Field(default=None, ge=0)
    error: str | None = None
    latency_seconds: float = Field(default=0.0, ge=0, description="simulated model latency")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class RoleScript(BaseModel):
    model_config = {"extra": "forbid"}

    responses: list[ScriptedResponse] = Field(default_factory=list)
    cycle: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"responses": value} if isinstance(value, list) else value

    def response_at(self, index: int) -> ScriptedResponse | None:
        """The index-th response, or None when the script is used up."""
        if not self.responses:
            return None
        if self.cycle:
            return self.responses[index % len(self.responses)]
        return self.responses[index] if index < len(self.responses) else None


Script = dict[str, RoleScript]


def parse_script(data: Any, *, source: str) -> Script:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a script maps roles ({', '.join(ROLES)}) to responses")
    unknown = sorted(key for key in data if str(key).partition(":")[0] not in ROLES)
    if unknown:
        raise ConfigError(
            f"{source}: unknown script role(s) {unknown}; roles are {list(ROLES)} "
            "(or <role>:<cascade model name>)"
        )
    try:
        return {role: RoleScript.model_validate(value) for role, value in data.items()}
    except ValueError as exc:
        raise ConfigError(f"{source}: invalid script: {exc}") from exc


def script_key(role: str, name: str | None) -> str:
    """Where a cascade model's own responses are: `critic:strong` (the role's, unnamed)."""
    return f"{role}:{name}" if name else role


def load_script_file(path: Path) -> Script:
    return parse_script(load_yaml_file(path, "script file"), source=str(path))
