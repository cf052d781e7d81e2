"""The labelled loop dataset and `wakeful eval loops`: the files are what they claim (size,
balance, patterns, a held-out split with unseen domains), the command prints the figures
as JSON, writes the HTML report, meets the targets, and refuses a malformed file clearly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.loop_dataset_gen import HEALTHY, LOOPS
from evals.loop_scoring import DATASETS_DIR, load_trajectories
from server.cli.main import app

DEV, HOLDOUT = DATASETS_DIR / "loops.jsonl", DATASETS_DIR / "loops_holdout.jsonl"


@pytest.fixture
def cli_env(monkeypatch, settings):
    monkeypatch.setenv("WAKEFUL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("path", [DEV, HOLDOUT])
def test_the_dataset_is_large_balanced_and_labelled(path: Path) -> None:
    trajectories = load_trajectories(path)
    assert len(trajectories) >= 100
    labels = Counter(t.label for t in trajectories)
    assert 0.4 <= labels["healthy"] / len(trajectories) <= 0.6
    assert {t.pattern for t in trajectories} == set(LOOPS) | set(HEALTHY)
    for t in trajectories:
        if t.label == "loop":
            assert t.loop_start is not None and t.turns[t.loop_start]["kind"] in ("call", "text",
                                                                                  "plan")
    lengths = [len(t.turns) for t in trajectories]
    assert min(lengths) < 8 and max(lengths) > 25  # short and long runs


def test_the_held_out_split_has_domains_the_dev_split_never_has() -> None:
    dev = {json.loads(line)["domain"] for line in DEV.read_text().splitlines()}
    held = {json.loads(line)["domain"] for line in HOLDOUT.read_text().splitlines()}
    assert held - dev


def test_eval_loops_prints_the_figures_and_writes_the_report(cli_env, tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "loops", str(DEV), str(HOLDOUT), "--json", "--no-semantic",
              "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures["splits"]) == {"dev", "holdout"}
    for split in figures["splits"].values():
        for key in ("precision", "recall", "f1", "false_alarm_rate", "delay_median",
                    "within_3_turns", "patterns", "mistakes"):
            assert key in split
        # without the semantic signal only the paraphrase loops may be missed
        assert split["f1"] >= 0.9 and split["false_alarm_rate"] <= 0.05
        assert split["delay_median"] <= 3
        assert {m["pattern"] for m in split["mistakes"]} <= {"paraphrase_stagnation"}
    assert figures["semantic"] is False
    html = (tmp_path / "loops.html").read_text()
    assert "Loop detection" in html and "paraphrase_stagnation" in html
    assert json.loads((tmp_path / "loops.json").read_text()) == figures


def test_a_malformed_dataset_is_refused_with_its_line(cli_env, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "pattern": "p", "label": "loop", "turns": []}\n')
    result = CliRunner().invoke(app, ["eval", "loops", str(bad), "--no-semantic"])
    assert result.exit_code != 0
    assert "bad.jsonl:1" in result.output and "loop_start" in result.output
    assert "Traceback" not in result.output
