"""Evaluate one trace: the default evaluators plus those its scenario asks for.

The expectations come from the dataset's scenario when a dataset is given (matched by the
trace's scenario label, else by agent name), else from the scenario embedded in the trace,
else only the defaults apply.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from evals import model_cost
from evals.dataset import Dataset, Scenario, parse_expectations
from evals.evaluators import EVALUATORS, EvalContext, Expectation, Score
from evals.evaluators.budgets import use_ratios
from evals.trace import Trace


@dataclass
class TraceResult:
    scenario: str
    repeat: int
    task_id: str
    agent: str
    state: str
    stop_reason: str | None
    scores: list[Score]
    usage: dict[str, Any] = field(default_factory=dict)
    trace_file: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scores if s.skipped is None)

    def score(self, evaluator: str) -> Score | None:
        return next((s for s in self.scores if s.evaluator == evaluator), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "repeat": self.repeat,
            "task_id": self.task_id,
            "agent": self.agent,
            "state": self.state,
            "stop_reason": self.stop_reason,
            "passed": self.passed,
            "scores": [s.to_json() for s in self.scores],
            "usage": self.usage,
            "trace_file": self.trace_file,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceResult:
        return cls(
            scenario=data["scenario"],
            repeat=int(data["repeat"]),
            task_id=data["task_id"],
            agent=data["agent"],
            state=data["state"],
            stop_reason=data.get("stop_reason"),
            scores=[Score.from_json(s) for s in data["scores"]],
            usage=dict(data.get("usage") or {}),
            trace_file=data.get("trace_file"),
            notes=list(data.get("notes") or []),
        )


def scenario_for(trace: Trace, dataset: Dataset | None) -> Scenario | None:
    if dataset is None:
        return None
    label = (trace.scenario or {}).get("name")
    if label and (found := dataset.scenario(label)):
        return found
    agent = trace.task.get("agent")
    return next((s for s in dataset.scenarios if s.spec.name == agent), None)


def expectations_for(
    trace: Trace, dataset: Dataset | None
) -> tuple[str, dict[str, Expectation]]:
    """The scenario name to file the result under, and the expectations to judge it by."""
    scenario = scenario_for(trace, dataset)
    if scenario is not None:
        return scenario.name, scenario.expectations
    embedded = trace.scenario or {}
    name = embedded.get("name") or f"agent:{trace.task.get('agent', '?')}"
    source = f"trace {trace.task_id}: embedded scenario {name}"
    return name, parse_expectations(embedded.get("expect") or {}, source=source)


def usage_metrics(trace: Trace) -> dict[str, Any]:
    """What the report plots per run. `budget_use` is the highest share of a count budget
    (iterations, tool calls, tokens) the run used; run time is left out (wall clock).
    `by_model` and `cost_usd` are what the run cost per model, and in all (priced models)."""
    usage = trace.usage
    ratios = use_ratios(trace)
    models = model_cost.task_models(usage, trace.events)
    return {
        "budget_use": max((v for k, v in ratios.items() if k != "active_seconds"), default=0.0),
        "tokens": int(usage.get("tokens") or 0),
        "tool_calls": int(usage.get("tool_calls") or 0),
        "iterations": int(usage.get("iterations") or 0),
        "active_seconds": round(float(usage.get("active_seconds") or 0.0), 3),
        "nodes": len(trace.nodes),
        "by_model": models,
        "cost_usd": model_cost.task_cost(models),
    }


async def evaluate_trace(
    trace: Trace, expectations: dict[str, Expectation], context: EvalContext
) -> list[Score]:
    scores = []
    for name, evaluator in EVALUATORS.items():
        if name not in expectations and not evaluator.default:
            continue
        expect = expectations.get(name) or evaluator.expectation()
        result = evaluator.evaluate(trace, expect, context)
        if inspect.isawaitable(result):
            result = await result
        scores.append(result)
    return scores


async def score_trace(
    trace: Trace,
    dataset: Dataset | None,
    context: EvalContext,
    *,
    trace_file: str | None = None,
) -> TraceResult:
    """A trace, evaluated and filed under its scenario."""
    name, expectations = expectations_for(trace, dataset)
    return TraceResult(
        scenario=name,
        repeat=int((trace.scenario or {}).get("repeat", 0)),
        task_id=trace.task_id,
        agent=str(trace.task.get("agent", "")),
        state=str(trace.task.get("state", "")),
        stop_reason=trace.task.get("stop_reason"),
        scores=await evaluate_trace(trace, expectations, context),
        usage=usage_metrics(trace),
        trace_file=trace_file,
    )
