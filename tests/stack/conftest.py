"""Helpers for the stack tests, as a fixture (test modules cannot import siblings under
--import-mode=importlib): run stack_child.py as another OS process and read its report."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stack.settings import Settings

CHILD = Path(__file__).with_name("stack_child.py")
REPO = Path(__file__).resolve().parents[2]


class StackHelpers:
    """Other processes on the same data dir, and polling with a deadline instead of sleeps."""

    @staticmethod
    def embedded(data_dir: Path) -> Settings:
        """Embedded services only, whatever the environment says."""
        return Settings(data_dir=data_dir, database_url=None, qdrant_url=None, neo4j_uri=None)

    @staticmethod
    def postmaster_pid(url: str) -> int:
        """The postmaster's pid as the server itself reports it."""
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1)")
            return int(row.fetchone()[0])  # type: ignore[index]

    @staticmethod
    def spawn(service: str, data_dir: Path, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(CHILD), service, str(data_dir), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO,
        )  # fmt: skip

    @staticmethod
    def report(proc: subprocess.Popen[str], timeout_s: float = 60.0) -> dict[str, Any]:
        """The child's JSON line; fails with its stderr if it dies or stays silent."""
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout_s):
                StackHelpers.kill(proc)
                raise AssertionError(f"child said nothing in {timeout_s}s")
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            raise AssertionError(f"child exited with {code}: {_stderr(proc)}")
        return json.loads(line)

    def run(self, service: str, data_dir: Path) -> dict[str, Any]:
        """Run a child that reports and exits normally; wait for that exit."""
        proc = self.spawn(service, data_dir, "exit")
        try:
            said = self.report(proc)
            assert proc.wait(timeout=60) == 0, _stderr(proc)
            return said
        finally:
            self.kill(proc)

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> None:
        """SIGKILL (no atexit hook, no cleanup) if still running, and reap it."""
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
        """Poll `condition` until it holds or the deadline passes; its last answer."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return condition()
            time.sleep(0.05)
        return True


def _stderr(proc: subprocess.Popen[str]) -> str:
    return proc.stderr.read()[-2000:] if proc.stderr is not None else ""


@pytest.fixture
def stack_helpers() -> StackHelpers:
    return StackHelpers()
