"""Acceptance: traces exported from a `wakeful serve` run and judged with `--traces` (no
database reachable) score the same as the same scenarios run in-process.

`wakeful serve` runs as a subprocess on a database of its own (on the session's Postgres)
and a fresh data dir; the scenarios go through its HTTP API (evals/serve_driver.py), each
task is exported with `wakeful trace export TASK_ID`, and `wakeful eval run DATASET
--traces DIR` judges the files with DATABASE_URL pointing at a closed port. The traces
carry no scenario label, so the dataset matches them by agent name (`eval-<scenario>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wakeful_servers import REPO, free_port, own_database, serve_process, server_env

from evals.dataset import load_dataset
from evals.report import Report
from evals.runner import run_dataset
from evals.serve_driver import run_dataset_via_api
from evals.trace import Trace

pytestmark = pytest.mark.slow

# Deterministic and quick: a success, an approved gated call, a budget stop, a stuck loop.
SCENARIOS = ["success", "approval-approve", "budget-tool-calls", "stuck-loop"]


def wakeful(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run the CLI as a subprocess; its output (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "server.cli.main", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, f"wakeful {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def serve_db(pg_url: str) -> Iterator[str]:
    """A database of the test's own on the session's Postgres (the server migrates it)."""
    with own_database(pg_url, "wk_serve_eval") as url:
        yield url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's temp root (see tests/conftest.py fresh_data_dir)."""
    path = Path(tempfile.mkdtemp(prefix="wakeful-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def wait_ready(process: subprocess.Popen, base_url: str, token_file: Path,
                     log_path: Path, timeout: float = 90) -> str:
    """Wait for /healthz and the admin token; the token."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=base_url) as probe:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"wakeful serve exited:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get("/healthz")).status_code == 200 and token_file.is_file():
                    return token_file.read_text().strip()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"wakeful serve not up:\n{log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.1)


async def test_serve_traces_score_like_in_process_runs(
    serve_db: str, data_dir: Path, eval_engine, core_dataset_path: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(core_dataset_path).select(SCENARIOS)
    env = server_env(serve_db, data_dir)
    log_path = data_dir / "serve.log"
    port = free_port()
    with serve_process(env, log_path, port, "--no-view") as process:
        base_url = f"http://127.0.0.1:{port}"
        token = await wait_ready(process, base_url, data_dir / "admin.token", log_path)
        task_ids = await run_dataset_via_api(base_url, token, dataset, timeout=120)
    log = log_path.read_text(errors="replace")
    assert process.returncode == 0, f"wakeful serve stopped badly:\n{log[-3000:]}"
    assert not [line for line in log.splitlines() if line.startswith(("ERROR", "CRITICAL"))], log

    # Exported from the server's database, as an operator would: one task id at a time.
    exported = tmp_path / "exported"
    await asyncio.gather(*(
        asyncio.to_thread(wakeful, "trace", "export", task_id, "-o", str(exported), env=env)
        for task_id in task_ids.values()
    ))
    traces = {p.stem: Trace.read(p) for p in exported.glob("*.jsonl")}
    assert set(traces) == set(task_ids.values())
    for name, task_id in task_ids.items():
        trace = traces[task_id]
        assert trace.scenario is None  # no label: matched to the dataset by agent name
        assert trace.task["agent"] == f"eval-{name}" and trace.task["tenant"] == "local"

    # Judged offline: the database URL points at a port nobody listens on.
    offline = tmp_path / "offline"
    no_db = server_env(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", tmp_path / "d")
    wakeful("eval", "run", str(core_dataset_path), "--traces", str(exported),
            *(arg for name in SCENARIOS for arg in ("-s", name)), "-o", str(offline), env=no_db)
    served = Report.read(offline)

    # The same scenarios in-process.
    in_process = await run_dataset(eval_engine, dataset, out_dir=tmp_path / "in-process")

    assert sorted(r.task_id for r in served.runs) == sorted(task_ids.values())
    assert {r.scenario: (r.state, r.stop_reason, r.passed) for r in served.runs} == {
        r.scenario: (r.state, r.stop_reason, r.passed) for r in in_process.runs
    }
    assert served.score_table() == in_process.score_table()
    assert served.all_passed, [s.failures for s in served.summaries()]
