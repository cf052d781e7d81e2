"""`wakeful task approve` answers both kinds of request; two answers at once is bad input
naming both flags (checked before anything is opened)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def wakeful(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_two_answers_at_once_are_refused_naming_both_flags() -> None:
    result = wakeful("task", "approve", "abc123", "--done", "--retry")
    assert result.returncode == 2, result.stderr
    assert "--done and --retry exclude each other" in result.stderr


def test_the_help_offers_the_did_this_happen_answers() -> None:
    result = wakeful("task", "approve", "--help")
    assert result.returncode == 0
    for flag in ("--done", "--retry", "--skip", "--reject", "--edit"):
        assert flag in result.stdout
