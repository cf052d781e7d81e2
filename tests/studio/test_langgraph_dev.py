"""`langgraph dev` serves the agent graph as Studio sees it: a thread runs to an approval
interrupt, is resumed with an approval, and reaches the end.

The server runs as a subprocess from the repository root with langgraph.json, exactly as
`make studio` starts it: no API keys, the scripted model, no tracing, offline, and the
default data directory (so the report lands in .wakeful/reports; the test removes it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).parent / "langgraph"
AGENT = "tests/studio/approval-agent.yaml"  # relative to the repository root, as in Studio
REPORTS = REPO / ".wakeful" / "reports"  # the default data directory's
GOAL = "Check the load average and write a short report"
REPORT_SLUG = "host-health-of-"  # the scripted health report is titled "Host health of <host>: …"
START_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 60.0
UNSET = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "WAKEFUL_DATA_DIR",
    "WAKEFUL_CONFIG",
)


@dataclass
class DevServer:
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the health endpoint until it answers 200, the process dies, or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited with {process.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{url}/ok", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # poll interval, bounded by the deadline
    pytest.fail(f"langgraph dev not ready after {START_TIMEOUT_S}s:\n{tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group (uvicorn may have children)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def langgraph_dev(tmp_path: Path) -> Iterator[DevServer]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(LANGSMITH_TRACING="false", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    log = tmp_path / "langgraph-dev.log"
    command = [str(LANGGRAPH), "dev", "--port", str(port), "--no-browser", "--no-reload"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log)
        yield DevServer(url=url, log=log)
    finally:
        stop(process)


async def run_and_wait(
    client: LangGraphClient, server: DevServer, thread_id: str, **run: Any
) -> dict[str, Any]:
    """Start a run on the thread, wait for it, and return the thread's state.

    Like Studio, every run (the resume too) carries the context naming the agent spec.
    """
    started = await client.runs.create(thread_id, "agent", context={"agent": AGENT}, **run)
    await asyncio.wait_for(client.runs.join(thread_id, started["run_id"]), RUN_TIMEOUT_S)
    finished = await client.runs.get(thread_id, started["run_id"])
    assert finished["status"] == "success", tail(server.log)
    return dict(await client.threads.get_state(thread_id))


def reports() -> set[Path]:
    return {p for p in REPORTS.glob("*.md") if REPORT_SLUG in p.name}


@pytest.fixture
def new_report() -> Iterator[list[Path]]:
    """Collects the reports the test wrote, and removes them afterwards."""
    found: list[Path] = []
    try:
        yield found
    finally:
        for path in found:
            path.unlink(missing_ok=True)


async def test_a_studio_thread_pauses_for_approval_and_resumes_to_the_end(
    langgraph_dev: DevServer, new_report: list[Path]
) -> None:
    before = reports()
    client = get_client(url=langgraph_dev.url)
    thread_id = (await client.threads.create())["thread_id"]

    paused = await run_and_wait(client, langgraph_dev, thread_id, input={"goal": GOAL})
    assert paused["next"] == ["tools"]
    [request] = paused["interrupts"]
    assert request["value"]["kind"] == "approval"
    assert request["value"]["tool"] == "write_report"
    assert request["value"]["policy_source"] == "tool:write_report"
    assert reports() == before  # nothing written before the approval

    decision = {"action": "approve", "decided_by": "studio-test"}
    done = await run_and_wait(client, langgraph_dev, thread_id, command={"resume": decision})
    assert done["next"] == [] and done["interrupts"] == []
    assert done["values"]["stop_reason"] == "completed"
    written = sorted(reports() - before)
    new_report.extend(written)  # removed afterwards, whatever the outcome
    assert len(written) == 1
    assert str(written[0]) in done["values"]["output"]  # the output names the report
