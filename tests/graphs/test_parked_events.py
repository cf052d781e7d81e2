"""Events a node parked for its checkpoint (graphs/checkpoint_events.py): taken back when
the run ends with an error before that checkpoint, dropped when the run is cut short, and
never another run's."""

from __future__ import annotations

import uuid
from typing import Any

from graphs.checkpoint_events import CheckpointedChannel
from graphs.engine import Engine

USAGE = {"iterations": 1, "tool_calls": 0, "tokens": 321, "active_seconds": 0.5,
         "started_at": 0.0, "model_calls": {"worker": 1}}


async def parked_run(engine: Engine) -> tuple[CheckpointedChannel, str]:
    task, _ = await engine.lifecycle.create(
        goal="Park some events.", agent=f"parked-{uuid.uuid4().hex[:6]}", budgets={},
        agent_spec={},
    )
    channel = CheckpointedChannel(engine.records, task.id, engine.checkpointer.outbox, epoch=None)
    await channel.boundary("worker", scope="step-1")  # the first boundary writes at once
    await channel.emit("model_call", {"role": "worker", "tokens": 321})
    assert await channel.park("langgraph-task-1", usage=USAGE)
    return channel, task.id


async def event_types(engine: Engine, task_id: str) -> list[str]:
    return [e.type for e in await engine.records.list_events(task_id, limit=100)]


async def test_a_run_ending_in_error_writes_what_its_node_parked(engine: Engine) -> None:
    channel, task_id = await parked_run(engine)
    assert await event_types(engine, task_id) == ["node"]

    channel.take_back_parked()
    channel.discard_parked()  # the run's exit: nothing of its own is parked any more
    await channel.flush()

    assert await event_types(engine, task_id) == ["node", "model_call"]
    task: Any = await engine.records.get_task(task_id)
    assert task.usage["tokens"] == 321


async def test_a_run_cut_short_drops_its_parked_events_but_not_another_runs(
    engine: Engine,
) -> None:
    first, task_id = await parked_run(engine)
    outbox = engine.checkpointer.outbox
    first.discard_parked()
    assert not outbox.holds(task_id)
    await first.flush()
    assert await event_types(engine, task_id) == ["node"]  # the node runs again on resume

    second = CheckpointedChannel(engine.records, task_id, outbox, epoch=None)
    await second.boundary("worker", scope="step-1b")
    assert await second.park("langgraph-task-2", usage=None)
    first.discard_parked()  # the earlier run's exit comes late
    assert outbox.holds(task_id)
    second.discard_parked()
    assert not outbox.holds(task_id)
