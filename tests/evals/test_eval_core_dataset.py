"""Acceptance: `wakeful eval run evals/datasets/core.yaml --repeat 3` passes with the
network blocked, scores the same when rerun, and its exported traces score the same
offline (no database) as they did in-process."""

from __future__ import annotations

import base64
import re
import socket
from pathlib import Path

import pytest
import typer

from evals.report import Report
from server.cli.eval import eval_app
from server.cli.trace import trace_app

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, eval_settings, eval_pg_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", eval_pg_url)
    monkeypatch.setenv("WAKEFUL_DATA_DIR", str(eval_settings.data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("WAKEFUL_CONFIG", raising=False)


@pytest.fixture
def invoke(capfd: pytest.CaptureFixture[str]):
    """Run a CLI command in this process (so the network guard applies) with the real
    stdio streams: the MCP scenario's server process inherits stderr, which needs a file
    descriptor (typer's CliRunner swaps in one without)."""

    def run(app: typer.Typer, *args: str, code: int = 0) -> str:
        capfd.readouterr()
        command = typer.main.get_command(app)
        exit_code = command.main(list(args), prog_name="wakeful", standalone_mode=False)
        out, err = capfd.readouterr()
        assert (exit_code or 0) == code, out + err
        return out

    return run


def test_core_dataset_passes_offline_and_scores_the_same_on_rerun(
    no_network, cli_env, invoke, core_dataset_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # the guard is on
    no_network.clear()
    first, second, offline = tmp_path / "first", tmp_path / "second", tmp_path / "offline"

    output = invoke(eval_app, "run", str(core_dataset_path), "--repeat", "3", "-o", str(first))
    assert "runs passed" in output and "report.html" in output
    invoke(eval_app, "run", str(core_dataset_path), "--repeat", "3", "-o", str(second))
    a, b = Report.read(first), Report.read(second)
    names = [s.name for s in a.summaries()]
    assert len(names) >= 10 and a.all_passed, [s.failures for s in a.summaries()]
    assert len(a.runs) == 3 * len(names)
    assert a.overall()["pass_hat_k"] == {1: 1.0, 2: 1.0, 3: 1.0}
    assert a.score_table() == b.score_table()  # identical scores on a rerun
    assert {r.task_id for r in a.runs}.isdisjoint(r.task_id for r in b.runs)

    # The traces it wrote score the same offline, with or without the dataset file.
    invoke(eval_app, "run", "--traces", str(first / "traces"), "-o", str(offline))
    assert Report.read(offline).score_table() == a.score_table()
    invoke(eval_app, "run", str(core_dataset_path), "--traces", str(first / "traces"),
           "-o", str(offline))
    assert Report.read(offline).score_table() == a.score_table()

    compared = invoke(eval_app, "compare", str(first), str(second), "--fail-on-regression")
    assert f"0 of {len(names)} scenario(s) changed" in compared

    html = (first / "report.html").read_text()
    for name in names:
        section = re.search(rf'id="scenario-{name}">(.*?)</section>', html, re.DOTALL)
        assert section and f"<h2>{name}</h2>" in section.group(1)
        [image] = re.findall(r'src="data:image/png;base64,([^"]+)"', section.group(1))
        assert base64.b64decode(image)[:4] == b"\x89PNG"
    assert no_network == []  # nothing even tried to leave the machine


def test_trace_export_cli_then_offline_eval(
    no_network, cli_env, invoke, core_dataset_path: Path, tmp_path: Path
) -> None:
    invoke(eval_app, "run", str(core_dataset_path), "-s", "approval-reject", "-s", "stuck-loop",
           "-o", str(tmp_path / "run"))
    ran = Report.read(tmp_path / "run")
    exported = tmp_path / "exported"
    for run in ran.runs:  # as an operator would: by task id, from the database
        invoke(trace_app, "export", run.task_id, "-o", str(exported))
    assert len(list(exported.glob("*.jsonl"))) == 2
    # Exported without scenario labels: the dataset matches them by agent name.
    invoke(eval_app, "run", str(core_dataset_path), "--traces", str(exported),
           "-o", str(tmp_path / "judged"))
    assert Report.read(tmp_path / "judged").score_table() == ran.score_table()
    output = invoke(trace_app, "export", "--agent", "eval-stuck-loop", "--since", "1h",
                    "-o", str(tmp_path / "by-agent"))
    assert "trace(s) written" in output
    assert list((tmp_path / "by-agent").glob("*.jsonl"))
    invoke(trace_app, "export", "-o", str(tmp_path / "x"), code=2)  # nothing chosen
    invoke(trace_app, "export", "no-such-task", "-o", str(tmp_path / "x"), code=4)
