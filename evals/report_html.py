"""The report as one self-contained HTML page: inline CSS, plots as inline base64 PNG, no
scripts and no external resources, so it can be mailed or archived as a single file."""

from __future__ import annotations

from html import escape

from evals import plots
from evals.evaluate import TraceResult
from evals.report import Report, ScenarioSummary

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #212121; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } .pass { color: #2e7d32; font-weight: 600; }
.fail { color: #c62828; font-weight: 600; } .skip { color: #757575; }
.muted { color: #757575; } img.plot { max-width: 100%; display: block; margin: .5rem 0; }
section.scenario { margin-bottom: 2rem; } details { margin: .3rem 0; }
code { background: #f5f5f5; padding: 0 .2rem; }
"""


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _img(data: str, alt: str) -> str:
    return f'<img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _mark(passed: bool) -> str:
    return '<span class="pass">✓</span>' if passed else '<span class="fail">✗</span>'


def _summary_table(report: Report) -> str:
    rows = []
    for s in report.summaries():
        failing = ", ".join(sorted(e for e, r in s.evaluators.items() if r < 1)) or "—"
        css = "pass" if s.passed == s.runs else "fail"
        rows.append(
            f'<tr><td><a href="#scenario-{escape(s.name)}">{escape(s.name)}</a></td>'
            f"<td>{s.runs}</td><td class=\"{css}\">{s.passed}/{s.runs} ({_pct(s.pass_rate)})</td>"
            f"<td>{s.pass_hat_k.get(s.runs, 0.0):.3f}</td><td>{escape(failing)}</td></tr>"
        )
    return (
        "<table><tr><th>scenario</th><th>runs</th><th>passed</th><th>pass^k (k=n)</th>"
        "<th>failing evaluators</th></tr>" + "".join(rows) + "</table>"
    )


def _cost_table(report: Report) -> str:
    """Per scenario and model: mean calls, tokens and cost per task (— where unpriced)."""
    rows = []
    for s in report.summaries():
        for row in report.cost_by_model(s.name):
            cost = "—" if row["cost_usd"] is None else f"${row['cost_usd']:.6f}"
            rows.append(
                f"<tr><td>{escape(s.name)}</td><td>{escape(row['model'])}</td>"
                f"<td>{row['runs']}/{s.runs}</td><td>{row['calls']:.1f}</td>"
                f"<td>{row['input_tokens']:.0f}</td><td>{row['output_tokens']:.0f}</td>"
                f"<td>{cost}</td></tr>"
            )
    return (
        "<table><tr><th>scenario</th><th>model</th><th>runs using it</th><th>calls/task</th>"
        "<th>input tokens/task</th><th>output tokens/task</th><th>cost/task (USD)</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _run_row(run: TraceResult, evaluators: list[str]) -> str:
    cells = []
    for name in evaluators:
        score = run.score(name)
        if score is None:
            cells.append("<td class=\"muted\">—</td>")
        elif score.skipped is not None:
            cells.append(f'<td class="skip" title="{escape(score.skipped)}">skipped</td>')
        else:
            cells.append(f'<td title="{escape(score.detail)}">{_mark(score.passed)}</td>')
    trace = escape(run.trace_file or "")
    return (
        f"<tr><td>{run.repeat}</td><td><code>{escape(run.task_id[:8])}</code></td>"
        f"<td>{escape(run.state)} ({escape(str(run.stop_reason))})</td>"
        f"<td>{run.usage.get('tokens', 0)}</td><td>{run.usage.get('tool_calls', 0)}</td>"
        + "".join(cells)
        + f"<td><a href=\"{trace}\">{trace}</a></td></tr>"
    )


def _details(run: TraceResult) -> str:
    items = "".join(
        f"<li>{_mark(s.passed)} <b>{escape(s.evaluator)}</b>: {escape(s.detail)}"
        + (f" <span class=\"skip\">(skipped: {escape(s.skipped)})</span>" if s.skipped else "")
        + "</li>"
        for s in run.scores
    )
    notes = "".join(f"<li class=\"muted\">note: {escape(n)}</li>" for n in run.notes)
    return f"<details><summary>run {run.repeat} details</summary><ul>{items}{notes}</ul></details>"


def _scenario(report: Report, summary: ScenarioSummary) -> str:
    evaluators = sorted(
        {s.evaluator for run in report.runs_of(summary.name) for s in run.scores}
    )
    runs = report.runs_of(summary.name)
    head = "".join(f"<th>{escape(e)}</th>" for e in evaluators)
    rows = "".join(_run_row(run, evaluators) for run in runs)
    failures = "".join(f"<li>{escape(f)}</li>" for f in summary.failures)
    pass_k = ", ".join(f"k={k}: {v:.3f}" for k, v in sorted(summary.pass_hat_k.items()))
    return (
        f'<section class="scenario" id="scenario-{escape(summary.name)}">'
        f"<h2>{escape(summary.name)}</h2>"
        + (f"<p>{escape(summary.description)}</p>" if summary.description else "")
        + (f"<p class=\"muted\">Goal: {escape(summary.goal)}</p>" if summary.goal else "")
        + f"<p>{summary.passed}/{summary.runs} runs passed · pass^k {escape(pass_k)}</p>"
        + _img(plots.scenario_scores(summary), f"{summary.name}: evaluator pass rates")
        + "<table><tr><th>run</th><th>task</th><th>state</th><th>tokens</th><th>tool calls</th>"
        + head
        + "<th>trace</th></tr>"
        + rows
        + "</table>"
        + "".join(_details(run) for run in runs)
        + (f"<h3>Failures</h3><ul>{failures}</ul>" if failures else "")
        + "</section>"
    )


def render(report: Report) -> str:
    overall = report.overall()
    options = report.options
    title = f"Eval report: {report.dataset.get('name', '')}"
    evaluator_rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_pct(rate)}</td></tr>"
        for name, rate in sorted(overall["evaluators"].items())
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class=\"muted\">{escape(report.created_at)} · " + " · ".join(
            f"{key} {escape(str(options.get(key, 'n/a')))}"
            for key in ("source", "repeat", "model", "judge")
        ) + "</p>",
        f"<p><b>{overall['passed']}/{overall['runs']}</b> runs passed "
        f"({_pct(overall['pass_rate'])}); <b>{overall['scenarios_passed']}/"
        f"{overall['scenarios']}</b> scenarios passed every run.</p>",
        "<h2>Overview</h2>",
        _img(plots.pass_rates(report), "pass rate per scenario"),
        _img(plots.pass_k_curve(report), "pass^k curve"),
        _summary_table(report),
        "<h2>Metric distributions</h2>",
        _img(plots.distributions(report), "metric distributions"),
        "<h2>Cost per task by model</h2>",
        _cost_table(report),
        "<h2>Evaluators</h2>",
        f"<table><tr><th>evaluator</th><th>pass rate</th></tr>{evaluator_rows}</table>",
    ]
    body += [_scenario(report, s) for s in report.summaries()]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _figure(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else escape(str(value))


_LOOP_COLUMNS = ("trajectories", "loops", "healthy", "precision", "recall", "f1",
                 "false_alarm_rate", "delay_median", "delay_max", "within_3_turns")


def loop_detection_section(result: dict) -> str:
    """The loop detector's figures on a labelled set (evals/loop_scoring.score): one row a
    split, then each split's patterns and mistakes."""
    head = "".join(f"<th>{escape(c)}</th>" for c in ("split", *_LOOP_COLUMNS))
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td>{_figure(split[c])}</td>" for c in _LOOP_COLUMNS)
        + "</tr>"
        for name, split in result["splits"].items()
    )
    parts = [
        "<h2>Loop detection</h2>",
        f"<p class=\"muted\">semantic signal {'on' if result['semantic'] else 'off'}</p>",
        f"<table><tr>{head}</tr>{rows}</table>",
    ]
    for name, split in result["splits"].items():
        patterns = "".join(
            f"<tr><td>{escape(p)}</td><td>{escape(v['label'])}</td><td>{v['flagged']}/{v['n']}"
            f"</td><td>{_figure(v['delay_median'])}</td><td>"
            + escape(", ".join(f"{r} {n}" for r, n in sorted(v["rules"].items())))
            + "</td></tr>"
            for p, v in split["patterns"].items()
        )
        mistakes = "".join(
            f"<li><code>{escape(m['id'])}</code> {escape(str(m.get('signal')))}</li>"
            for m in split["mistakes"]
        )
        parts += [
            f"<h3>{escape(name)}: per pattern</h3>",
            "<table><tr><th>pattern</th><th>label</th><th>flagged</th><th>median delay</th>"
            f"<th>signals</th></tr>{patterns}</table>",
            f"<ul>{mistakes}</ul>" if mistakes else "<p>No mistakes.</p>",
        ]
    return "\n".join(parts)


def render_loop_report(result: dict) -> str:
    title = "Loop detection report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
        + loop_detection_section(result)
        + "</body></html>\n"
    )
