"""No embedded server outlives every process that used it, even when they are SIGKILLed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stack import process_share
from stack.process_share import pid_alive

if TYPE_CHECKING:
    from conftest import StackHelpers  # tests/stack/conftest.py

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("service", "server_pid_key"), [("pg", "postmaster_pid"),
                                                         ("graph", "server_pid")])
def test_a_server_whose_only_user_is_killed_is_stopped(
    embedded_data_dir: Path, stack_helpers: StackHelpers, service: str, server_pid_key: str
) -> None:
    h = stack_helpers
    root = embedded_data_dir
    user = h.spawn(service, root, "hold")
    try:
        server_pid = h.report(user)[server_pid_key]
        assert pid_alive(server_pid)
    finally:
        h.kill(user)  # SIGKILL: no atexit hook lets go of the server
    assert h.wait_until(lambda: server_gone(service, root, server_pid))


def server_gone(service: str, root: Path, server_pid: int) -> bool:
    """Stopped, and its record removed (the watchdog removes it just after the stop)."""
    if service == "graph":
        recorded = process_share.read_state(root / "graph") is not None
    else:
        recorded = (root / "pg" / "postmaster.pid").exists()
    return not pid_alive(server_pid) and not recorded
