"""Which task a sandboxed tool call belongs to, so each task gets its own scratch directory.

The tools node sets it around the calls it runs (`task_scope`); a call outside any task
(a direct test call, the CLI) works in the scratch directory named by `NO_TASK`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

NO_TASK = "no-task"
_current: ContextVar[str] = ContextVar("wakeful_sandbox_task", default=NO_TASK)


def current_task_id() -> str:
    return _current.get()


@contextmanager
def task_scope(task_id: str) -> Iterator[None]:
    """Tool calls made inside the block belong to `task_id`."""
    token = _current.set(task_id)
    try:
        yield
    finally:
        _current.reset(token)
