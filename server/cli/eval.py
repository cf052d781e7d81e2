"""`wakeful eval run|compare`: run a dataset (or judge exported traces) and compare reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from server.cli.common import console, fail, handle_errors, open_engine, run_async, settings

if TYPE_CHECKING:  # evals (agentevals, matplotlib) loads only when an eval command runs
    from evals.compare import Comparison
    from evals.dataset import Dataset
    from evals.report import Report
    from evals.runner import Progress as RunProgress

eval_app = typer.Typer(help="Evaluate agents: run datasets, judge traces.", no_args_is_help=True)

EXIT_FAILED_RUNS = 1


class _Bar:
    """A Rich progress bar fed by the runner's progress callback."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.failed = 0

    def __call__(self, update: RunProgress) -> None:
        if update.result is not None and not update.result.passed:
            self.failed += 1
        failed = f" · [red]{self.failed} failed[/]" if self.failed else ""
        self.progress.update(
            self.task,
            total=update.total,
            completed=update.done,
            description=f"{update.scenario} #{update.repeat}{failed}",
        )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_summary(report: Report, paths: dict[str, Path]) -> None:
    table = Table(title=f"eval: {report.dataset.get('name')} ({report.options.get('source')})")
    for column in ("scenario", "runs", "passed", "pass^k (k=n)", "failing evaluators"):
        table.add_column(column)
    for s in report.summaries():
        style = "green" if s.passed == s.runs else "red"
        failing = ", ".join(sorted(e for e, rate in s.evaluators.items() if rate < 1))
        table.add_row(
            s.name,
            str(s.runs),
            f"[{style}]{s.passed}/{s.runs}[/]",
            f"{s.pass_hat_k.get(s.runs, 0.0):.3f}",
            failing,
        )
    console.print(table)
    for s in report.summaries():
        for failure in s.failures[:3]:
            console.print(f"[red]✗ {s.name}[/] {failure[:300]}", highlight=False)
    overall = report.overall()
    console.print(
        f"{overall['passed']}/{overall['runs']} runs passed; pass^k "
        + ", ".join(f"k={k}: {v:.3f}" for k, v in overall["pass_hat_k"].items())
    )
    if skipped := {n: w for s in report.summaries() for n, w in s.skipped.items()}:
        for name, why in sorted(skipped.items()):
            console.print(f"[dim]skipped {name}: {why}[/]")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")


@eval_app.command("run")
@handle_errors
def run(
    dataset: Annotated[
        Path | None,
        typer.Argument(help="dataset YAML (e.g. evals/datasets/core.yaml)", show_default=False),
    ] = None,
    traces: Annotated[
        Path | None,
        typer.Option(help="judge the trace files in this directory instead of running tasks"),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="runs per scenario (for pass^k)")] = 1,
    model: Annotated[
        str | None, typer.Option(help="run on this model (OPENAI_API_KEY) instead of the script")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help="only this scenario (repeatable)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="report directory (default: <data dir>/evals/<name>-<time>)"
        ),
    ] = None,
) -> None:
    """Run a dataset's scenarios in-process, or judge exported traces; write the reports.

    Writes report.json, report.md and report.html (and, for a dataset run, the traces).
    Exits 1 when any run failed its evaluation.
    """
    from evals.dataset import load_dataset
    from evals.judge_model import judge_context
    from evals.runner import default_out_dir, evaluate_traces, run_dataset, write_reports

    config = settings()
    if dataset is None and traces is None:
        raise fail("give a DATASET to run, or --traces DIR to judge", 2)
    loaded: Dataset | None = load_dataset(dataset) if dataset is not None else None
    if loaded is not None:
        loaded = loaded.select(scenario or [])
    context = judge_context(config, model)
    name = loaded.name if loaded else (traces.name if traces else "traces")
    out_dir = out or default_out_dir(config.data_dir, name)

    async def main() -> Report:
        with _progress() as progress:
            bar = _Bar(progress)
            if traces is not None:
                return await evaluate_traces(
                    traces, dataset=loaded, context=context, progress=bar
                )
            assert loaded is not None
            async with open_engine(config) as engine:
                return await run_dataset(
                    engine,
                    loaded,
                    out_dir=out_dir,
                    repeat=repeat,
                    model=model,
                    context=context,
                    progress=bar,
                )

    report = run_async(main())
    _print_summary(report, write_reports(report, out_dir))
    if not report.all_passed:
        raise typer.Exit(EXIT_FAILED_RUNS)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _comparison_table(comparison: Comparison, everything: bool) -> Table:
    table = Table(
        title=f"{comparison.before.created_at} → {comparison.after.created_at}",
        caption=f"{len(comparison.changed)} of {len(comparison.scenarios)} scenario(s) changed",
    )
    for column in ("scenario", "status", "pass rate", "pass^k", "mean tokens", "evaluators"):
        table.add_column(column, overflow="fold")
    styles = {"worse": "red", "removed": "red", "better": "green", "new": "cyan"}
    for change in comparison.scenarios:
        if change.status == "same" and not everything:
            continue
        style = styles.get(change.status, "yellow" if change.status == "changed" else "")
        table.add_row(
            change.scenario,
            f"[{style}]{change.status}[/]" if style else change.status,
            f"{_rate(change.before)} → {_rate(change.after)}",
            f"{_number(change.pass_k_before)} → {_number(change.pass_k_after)}",
            f"{_number(change.tokens_before, 0)} → {_number(change.tokens_after, 0)}",
            "\n".join(change.flipped),
        )
    return table


