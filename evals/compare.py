"""What changed between two eval reports: pass rates and pass^k per scenario, evaluators
that flipped, and the mean token use."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

from evals.report import Report


@dataclass(frozen=True)
class ScenarioChange:
    scenario: str
    before: float | None  # pass rate; None when the scenario is new
    after: float | None  # None when the scenario is gone
    pass_k_before: float | None
    pass_k_after: float | None
    tokens_before: float | None
    tokens_after: float | None
    flipped: list[str]  # "evaluator: 100% -> 67%"

    @property
    def delta(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)

    @property
    def status(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "removed"
        if self.after < self.before:
            return "worse"
        if self.after > self.before:
            return "better"
        return "changed" if self.flipped else "same"


@dataclass(frozen=True)
class Comparison:
    before: Report
    after: Report
    scenarios: list[ScenarioChange]

    @property
    def regressions(self) -> list[ScenarioChange]:
        return [c for c in self.scenarios if c.status in ("worse", "removed")]

    @property
    def changed(self) -> list[ScenarioChange]:
        return [c for c in self.scenarios if c.status != "same"]


def _tokens(report: Report, scenario: str) -> float | None:
    runs = report.runs_of(scenario)
    return mean(r.usage.get("tokens", 0) for r in runs) if runs else None


def compare(before: Report, after: Report) -> Comparison:
    old = {s.name: s for s in before.summaries()}
    new = {s.name: s for s in after.summaries()}
    names = list(dict.fromkeys([*old, *new]))
    changes = []
    for name in names:
        a, b = old.get(name), new.get(name)
        flipped = []
        if a and b:
            for evaluator in sorted(set(a.evaluators) | set(b.evaluators)):
                x, y = a.evaluators.get(evaluator), b.evaluators.get(evaluator)
                if x != y:
                    flipped.append(f"{evaluator}: {_rate(x)} -> {_rate(y)}")
        k = min(a.runs if a else 0, b.runs if b else 0)
        changes.append(
            ScenarioChange(
                scenario=name,
                before=a.pass_rate if a else None,
                after=b.pass_rate if b else None,
                pass_k_before=a.pass_hat_k.get(k or a.runs) if a else None,
                pass_k_after=b.pass_hat_k.get(k or b.runs) if b else None,
                tokens_before=_tokens(before, name),
                tokens_after=_tokens(after, name),
                flipped=flipped,
            )
        )
    return Comparison(before, after, changes)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
