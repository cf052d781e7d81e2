"""What an evaluator is: a name, the expectations it reads, and a function of a trace.

An evaluator looks only at a `Trace` (never at a database) and is deterministic; the LLM
judge is the one exception, and it runs only when a judge model is configured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from evals.trace import Trace

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

Metric = float | int | str | bool | None


class Expectation(BaseModel):
    """Base of every evaluator's `expect:` section in a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Score:
    evaluator: str
    passed: bool
    score: float  # 0..1
    detail: str = ""
    metrics: dict[str, Metric] = field(default_factory=dict)
    skipped: str | None = None  # why it did not run (then `passed` is True and ignored)

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "passed": self.passed,
            "score": round(self.score, 6),
            "detail": self.detail,
            "metrics": self.metrics,
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Score:
        return cls(
            evaluator=data["evaluator"],
            passed=bool(data["passed"]),
            score=float(data["score"]),
            detail=data.get("detail", ""),
            metrics=dict(data.get("metrics") or {}),
            skipped=data.get("skipped"),
        )


def verdict(evaluator: str, problems: list[str], ok: str, **metrics: Metric) -> Score:
    """A pass/fail score: passed when there are no problems."""
    return Score(
        evaluator=evaluator,
        passed=not problems,
        score=0.0 if problems else 1.0,
        detail="; ".join(problems) if problems else ok,
        metrics=metrics,
    )


@dataclass(frozen=True)
class EvalContext:
    """What evaluators may need beyond the trace: the judge model, if one is configured."""

    judge: BaseChatModel | None = None
    judge_label: str | None = None  # e.g. "openai:gpt-4o-mini"
    judge_unavailable: str = "no judge model configured: set OPENAI_API_KEY"


EvaluateFn = Callable[[Trace, Any, EvalContext], Score | Awaitable[Score]]


@dataclass(frozen=True)
class Evaluator:
    name: str  # also its key under a scenario's `expect:`
    description: str
    expectation: type[Expectation]
    evaluate: EvaluateFn
    default: bool = False  # runs (with a default expectation) when the scenario is silent

    def parse(self, value: Any, *, source: str) -> Expectation:
        from pydantic import ValidationError

        from stack.errors import ConfigError

        try:
            return self.expectation.model_validate({} if value is None else value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{source}: expect.{self.name}: {problems}") from exc
