"""Fault injection for crash tests (test hooks; leave the variables unset in production).

- `WAKEFUL_CRASH_DURING_TOOL=<tool name>`: the process SIGKILLs itself after the ledger has
  recorded "started" for a call of that tool and before the tool runs.
- `WAKEFUL_CRASH_AFTER_TOOL=<tool name>`: the process SIGKILLs itself right after the ledger
  has recorded the call's result (completed or failed), before anything else sees it.

Tools without a ledger entry (read tools, or no ledger) crash at the same two points.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Literal

CrashPoint = Literal["during", "after"]
CrashHook = Callable[[CrashPoint, str], None]

CRASH_DURING_ENV = "WAKEFUL_CRASH_DURING_TOOL"
CRASH_AFTER_ENV = "WAKEFUL_CRASH_AFTER_TOOL"
_ENV_BY_POINT: dict[CrashPoint, str] = {"during": CRASH_DURING_ENV, "after": CRASH_AFTER_ENV}


def env_crash_hook(point: CrashPoint, tool_name: str) -> None:
    """SIGKILL this process if the variable for `point` names `tool_name`."""
    if os.environ.get(_ENV_BY_POINT[point]) == tool_name:
        os.kill(os.getpid(), signal.SIGKILL)


def no_crash_hook(point: CrashPoint, tool_name: str) -> None:
    """A hook that never crashes."""
