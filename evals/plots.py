"""The report's figures, drawn with matplotlib's Agg backend (no display) and returned as
base64 PNG, ready to inline in HTML."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from evals.report import Report, ScenarioSummary

PASS, FAIL, ACCENT = "#2e7d32", "#c62828", "#1565c0"
_DPI = 80
DISTRIBUTIONS = (
    ("tokens", "tokens per task"),
    ("tool_calls", "tool calls per task"),
    ("iterations", "iterations per task"),
    ("budget_use", "highest budget use (count budgets)"),
)


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def pass_rates(report: Report) -> str:
    summaries = report.summaries()
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(summaries) + 1.2))
    names = [s.name for s in summaries][::-1]
    rates = [s.pass_rate for s in summaries][::-1]
    axes.barh(names, rates, color=[PASS if r == 1 else FAIL for r in rates])
    axes.set_xlim(0, 1)
    axes.set_xlabel("pass rate")
    axes.set_title("pass rate per scenario")
    return _png(figure)


def pass_k_curve(report: Report) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    for summary in report.summaries():
        ks = sorted(summary.pass_hat_k)
        axes.plot(ks, [summary.pass_hat_k[k] for k in ks], color="#9e9e9e", linewidth=0.8)
    overall = report.overall()["pass_hat_k"]
    ks = sorted(overall)
    axes.plot(ks, [overall[k] for k in ks], color=ACCENT, linewidth=2.5, marker="o",
              label="mean over scenarios")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xticks(ks or [1])
    axes.set_xlabel("k")
    axes.set_ylabel("pass^k")
    axes.set_title("pass^k: all of k runs pass")
    axes.legend(loc="lower left")
    return _png(figure)


def distributions(report: Report) -> str:
    names = [s.name for s in report.summaries()]
    figure, grid = plt.subplots(2, 2, figsize=(10, 0.25 * len(names) + 4.5))
    for axes, (metric, title) in zip(grid.flat, DISTRIBUTIONS, strict=True):
        data = [[float(r.usage.get(metric) or 0) for r in report.runs_of(n)] for n in names]
        axes.boxplot(data[::-1], orientation="horizontal", tick_labels=names[::-1], widths=0.6)
        axes.set_title(title)
        axes.tick_params(axis="y", labelsize=7)
    return _png(figure)


def scenario_scores(summary: ScenarioSummary) -> str:
    """One scenario: pass rate per evaluator over its runs."""
    evaluators = sorted(summary.evaluators)
    figure, axes = plt.subplots(figsize=(5, 0.28 * len(evaluators) + 1))
    rates = [summary.evaluators[e] for e in evaluators]
    axes.barh(evaluators[::-1], rates[::-1], color=[PASS if r == 1 else FAIL for r in rates][::-1])
    axes.set_xlim(0, 1)
    axes.set_title(f"{summary.name}: evaluator pass rates ({summary.runs} runs)", fontsize=9)
    axes.tick_params(labelsize=8)
    return _png(figure)
