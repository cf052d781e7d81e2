"""The report as Markdown: summary, pass^k, a table per scenario, the failures."""

from __future__ import annotations

from evals.report import Report


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.6f}"


def _cost_table(report: Report, summaries: list) -> list[str]:
    """Per scenario and model: mean calls, tokens and cost per task (— where unpriced)."""
    lines = [
        "| scenario | model | runs using it | calls/task | input tokens/task | "
        "output tokens/task | cost/task (USD) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for row in report.cost_by_model(s.name):
            lines.append(
                f"| {s.name} | {_cell(row['model'])} | {row['runs']}/{s.runs} | "
                f"{row['calls']:.1f} | {row['input_tokens']:.0f} | {row['output_tokens']:.0f} | "
                f"{_usd(row['cost_usd'])} |"
            )
    return lines


def render(report: Report) -> str:
    overall = report.overall()
    options = report.options
    lines = [
        f"# Eval report: {report.dataset.get('name', '')}",
        "",
        f"- created: {report.created_at}",
        f"- source: {options.get('source')} · repeat: {options.get('repeat')} · "
        f"model: {options.get('model', 'n/a')} · judge: {options.get('judge')}",
        f"- runs passed: {overall['passed']}/{overall['runs']} ({_pct(overall['pass_rate'])})",
        f"- scenarios passing every run: {overall['scenarios_passed']}/{overall['scenarios']}",
        "",
        "## pass^k (mean over scenarios)",
        "",
        "| k | " + " | ".join(str(k) for k in overall["pass_hat_k"]) + " |",
        "|---|" + "---|" * len(overall["pass_hat_k"]),
        "| pass^k | " + " | ".join(f"{v:.3f}" for v in overall["pass_hat_k"].values()) + " |",
        "",
        "## Scenarios",
        "",
        "| scenario | runs | passed | pass rate | pass^k (k=n) | failing evaluators |",
        "|---|---|---|---|---|---|",
    ]
    summaries = report.summaries()
    for s in summaries:
        failing = ", ".join(sorted(e for e, rate in s.evaluators.items() if rate < 1)) or "—"
        last = s.pass_hat_k[s.runs] if s.runs else 0.0
        lines.append(
            f"| {s.name} | {s.runs} | {s.passed} | {_pct(s.pass_rate)} | {last:.3f} | {failing} |"
        )
    lines += ["", "## Cost per task by model", "", *_cost_table(report, summaries)]
    lines += ["", "## Evaluators", "", "| evaluator | pass rate |", "|---|---|"]
    lines += [f"| {name} | {_pct(rate)} |" for name, rate in sorted(overall["evaluators"].items())]
    for s in summaries:
        lines += ["", f"## {s.name}", ""]
        if s.description:
            lines += [s.description, ""]
        if s.goal:
            lines += [f"Goal: {s.goal}", ""]
        evaluators = sorted(s.evaluators)
        lines += [
            "| run | task | state | tokens | " + " | ".join(evaluators) + " |",
            "|---|---|---|---|" + "---|" * len(evaluators),
        ]
        for run in report.runs_of(s.name):
            marks = []
            for name in evaluators:
                score = run.score(name)
                marks.append("—" if score is None else ("✓" if score.passed else "✗"))
            lines.append(
                f"| {run.repeat} | {run.task_id[:8]} | {run.state} ({run.stop_reason}) | "
                f"{run.usage.get('tokens', 0)} | " + " | ".join(marks) + " |"
            )
        if s.skipped:
            lines += [""] + [f"- skipped {name}: {why}" for name, why in sorted(s.skipped.items())]
        if s.failures:
            lines += ["", "Failures:", ""] + [f"- {_cell(f)}" for f in s.failures]
    return "\n".join(lines) + "\n"