@eval_app.command("compare")
@handle_errors
def compare_reports(
    before: Annotated[Path, typer.Argument(help="the earlier report (report.json or its dir)")],
    after: Annotated[Path, typer.Argument(help="the later report (report.json or its dir)")],
    show_all: Annotated[bool, typer.Option("--all", help="also list unchanged scenarios")] = False,
    fail_on_regression: Annotated[
        bool, typer.Option(help="exit 1 when a scenario got worse or disappeared")
    ] = False,
) -> None:
    """What changed between two eval reports: pass rates, pass^k, evaluators, tokens."""
    from evals.compare import compare
    from evals.report import Report

    comparison = compare(Report.read(before), Report.read(after))
    a, b = comparison.before.overall(), comparison.after.overall()
    console.print(
        f"runs passed: {a['passed']}/{a['runs']} ({a['pass_rate']:.0%}) → "
        f"{b['passed']}/{b['runs']} ({b['pass_rate']:.0%})"
    )
    console.print(_comparison_table(comparison, show_all))
    if fail_on_regression and comparison.regressions:
        raise typer.Exit(EXIT_FAILED_RUNS)


@eval_app.command("loops")
@handle_errors
def loops(
    datasets: Annotated[
        list[Path] | None,
        typer.Argument(
            help="labelled trajectories (JSONL); default: evals/datasets/loops.jsonl, "
            "loops_holdout.jsonl and loops_handwritten.jsonl",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
    semantic: Annotated[
        bool, typer.Option(help="run the semantic signal (MiniLM; embeddings cached)")
    ] = True,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="also write loops.json and loops.html here")
    ] = None,
) -> None:
    """Score the loop detector on labelled trajectories: precision, recall, F1, false
    alarms on healthy runs and detection delay, per split and per pattern."""
    import json

    from evals.embedding_cache import CachedEmbedder
    from evals.loop_scoring import DATASETS_DIR, DEFAULT_DATASETS, load_trajectories, score
    from evals.loop_scoring import thoughts as all_thoughts
    from evals.report_html import render_loop_report
    from graphs.spec import EntropyConfig

    config = settings()
    paths = datasets or [DATASETS_DIR / name for name in DEFAULT_DATASETS]
    trajectories = [t for path in paths for t in load_trajectories(path)]
    embed = None
    if semantic:
        embed = CachedEmbedder(config.data_dir / "cache" / "loop_embeddings.npz",
                               config.embedding_model)
        embed.warm(all_thoughts(trajectories))
        embed.save()
    result = score(trajectories, EntropyConfig(), embed)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "loops.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        (out / "loops.html").write_text(render_loop_report(result), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_loop_figures(result, out)


def _print_loop_figures(result: dict, out: Path | None) -> None:
    table = Table(title=f"loop detection (semantic {'on' if result['semantic'] else 'off'})")
    columns = ("precision", "recall", "f1", "false_alarm_rate", "delay_median", "within_3_turns")
    for column in ("split", "runs", *columns):
        table.add_column(column)
    for name, split in result["splits"].items():
        runs = f"{split['loops']} loops, {split['healthy']} healthy"
        table.add_row(name, runs, *(_number(split[c]) if split[c] is not None else "—"
                                    for c in columns))
    console.print(table)
    for name, split in result["splits"].items():
        for mistake in split["mistakes"][:10]:
            console.print(f"[red]✗ {name}[/] {mistake['id']}: {mistake.get('signal')}",
                          highlight=False)
    if out is not None:
        console.print(f"report: {out / 'loops.html'}")
