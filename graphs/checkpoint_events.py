"""A node's events ride with its checkpoint: one commit per node boundary, not two.

With durability "sync", LangGraph saves a node's writes and then the step's checkpoint
before the next node starts. A node used to write its events (and the run's usage) itself
first, in a transaction of its own: two commits in a row per node, each a WAL flush.

Here the node leaves its events *parked* (`CheckpointedChannel.park`) and the checkpointer
(graphs/lean_saver.py) writes them with the node's writes and the step's checkpoint in
one transaction: the node's events are recorded exactly when its result is, so a crash
either keeps both (the resumed run goes on after the node) or neither (the node runs again
and records its events once: they are keyed by its run scope). A run that lost its lease
writes neither; the cancel flag comes back from the same statement.

Parking is for the task's own graph only: the nodes of a parallel branch, a node that
raises or is interrupted, and durabilities other than "sync" write their events at once.

Long nodes (model or tool calls) announce their entry while they run; a node still
running after `ANNOUNCE_AFTER` seconds has it written then, a quicker one with its events.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from stack import task_records
from stack.sql import load_queries
from stack.task_records import PostgresTaskChannel, TaskRecords

APPEND_EVENTS = load_queries(Path(task_records.__file__).with_suffix(".sql"))["append_events"]
ANNOUNCE_AFTER = 0.2  # seconds a long node runs before its entry is written on its own


@dataclass
class Parked:
    """One node run's events and usage, waiting for the node's writes and checkpoint."""

    channel: CheckpointedChannel
    task: str  # the LangGraph task id of the node run (its writes carry it)
    events: list[tuple[str, dict[str, Any], str | None]]
    usage: dict[str, Any] | None
    writes: list[tuple[str, list[Any]]] = field(default_factory=list)  # (query, params)

    def params(self) -> dict[str, Any]:
        """The append_events statement's parameters (as TaskRecords.append_events sends)."""
        return {
            "task_id": self.channel.task_id,
            "types": [e[0] for e in self.events],
            "datas": [Jsonb(e[1]) for e in self.events],
            "keys": [e[2] for e in self.events],
            "epoch": self.channel.epoch,
            "usage": Jsonb(self.usage) if self.usage is not None else None,
        }


class EventOutbox:
    """Parked node runs by thread (task) id; the checkpointer takes them."""

    def __init__(self) -> None:
        self._parked: dict[str, Parked] = {}

    def holds(self, thread: str) -> bool:
        return thread in self._parked

    def park(self, parked: Parked) -> None:
        assert not self.holds(parked.channel.task_id), "one parked node run per thread"
        self._parked[parked.channel.task_id] = parked

    def defer_writes(self, thread: str, task: str, query: str, params: list[Any]) -> bool:
        """Keep the writes of a parked node run for its checkpoint; False when the writes
        are not of a parked run (they are then written at once, as usual)."""
        parked = self._parked.get(thread)
        if parked is None or parked.task != task:
            return False
        parked.writes.append((query, params))
        return True

    def take(self, thread: str, channel: CheckpointedChannel | None = None) -> Parked | None:
        """The thread's parked node run (only if `channel`'s own, when given)."""
        parked = self._parked.get(thread)
        if parked is None or (channel is not None and parked.channel is not channel):
            return None
        return self._parked.pop(thread)

    def discard(self, thread: str, channel: CheckpointedChannel) -> None:
        """`channel`'s run is over: a node run whose step was never checkpointed (the run
        was cut short in between) runs again on resume, and records its events then. Only
        the run's own: another run of the task in this process may have parked since."""
        self.take(thread, channel)


class CheckpointedChannel(PostgresTaskChannel):
    """The Postgres task channel, whose node boundaries go out with the checkpoint (with
    an `outbox`; without one, each node writes its own, as PostgresTaskChannel does)."""

    def __init__(
        self,
        records: TaskRecords,
        task_id: str,
        outbox: EventOutbox | None,
        *,
        epoch: int | None,
        stop: bool | None = None,
    ) -> None:
        """`stop`: the task's cancel flag as just read (by the run's claim), if known; else
        the first node boundary reads it."""
        super().__init__(records, task_id, epoch=epoch)
        self.outbox = outbox
        self._stop = stop
        self._announcement: asyncio.TimerHandle | None = None
        self._usage: dict[str, Any] | None = None  # taken back from a parked node run

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        stop = await super().boundary(node, scope=scope)
        if announce and self._entry_write is None:
            loop = asyncio.get_running_loop()
            self._announcement = loop.call_later(ANNOUNCE_AFTER, self._announce)
        return stop

    def _announce(self) -> None:
        """The node is still running: write what it recorded so far (its entry first)."""
        self._announcement = None
        batch, self._pending = self._pending, []
        if batch:
            self._entry_write = asyncio.ensure_future(
                self.records.append_events(self.task_id, batch, epoch=self.epoch)
            )

    async def _settle_announcement(self) -> None:
        if self._announcement is not None:
            self._announcement.cancel()
            self._announcement = None
        if self._entry_write is not None:
            entry, self._entry_write = self._entry_write, None
            self._stop, _ = await entry

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        await self._settle_announcement()
        usage, self._usage = (usage if usage is not None else self._usage), None
        return await super().flush(usage=usage)

    def discard_parked(self) -> None:
        """The run was cut short (lease lost, database away, cancelled): what this run
        parked is dropped; the node runs again on resume and records it then."""
        if self.outbox is not None:
            self.outbox.discard(self.task_id, self)

    def take_back_parked(self) -> None:
        """The run ends with an error after a node parked (its step failed after the node,
        so no checkpoint will take the batch): the node's events and usage go out with the
        run's last write instead of being lost."""
        parked = self.outbox.take(self.task_id, self) if self.outbox is not None else None
        if parked is not None:
            self._pending = parked.events + self._pending
            self._usage = parked.usage if parked.usage is not None else self._usage

    async def park(self, task: str | None, *, usage: dict[str, Any] | None = None) -> bool:
        """Leave this node run's events (and `usage`) for the checkpointer, which writes
        them with the run's writes (LangGraph task `task`) and the step's checkpoint."""
        if task is None or self.outbox is None or self.outbox.holds(self.task_id):
            return False  # (a second node of one step, were there one, writes its own)
        await self._settle_announcement()
        batch, self._pending = self._pending, []
        self.outbox.park(Parked(channel=self, task=task, events=batch, usage=usage))
        return True

    def written(self, row: dict[str, Any]) -> None:
        """The checkpointer wrote a parked batch: the stop flag as of then."""
        self._stop = bool(row["cancel_requested"])
