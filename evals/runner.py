"""The eval runner: run a dataset's scenarios in-process against the real database, or judge
traces exported earlier, and write the reports (JSON, Markdown, HTML).

Every in-process run goes through the same path as an offline one: the task is exported
to a trace file, and the evaluators read that file back. So a dataset run and
`--traces` over its trace files give the same scores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import report_html, report_markdown
from evals.dataset import EVAL_DECIDER, Dataset, Scenario
from evals.evaluate import TraceResult, score_trace
from evals.evaluators import EvalContext, Score
from evals.export import export_trace
from evals.report import Report
from evals.trace import TRACE_SUFFIX, Trace, trace_files
from graphs.approval import ApprovalDecision, request_kind
from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.script import ROLES
from graphs.spec import AgentSpec
from stack.errors import ConfigError, WakefulError

MAX_APPROVAL_ROUNDS = 50
TRACES_DIR = "traces"
EVAL_TENANT = "eval"
"""Scenario tasks belong to this tenant, not the operator's `local`: they fail on purpose,
and must not show in `wakeful task list --state failed`, the console or /metrics of the
operator's tenant (and their memory stays apart from the operator's agents')."""


@dataclass(frozen=True)
class Progress:
    """One step of a run, for a progress display: `result` is None when a run starts."""

    scenario: str
    repeat: int
    done: int
    total: int
    result: TraceResult | None = None


ProgressFn = Callable[[Progress], None]


def _quiet(progress: Progress) -> None:
    return None


def with_model(spec: AgentSpec, model: str) -> AgentSpec:
    """The spec with every role on the configured OpenAI-compatible model `model`."""
    config = spec.model.model_copy(update={"provider": "openai", "name": model, "roles": {}})
    return spec.model_copy(update={"model": config})


def engine_for(engine: Engine, model: str | None) -> Engine:
    """The engine with settings that put every role on `model` (None: unchanged)."""
    if model is None:
        return engine
    settings = engine.settings
    if settings.openai_api_key is None:
        raise ConfigError("--model needs a model endpoint: set OPENAI_API_KEY")
    per_role = {f"model_{role}": None for role in ROLES}
    return dataclasses.replace(
        engine, settings=settings.model_copy(update={"model": model, **per_role})
    )


async def run_scenario(
    engine: Engine, scenario: Scenario, *, dataset: str, repeat: int, model: str | None = None
) -> tuple[Trace, list[str]]:
    """Run one scenario to its end, answering approvals as scripted; its trace and notes."""
    engine = engine_for(engine, model)
    runner = TaskRunner(engine)
    spec = with_model(scenario.spec, model) if model else scenario.spec
    task = await runner.submit(
        scenario.goal, spec, spec_dir=scenario.spec_dir, tenant=EVAL_TENANT
    )
    notes: list[str] = []
    result = await runner.run(task.id)
    decisions = iter(scenario.approvals)
    for _ in range(MAX_APPROVAL_ROUNDS):
        if not result.waiting:
            break
        decision = next(decisions, None)
        if decision is None:  # the safe answer of each kind: nothing runs
            unknown = bool(result.interrupts) and request_kind(result.interrupts[0]) != "approval"
            action = "skip" if unknown else "reject"
            notes.append("the run asked for more approvals than the scenario scripts; "
                         + ("skipped" if unknown else "rejected"))
            decision = ApprovalDecision(
                action=action, comment="no decision scripted", decided_by=EVAL_DECIDER
            )
        result = await runner.run(task.id, decision=decision)
    else:
        notes.append(f"still waiting after {MAX_APPROVAL_ROUNDS} approval rounds")
    label = scenario.label(dataset, repeat)
    return await export_trace(engine, task.id, scenario=label), notes


