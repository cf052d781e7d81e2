"""Cost per task by model: a run's per-model usage reaches the trace, the scored run and
the report (JSON, Markdown, HTML), priced where the spec prices the model."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from evals.evaluate import TraceResult, score_trace
from evals.evaluators import EvalContext, Score
from evals.export import export_trace
from evals.model_cost import by_model_from_events, per_task_by_model
from evals.report import Report
from evals.runner import write_reports
from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec

ONE_STEP = {"steps": [{"id": "load", "description": "Read the load average"}]}
ACCEPT = {"decision": "accept", "reason": "It answers the step.", "confidence": 0.9}


def _run(repeat: int, by_model: dict[str, Any]) -> TraceResult:
    scores = [Score("outcome", True, 1.0, "completed")]
    usage = {"tokens": sum(m["tokens"] for m in by_model.values()), "by_model": by_model}
    return TraceResult(
        "cascade", repeat, f"task-{repeat}", "eval-cascade", "completed", "completed", scores, usage
    )


def _model(calls: int, input_tokens: int, output_tokens: int, cost: float | None = None) -> dict:
    entry: dict[str, Any] = {
        "calls": calls,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "tokens": input_tokens + output_tokens,
    }
    if cost is not None:
        entry["cost_usd"] = cost
    return entry


def test_cost_per_task_is_the_mean_over_runs_and_a_model_a_run_did_not_use_counts_zero() -> None:
    runs = [
        {"cheap": _model(2, 100, 20, 0.001), "strong": _model(1, 300, 30, 0.01)},
        {"cheap": _model(2, 100, 20, 0.003)},
    ]
    rows = {r["model"]: r for r in per_task_by_model(runs)}
    assert rows["cheap"] == {
        "model": "cheap",
        "runs": 2,
        "calls": 2.0,
        "input_tokens": 100.0,
        "output_tokens": 20.0,
        "tokens": 120.0,
        "cost_usd": 0.002,
    }
    assert rows["strong"]["runs"] == 1 and rows["strong"]["cost_usd"] == pytest.approx(0.005)
    assert rows["strong"]["tokens"] == 165.0


def test_a_trace_without_per_model_usage_is_counted_from_its_model_call_events() -> None:
    events = [
        {
            "type": "model_call",
            "data": {"model": "openai:a", "input_tokens": 10, "output_tokens": 2, "tokens": 12},
        },
        {
            "type": "model_call",
            "data": {"model": "openai:a", "input_tokens": 5, "output_tokens": 1, "tokens": 6},
        },
        {"type": "tool_call", "data": {"tool": "x"}},
    ]
    assert by_model_from_events(events) == {
        "openai:a": {"calls": 2, "input_tokens": 15, "output_tokens": 3, "tokens": 18}
    }


def test_the_report_shows_cost_per_task_by_model(tmp_path: Path) -> None:
    runs = [
        _run(0, {"scripted:cheap": _model(3, 900, 90, 0.000126), "scripted": _model(2, 50, 5)}),
        _run(
            1,
            {
                "scripted:cheap": _model(3, 900, 90, 0.000126),
                "scripted:strong": _model(1, 400, 40, 0.00112),
                "scripted": _model(2, 50, 5),
            },
        ),
    ]
    report = Report(
        {"name": "costs", "path": None, "description": ""},
        "2026-01-01T00:00:00",
        {"source": "traces", "repeat": 2},
        runs,
        {},
    )
    paths = write_reports(report, tmp_path)

    markdown = paths["markdown"].read_text()
    assert "## Cost per task by model" in markdown
    assert "| cascade | scripted:cheap | 2/2 | 3.0 | 900 | 90 | $0.000126 |" in markdown
    assert "| cascade | scripted:strong | 1/2 | 0.5 | 200 | 20 | $0.000560 |" in markdown
    assert "| cascade | scripted | 2/2 | 2.0 | 50 | 5 | — |" in markdown  # not priced
    html = paths["html"].read_text()
    assert "<h2>Cost per task by model</h2>" in html
    assert "<td>scripted:strong</td><td>1/2</td><td>0.5</td>" in html
    again = Report.read(tmp_path)
    assert again.cost_by_model("cascade") == report.cost_by_model("cascade")
    [scenario] = again.to_json()["scenarios"]
    assert [r["model"] for r in scenario["cost_by_model"]] == [
        "scripted:cheap",
        "scripted:strong",
        "scripted",
    ]


async def test_a_cascade_run_is_reported_with_its_cost_by_model(eval_engine) -> None:
    spec = parse_agent_spec(
        {
            "name": f"eval-cascade-{uuid.uuid4().hex[:6]}",
            "model": {
                "provider": "scripted",
                "roles": {"critic": {"cascade": [{"name": "cheap"}, {"name": "strong"}]}},
                "script": {
                    "planner": [{"structured": ONE_STEP}],
                    "worker": ["The load is low."],
                    "critic": [{"structured": '{"decision": '}],
                    "critic:strong": [{"structured": ACCEPT}],
                },
                "prices": {
                    "scripted:cheap": {"input": 0.1, "output": 0.4},
                    "strong": {"input": 2.0, "output": 8.0},
                },
            },
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
        }
    )
    runner = TaskRunner(eval_engine)
    task = await runner.submit("How loaded is this host?", spec)
    assert (await runner.run(task.id)).task.state == "completed"

    trace = await export_trace(eval_engine, task.id)
    models = trace.usage["by_model"]
    assert set(models) == {"scripted", "scripted:cheap", "scripted:strong"}
    strong = models["scripted:strong"]
    assert strong["cost_usd"] == pytest.approx(
        (strong["input_tokens"] * 2.0 + strong["output_tokens"] * 8.0) / 1e6
    )
    result = await score_trace(trace, None, EvalContext())
    assert result.usage["cost_usd"] == pytest.approx(
        models["scripted:cheap"]["cost_usd"] + strong["cost_usd"]
    )
    report = Report({"name": "one"}, "now", {}, [result], {})
    rows = {r["model"]: r for r in report.cost_by_model()}
    assert rows["scripted:strong"]["calls"] == 1 and rows["scripted"]["cost_usd"] is None
    assert rows["scripted:cheap"]["cost_usd"] == pytest.approx(models["scripted:cheap"]["cost_usd"])
