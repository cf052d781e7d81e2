"""Errors as an operator reads them: patterns and brackets printed as they are (Rich
markup used to eat `[a-z0-9]`), an MCP server name refused with the reason; and the
Makefile's run/studio targets on the port asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def wakeful(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli.main", *args], cwd=REPO, capture_output=True,
        text=True, timeout=120, check=False, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )


def test_a_bad_agent_name_prints_the_pattern_intact(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"name": "Bad Name", "goal": "x"}))
    result = wakeful("run", "--agent", str(spec))
    assert result.returncode == 2
    assert "name: String should match pattern '^[a-z0-9][a-z0-9_.-]{0,62}$'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_mcp_server_name_is_refused_with_the_reason(tmp_path: Path) -> None:
    spec = tmp_path / "mcp.yaml"
    spec.write_text(yaml.safe_dump({"name": "ok", "goal": "x", "mcp_servers": [
        {"name": "my_notes", "transport": "stdio", "command": "python"}]}))
    result = wakeful("run", "--agent", str(spec))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "mcp_servers.0.name" in message and "'my_notes'" in message
    assert "<server>__<tool>" in message and "'_'" in message


def _dry_run(*args: str) -> str:
    result = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_and_studio_take_port() -> None:
    assert "--port 8080" in _dry_run("run")
    assert "--port 9191" in _dry_run("run", "PORT=9191")
    assert "langgraph dev --no-browser --port 2024" in _dry_run("studio")
    assert "langgraph dev --no-browser --port 2999" in _dry_run("studio", "PORT=2999")


def test_event_lines_show_their_data_as_it_is() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from server.cli.task import event_line
    from stack.task_records import EventRow

    console = Console(record=True, width=200, color_system=None)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    console.print(event_line(EventRow(1, "t", 1, when, "error", {"error": "bad [a-z0-9] x"})))
    console.print(event_line(EventRow(2, "t", 2, when, "tool_call",
                                      {"tool": "notes.[b]add", "status": "ok"})))
    text = console.export_text()
    assert "bad [a-z0-9] x" in text and "notes.[b]add · ok" in text
