"""Eval datasets: YAML files of scenarios — a goal, an agent spec (with its scripted model
responses), approval decisions, and what to expect of the trace.

    name: core
    defaults:                      # deep-merged under every scenario
      agent: {entropy: {semantic: false}}
    scenarios:
      - name: success
        goal: Check the load, then summarise.
        agent: {model: {script: {...}}, tools: {allow: [load_average]}}   # or agent_file
        approvals: [approve, {action: reject, comment: not now}]
        expect: {outcome: {state: completed}, trajectory: {calls: [load_average]}}

Each key under `expect:` names an evaluator (evals/evaluators/) and holds its settings.
An agent without a name is called `eval-<scenario>`, so its tasks are easy to find.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.evaluators import EVALUATORS, Expectation
from graphs.approval import ApprovalDecision
from graphs.spec import AgentSpec, parse_agent_spec
from stack.errors import ConfigError
from stack.yaml_files import load_yaml_file

EVAL_DECIDER = "eval"


class DecisionEntry(BaseModel):
    """An approval decision the runner gives, in order, when the run asks."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern="^(approve|reject|edit)$")
    args: dict[str, Any] | None = None
    comment: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, value: Any) -> Any:
        return {"action": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _edit_has_args(self) -> DecisionEntry:
        if self.action == "edit" and self.args is None:
            raise ValueError("an edit decision needs `args`")
        return self


class ScenarioEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    goal: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    agent: dict[str, Any] = Field(default_factory=dict)
    agent_file: Path | None = None
    approvals: list[DecisionEntry] = Field(default_factory=list)
    expect: dict[str, Any] = Field(default_factory=dict)


class DefaultsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: dict[str, Any] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(default_factory=dict)


class DatasetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    description: str = ""
    defaults: DefaultsEntry = Field(default_factory=DefaultsEntry)
    scenarios: list[ScenarioEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    goal: str
    tags: list[str]
    spec: AgentSpec
    spec_dir: Path | None  # where a script_file is looked up
    approvals: list[ApprovalDecision]
    expect: dict[str, Any]  # as written (after defaults), for the record
    expectations: dict[str, Expectation] = field(default_factory=dict)

    def label(self, dataset: str, repeat: int) -> dict[str, Any]:
        """What a trace carries to be judged later without the dataset file."""
        return {"dataset": dataset, "name": self.name, "repeat": repeat, "expect": self.expect}


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    path: Path | None
    scenarios: list[Scenario]

    def scenario(self, name: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name), None)

    def select(self, names: list[str]) -> Dataset:
        """Only the named scenarios (all when `names` is empty)."""
        if not names:
            return self
        unknown = sorted(set(names) - {s.name for s in self.scenarios})
        if unknown:
            raise ConfigError(f"dataset {self.name} has no scenario(s) {', '.join(unknown)}")
        chosen = [s for s in self.scenarios if s.name in names]
        return Dataset(self.name, self.description, self.path, chosen)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_expectations(expect: dict[str, Any], *, source: str) -> dict[str, Expectation]:
    unknown = sorted(set(expect) - set(EVALUATORS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown evaluator(s) under expect: {unknown}; "
            f"evaluators are {sorted(EVALUATORS)}"
        )
    return {
        name: EVALUATORS[name].parse(value, source=source) for name, value in expect.items()
    }


def _scenario(entry: ScenarioEntry, defaults: DefaultsEntry, base_dir: Path, dataset: str):
    source = f"dataset {dataset}, scenario {entry.name}"
    agent: dict[str, Any] = {"name": f"eval-{entry.name}"}
    agent = deep_merge(agent, defaults.agent)
    spec_dir = base_dir
    if entry.agent_file is not None:
        path = entry.agent_file if entry.agent_file.is_absolute() else base_dir / entry.agent_file
        from_file = load_yaml_file(path, "agent spec")
        if not isinstance(from_file, dict):
            raise ConfigError(f"{source}: agent spec {path} is not a mapping")
        agent = deep_merge(agent, from_file)
        spec_dir = path.parent
    agent = (deep_merge(agent, entry.agent))
    spec = parse_agent_spec(agent, source=f"{source}: agent")
    expect = deep_merge(defaults.expect, entry.expect)
    approvals = [
        ApprovalDecision(
            action=d.action, args=d.args, comment=d.comment, decided_by=EVAL_DECIDER
        )
        for d in entry.approvals
    ]
    return Scenario(
        name=entry.name,
        description=entry.description,
        goal=entry.goal,
        tags=entry.tags,
        spec=spec,
        spec_dir=spec_dir,
        approvals=approvals,
        expect=expect,
        expectations=parse_expectations(expect, source=source),
    )


def parse_dataset(data: Any, *, source: str, base_dir: Path, path: Path | None = None) -> Dataset:
    try:
        parsed = DatasetFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
    names = [s.name for s in parsed.scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: duplicate scenario name(s) {duplicates}")
    scenarios = [_scenario(s, parsed.defaults, base_dir, parsed.name) for s in parsed.scenarios]
    return Dataset(parsed.name, parsed.description, path, scenarios)


def load_dataset(path: Path) -> Dataset:
    data = load_yaml_file(path, "dataset")
    return parse_dataset(data, source=str(path), base_dir=path.parent, path=path)
