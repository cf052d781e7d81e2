"""An eval report: every run's scores, rolled up per scenario (pass rate, pass^k) and
overall. Saved as report.json, which `wakeful eval compare` reads back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from evals import model_cost
from evals.evaluate import TraceResult
from evals.pass_k import pass_at_k, pass_hat_k_curve
from stack.errors import ConfigError

REPORT_FORMAT = "wakeful-eval-report"
REPORT_VERSION = 1
REPORT_FILE = "report.json"


@dataclass
class ScenarioSummary:
    name: str
    description: str
    goal: str
    runs: int
    passed: int
    pass_hat_k: dict[int, float]
    pass_at_k: dict[int, float]
    evaluators: dict[str, float]  # pass rate per evaluator (skipped runs left out)
    skipped: dict[str, str]  # evaluator -> why it was skipped
    failures: list[str]  # distinct "evaluator: detail" of failed scores

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0


@dataclass
class Report:
    dataset: dict[str, Any]  # name, path, description
    created_at: str
    options: dict[str, Any]  # source, repeat, model, judge
    runs: list[TraceResult]
    scenario_info: dict[str, dict[str, str]] = field(default_factory=dict)  # description, goal

    # -- roll-ups ----------------------------------------------------------------------------

    def scenario_names(self) -> list[str]:
        names = list(self.scenario_info)
        names += [r.scenario for r in self.runs if r.scenario not in names]
        return list(dict.fromkeys(names))

    def runs_of(self, scenario: str) -> list[TraceResult]:
        return sorted((r for r in self.runs if r.scenario == scenario), key=lambda r: r.repeat)

    def summary_of(self, scenario: str) -> ScenarioSummary:
        runs = self.runs_of(scenario)
        n, c = len(runs), sum(r.passed for r in runs)
        evaluators: dict[str, list[bool]] = {}
        skipped: dict[str, str] = {}
        failures: list[str] = []
        for run in runs:
            for score in run.scores:
                if score.skipped is not None:
                    skipped[score.evaluator] = score.skipped
                    continue
                evaluators.setdefault(score.evaluator, []).append(score.passed)
                if not score.passed:
                    failures.append(f"{score.evaluator}: {score.detail}")
        info = self.scenario_info.get(scenario, {})
        return ScenarioSummary(
            name=scenario,
            description=info.get("description", ""),
            goal=info.get("goal", ""),
            runs=n,
            passed=c,
            pass_hat_k=pass_hat_k_curve(n, c) if n else {},
            pass_at_k={k: pass_at_k(n, c, k) for k in range(1, n + 1)},
            evaluators={name: sum(v) / len(v) for name, v in evaluators.items()},
            skipped=skipped,
            failures=list(dict.fromkeys(failures)),
        )

    def summaries(self) -> list[ScenarioSummary]:
        return [self.summary_of(name) for name in self.scenario_names() if self.runs_of(name)]

    def overall(self) -> dict[str, Any]:
        summaries = self.summaries()
        ks = min((s.runs for s in summaries), default=0)
        evaluators: dict[str, list[bool]] = {}
        for run in self.runs:
            for score in run.scores:
                if score.skipped is None:
                    evaluators.setdefault(score.evaluator, []).append(score.passed)
        return {
            "runs": len(self.runs),
            "passed": sum(r.passed for r in self.runs),
            "pass_rate": mean(r.passed for r in self.runs) if self.runs else 0.0,
            "scenarios": len(summaries),
            "scenarios_passed": sum(s.passed == s.runs for s in summaries),
            "pass_hat_k": {
                k: mean(s.pass_hat_k[k] for s in summaries) for k in range(1, ks + 1)
            },
            "evaluators": {name: sum(v) / len(v) for name, v in evaluators.items()},
        }

    def cost_by_model(self, scenario: str | None = None) -> list[dict[str, Any]]:
        """Mean calls, tokens and cost (USD, None where unpriced) per task of each model, over
        one scenario's runs, or over every run."""
        runs = self.runs_of(scenario) if scenario is not None else self.runs
        return model_cost.per_task_by_model([r.usage.get("by_model") or {} for r in runs])

    @property
    def all_passed(self) -> bool:
        return bool(self.runs) and all(r.passed for r in self.runs)

    def score_table(self) -> list[tuple[Any, ...]]:
        """(scenario, repeat, evaluator, passed, score, skipped) for every score: the part
        of a report that is deterministic, and the same on a rerun."""
        return sorted(
            (r.scenario, r.repeat, s.evaluator, s.passed, round(s.score, 6), s.skipped)
            for r in self.runs
            for s in r.scores
        )

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "dataset": self.dataset,
            "created_at": self.created_at,
            "options": self.options,
            "summary": self.overall(),
            "cost_by_model": self.cost_by_model(),
            "scenarios": [
                {
                    "name": s.name,
                    "description": s.description,
                    "goal": s.goal,
                    "runs": s.runs,
                    "passed": s.passed,
                    "pass_rate": s.pass_rate,
                    "pass_hat_k": s.pass_hat_k,
                    "pass_at_k": s.pass_at_k,
                    "evaluators": s.evaluators,
                    "skipped": s.skipped,
                    "failures": s.failures,
                    "cost_by_model": self.cost_by_model(s.name),
                }
                for s in self.summaries()
            ],
            "runs": [r.to_json() for r in self.runs],
        }

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / REPORT_FILE
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "report") -> Report:
        if data.get("format") != REPORT_FORMAT:
            raise ConfigError(f"{source} is not a wakeful eval report")
        if data.get("version") != REPORT_VERSION:
            raise ConfigError(
                f"{source}: report version {data.get('version')}; this wakeful reads "
                f"version {REPORT_VERSION}"
            )
        return cls(
            dataset=data.get("dataset") or {},
            created_at=data.get("created_at", ""),
            options=data.get("options") or {},
            runs=[TraceResult.from_json(r) for r in data.get("runs", [])],
            scenario_info={
                s["name"]: {"description": s.get("description", ""), "goal": s.get("goal", "")}
                for s in data.get("scenarios", [])
            },
        )

    @classmethod
    def read(cls, path: Path) -> Report:
        """A report.json, or a directory holding one."""
        file = path / REPORT_FILE if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"no eval report at {path}")
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file} is not JSON: {exc}") from exc
        return cls.from_json(data, source=str(file))
