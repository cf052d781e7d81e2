"""How a run reports what it does and learns that it must stop.

A `TaskChannel` appends events to the task's activity log and answers "was I cancelled?".
The Postgres implementation lives in stack/task_records.py; Studio uses `LogChannel`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# Event types (the events table's `type` column).
NODE = "node"
MODEL_CALL = "model_call"
MODEL_ESCALATED = "model_escalated"  # a cascade moved a call to its next model
TOOL_CALL = "tool_call"
PLAN = "plan"
VERDICT = "verdict"
STEP_COMPLETED = "step_completed"
APPROVAL_REQUESTED = "approval_requested"
APPROVAL_DECIDED = "approval_decided"
BUDGET_EXHAUSTED = "budget_exhausted"
STUCK_DETECTED = "stuck_detected"
COMPACTION = "compaction"
STATE_CHANGE = "state_change"  # written by the lifecycle (stack/lifecycle.sql), never a node
RUN_STARTED = "run_started"  # a run claimed the task (owner, lease epoch, why)
FINISHED = "finished"

Listener = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class TaskChannel(Protocol):
    task_id: str

    async def emit(self, type: str, data: dict[str, Any], *, key: str | None = None) -> None:
        """Append an event; an event with a `key` already recorded for the task is dropped."""

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        """Record entering `node`; returns True when the task must stop (cancel / kill switch).

        `announce` asks for the entry to be visible while the node runs (a long node).
        `scope` names this run of the node, the same when it runs again after a crash: the
        node's events are keyed under it, so a re-run records nothing twice."""

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        """Write any buffered events (and the run's `usage` so far) now; returns True when
        the task must stop."""

    async def park(self, task: str | None, *, usage: dict[str, Any] | None = None) -> bool:
        """Leave the node run's buffered events (and `usage`) to be written with the node's
        writes and checkpoint (LangGraph task `task`; graphs/checkpoint_events.py); False
        when this channel cannot, and the caller flushes."""


class LogChannel:
    """A channel with no database: events go to the log, nothing is ever cancelled."""

    def __init__(self, task_id: str = "studio") -> None:
        self.task_id = task_id
        self._log = logging.getLogger("wakeful.events")

    async def emit(self, type: str, data: dict[str, Any], *, key: str | None = None) -> None:
        self._log.info("%s %s %s", self.task_id, type, data)

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        await self.emit(NODE, {"node": node})
        return False

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        return False

    async def park(self, task: str | None, *, usage: dict[str, Any] | None = None) -> bool:
        return False


class ListeningChannel:
    """Wraps a channel and also hands every event to local listeners (the CLI's live view)."""

    def __init__(self, inner: TaskChannel, *listeners: Listener) -> None:
        self._inner = inner
        self._listeners = list(listeners)
        self.task_id = inner.task_id

    async def _notify(self, type: str, data: dict[str, Any]) -> None:
        for listener in self._listeners:
            result = listener(type, data)
            if result is not None:
                await result

    async def emit(self, type: str, data: dict[str, Any], *, key: str | None = None) -> None:
        await self._inner.emit(type, data, key=key)
        await self._notify(type, data)

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        stop = await self._inner.boundary(node, announce=announce, scope=scope)
        await self._notify(NODE, {"node": node})
        return stop

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        return await self._inner.flush(usage=usage)

    async def park(self, task: str | None, *, usage: dict[str, Any] | None = None) -> bool:
        return await self._inner.park(task, usage=usage)