async def run_dataset(
    engine: Engine,
    dataset: Dataset,
    *,
    out_dir: Path,
    repeat: int = 1,
    model: str | None = None,
    context: EvalContext | None = None,
    progress: ProgressFn = _quiet,
) -> Report:
    """Run every scenario `repeat` times; traces go to `out_dir/traces/`."""
    if repeat < 1:
        raise ConfigError("--repeat must be at least 1")
    context = context or EvalContext()
    engine = engine_for(engine, model)  # a real model without a key stops here, not per run
    total = len(dataset.scenarios) * repeat
    results: list[TraceResult] = []
    for scenario in dataset.scenarios:
        for index in range(repeat):
            progress(Progress(scenario.name, index, len(results), total))
            try:
                trace, notes = await run_scenario(
                    engine, scenario, dataset=dataset.name, repeat=index, model=model
                )
            except WakefulError as exc:  # this scenario cannot run; the others still can
                results.append(_not_run(scenario, index, exc))
                progress(Progress(scenario.name, index, len(results), total, results[-1]))
                continue
            name = f"{scenario.name}.{index}{TRACE_SUFFIX}"
            path = trace.write(out_dir / TRACES_DIR / name)
            result = await score_trace(
                Trace.read(path), dataset, context, trace_file=f"{TRACES_DIR}/{name}"
            )
            result.notes.extend(notes)
            results.append(result)
            progress(Progress(scenario.name, index, len(results), total, result))
    options = {"source": "dataset", "repeat": repeat, "model": model or "as in the specs"}
    return _report(dataset, results, options, context)


def _not_run(scenario: Scenario, repeat: int, exc: Exception) -> TraceResult:
    return TraceResult(
        scenario=scenario.name,
        repeat=repeat,
        task_id="",
        agent=scenario.spec.name,
        state="not run",
        stop_reason=None,
        scores=[Score("runner", False, 0.0, f"the scenario could not run: {exc}")],
    )


async def evaluate_traces(
    traces_dir: Path,
    *,
    dataset: Dataset | None = None,
    context: EvalContext | None = None,
    progress: ProgressFn = _quiet,
) -> Report:
    """Judge every trace file in a directory; no database needed."""
    context = context or EvalContext()
    files = trace_files(traces_dir)
    if not files:
        raise ConfigError(f"no trace files (*{TRACE_SUFFIX}) in {traces_dir}")
    results: list[TraceResult] = []
    seen: dict[str, int] = {}
    labelled: list[str] = []  # dataset names the traces carry
    goals: dict[str, dict[str, str]] = {}
    for path in files:
        trace = Trace.read(path)
        if trace.scenario and trace.scenario.get("dataset"):
            labelled.append(str(trace.scenario["dataset"]))
        progress(Progress(path.stem, 0, len(results), len(files)))
        result = await score_trace(trace, dataset, context, trace_file=str(path.resolve()))
        if trace.scenario is None or "repeat" not in trace.scenario:
            result.repeat = seen.get(result.scenario, 0)  # unlabelled: number them in order
        seen[result.scenario] = max(seen.get(result.scenario, 0), result.repeat) + 1
        goals.setdefault(result.scenario, {"description": "", "goal": trace.task.get("goal", "")})
        results.append(result)
        progress(Progress(result.scenario, result.repeat, len(results), len(files), result))
    if dataset is None:
        name = labelled[0] if labelled else traces_dir.name
        dataset = Dataset(name=name, description="", path=None, scenarios=[])
    options = {"source": "traces", "traces": str(traces_dir), "repeat": max(seen.values())}
    return _report(dataset, results, options, context, goals)


def _report(
    dataset: Dataset,
    results: list[TraceResult],
    options: dict[str, Any],
    context: EvalContext,
    seen: dict[str, dict[str, str]] | None = None,
) -> Report:
    info = {s.name: {"description": s.description, "goal": s.goal} for s in dataset.scenarios}
    info.update({name: v for name, v in (seen or {}).items() if name not in info})
    return Report(
        dataset={
            "name": dataset.name,
            "path": str(dataset.path) if dataset.path else None,
            "description": dataset.description,
        },
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        options={
            **options,
            "judge": context.judge_label or f"skipped: {context.judge_unavailable}",
        },
        runs=results,
        scenario_info=info,
    )


def write_reports(report: Report, out_dir: Path) -> dict[str, Path]:
    """report.json, report.md and report.html in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "report.md"
    markdown.write_text(report_markdown.render(report), encoding="utf-8")
    html = out_dir / "report.html"
    html.write_text(report_html.render(report), encoding="utf-8")
    return {"json": report.write(out_dir), "markdown": markdown, "html": html}


def default_out_dir(data_dir: Path, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "evals" / f"{name}-{stamp}"
