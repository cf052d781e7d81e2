"""Reports: JSON round trip, the self-contained HTML page, Markdown, and comparisons."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from evals.compare import compare
from evals.evaluate import TraceResult
from evals.evaluators import Score
from evals.report import Report
from evals.runner import write_reports

PNG = b"\x89PNG\r\n\x1a\n"


def _run(scenario: str, repeat: int, *, passed: bool = True, tokens: int = 100) -> TraceResult:
    scores = [
        Score("outcome", True, 1.0, "completed (completed)"),
        Score("loops", passed, 1.0 if passed else 0.0, "no loop" if passed else "loop: x"),
        Score("judge", True, 1.0, "skipped", skipped="no judge model configured"),
    ]
    return TraceResult(scenario, repeat, f"task-{scenario}-{repeat}", f"eval-{scenario}",
                       "completed", "completed", scores, {"tokens": tokens, "tool_calls": 1})


def _report(fails: dict[str, int] | None = None, repeat: int = 3) -> Report:
    fails = fails or {}
    names = ["alpha", "beta", "gamma <&>"]
    runs = [_run(n, r, passed=r >= fails.get(n, 0)) for n in names for r in range(repeat)]
    info = {n: {"description": f"about {n}", "goal": f"do {n}"} for n in names}
    return Report({"name": "demo", "path": None, "description": ""}, "2026-01-01T00:00:00",
                  {"source": "dataset", "repeat": repeat}, runs, info)


def test_html_report_names_every_scenario_and_embeds_its_plots(tmp_path: Path) -> None:
    report = _report({"beta": 1})
    paths = write_reports(report, tmp_path)
    html = paths["html"].read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for alt in ("pass rate per scenario", "pass^k curve", "metric distributions"):
        assert re.search(rf'<img class="plot" alt="{re.escape(alt)}" src="data:image/png;base64,',
                         html)
    for name in ("alpha", "beta", "gamma &lt;&amp;&gt;"):
        section = re.search(
            rf'<section class="scenario" id="scenario-{re.escape(name)}">(.*?)</section>',
            html, re.DOTALL,
        )
        assert section, f"no section for {name}"
        assert f"<h2>{name}</h2>" in section.group(1)
        [image] = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section.group(1))
        assert base64.b64decode(image).startswith(PNG)
    assert "<b>8/9</b> runs passed" in html and "skipped" in html


def test_report_json_round_trip_and_markdown(tmp_path: Path) -> None:
    report = _report({"alpha": 2})
    paths = write_reports(report, tmp_path)
    again = Report.read(tmp_path)
    assert again.score_table() == report.score_table()
    assert again.overall() == report.overall()
    summary = again.summary_of("alpha")
    assert (summary.runs, summary.passed) == (3, 1)
    assert summary.pass_hat_k == {1: 1 / 3, 2: 0.0, 3: 0.0}
    assert summary.skipped == {"judge": "no judge model configured"}
    markdown = paths["markdown"].read_text()
    assert "| alpha | 3 | 1 | 33% | 0.000 | loops |" in markdown
    assert "- skipped judge: no judge model configured" in markdown


def test_compare_finds_what_changed() -> None:
    before, after = _report(), _report({"beta": 2})
    comparison = compare(before, after)
    by_name = {c.scenario: c for c in comparison.scenarios}
    assert by_name["alpha"].status == "same"
    beta = by_name["beta"]
    assert beta.status == "worse" and beta.before == 1.0 and beta.after == 1 / 3
    assert beta.flipped == ["loops: 100% -> 33%"]
    assert [c.scenario for c in comparison.regressions] == ["beta"]
    assert compare(before, _report()).changed == []
    fewer = _report()
    fewer.runs = [r for r in fewer.runs if r.scenario != "gamma <&>"]
    assert [c.status for c in compare(before, fewer).changed] == ["removed"]
