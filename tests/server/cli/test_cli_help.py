"""`wakeful --help` lists every command without importing any of them (it took 4 s when
every sub-command's LangGraph/server imports ran first), and its one-line summaries are
the commands' own."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from server.cli.main import COMMANDS, HIDDEN_ALIASES, app, load_command

HEAVY = ("langgraph", "server.services", "graphs.engine", "torch", "qdrant_client", "uvicorn")


_LOADED = """
import sys
from server.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("--- modules ---")
print("\\n".join(sys.modules))
"""


def _imported(*args: str) -> set[str]:
    """The modules loaded by `wakeful ARGS` (run in a fresh interpreter)."""
    result = subprocess.run(
        [sys.executable, "-c", _LOADED, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stdout.split("--- modules ---", 1)[1].split())


def test_help_imports_no_sub_command() -> None:
    modules = _imported("--help")
    assert "typer" in modules  # the measurement works
    heavy = sorted(m for m in modules if m.startswith(HEAVY))
    assert heavy == []
    assert not any(m.startswith("server.cli.") and m != "server.cli.main" for m in modules)


def test_a_group_help_imports_only_its_own_module() -> None:
    modules = _imported("tool", "--help")
    assert "server.cli.tool" in modules
    assert "server.cli.run" not in modules and "server.cli.serve" not in modules


@pytest.mark.parametrize("name", list(COMMANDS))
def test_summaries_are_the_commands_own(name: str) -> None:
    command = load_command(name)
    assert command is not None
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own == COMMANDS[name].summary


def test_help_lists_commands_and_hides_the_old_tasks_group() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    listed = {line.strip("│ ").split(" ", 1)[0] for line in shown.output.splitlines()}
    assert set(COMMANDS) <= listed
    assert not set(HIDDEN_ALIASES) & listed
    old = runner.invoke(app, ["tasks", "--help"], env={"COLUMNS": "200"})
    assert old.exit_code == 0 and "list" in old.output and "send" in old.output
    unknown = runner.invoke(app, ["nope"])
    assert unknown.exit_code == 2 and "No such command 'nope'" in unknown.output
