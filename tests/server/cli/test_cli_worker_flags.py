"""A heartbeat/stalled-after pair in which a live worker would look dead is refused, naming
both flags, before anything starts (serve and worker take the same pair)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from server.cli.main import app


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0", "--stalled-after-seconds", "5"],
        ["worker", "--heartbeat-seconds", "4", "--stalled-after-seconds", "6"],
    ],
)
def test_a_stalled_after_shorter_than_two_heartbeats_is_refused(args: list[str], tmp_path) -> None:
    result = CliRunner().invoke(app, args, env={"WAKEFUL_DATA_DIR": str(tmp_path)})

    assert result.exit_code == 2, result.output
    assert "--stalled-after-seconds" in result.output and "--heartbeat-seconds" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "pg").exists()  # refused before the embedded stack started
