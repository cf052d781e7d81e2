"""A call whose outcome is unknown is not repeated, under its own id or under a new one,
unless a person approves the repeat."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tools.execution import execute_tool_call
from tools.faults import no_crash_hook
from tools.ledger import ToolLedger
from tools.outcome import ToolOutcome
from tools.registry import Toolset


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def send_toolset(make_tool: Callable, toolset_of: Callable, sent: list[str]) -> Toolset:
    return toolset_of(
        make_tool("send", func=lambda value: sent.append(value) or "sent", scope="external")
    )


async def send(
    toolset: Toolset, ledger: ToolLedger, task_id: str, call_id: str, value: str, **kw: Any
) -> ToolOutcome:
    return await execute_tool_call(
        {"name": "send", "args": {"value": value}, "id": call_id},
        toolset,
        task_id=task_id,
        ledger=ledger,
        crash_hook=no_crash_hook,
        **kw,
    )


async def died_mid_call(ledger: ToolLedger, task_id: str, call_id: str, value: str) -> None:
    """What a process SIGKILLed mid-call leaves behind: a "started" record only."""
    from tools.arguments import args_hash

    await ledger.begin(task_id, call_id, tool="send", args_hash=args_hash({"value": value}))


async def test_has_unknown_outcome(ledger: ToolLedger) -> None:
    from tools.arguments import args_hash

    task = f"t-{uuid.uuid4()}"
    digest = args_hash({"value": "a"})
    assert not await ledger.has_unknown_outcome(task, "send", digest)

    await died_mid_call(ledger, task, "c1", "a")

    assert await ledger.has_unknown_outcome(task, "send", digest)
    assert await ledger.has_unknown_outcome(task, "send", digest, excluding="c2")
    assert not await ledger.has_unknown_outcome(task, "send", digest, excluding="c1")
    assert not await ledger.has_unknown_outcome(task, "other", digest)
    assert not await ledger.has_unknown_outcome(task, "send", args_hash({"value": "b"}))
    assert not await ledger.has_unknown_outcome(f"t-{uuid.uuid4()}", "send", digest)
    await ledger.complete(task, "c1", "sent")
    assert not await ledger.has_unknown_outcome(task, "send", digest)


async def test_the_same_call_is_reported_unknown_and_not_run(send_toolset, ledger, sent) -> None:
    task = f"t-{uuid.uuid4()}"
    await died_mid_call(ledger, task, "c1", "a")

    outcome = await send(send_toolset, ledger, task, "c1", "a")

    assert outcome.status == "unknown_outcome" and outcome.attempts == 0
    assert "outcome is unknown" in outcome.content and "NOT repeated" in outcome.content
    assert sent == []


async def test_a_repeat_under_a_new_id_needs_approval(send_toolset, ledger, sent) -> None:
    task = f"t-{uuid.uuid4()}"
    await died_mid_call(ledger, task, "c1", "a")

    held = await send(send_toolset, ledger, task, "c2", "a")
    other_args = await send(send_toolset, ledger, task, "c3", "b")
    approved = await send(send_toolset, ledger, task, "c4", "a", approved=True)

    assert held.status == "needs_approval" and held.attempts == 0
    assert "needs a person's approval" in held.content
    assert await ledger.get(task, "c2") is None  # held calls leave no record
    assert other_args.status == "ok"
    assert approved.status == "ok" and approved.attempts == 1
    assert sent == ["b", "a"]


async def test_a_held_call_already_recorded_is_answered_from_its_record(
    send_toolset, ledger, sent
) -> None:
    task = f"t-{uuid.uuid4()}"
    await died_mid_call(ledger, task, "c1", "a")
    first = await send(send_toolset, ledger, task, "c2", "a", approved=True)

    # A resumed run replays c2 (approved before the crash) even though c1 is still unknown.
    replay = await send(send_toolset, ledger, task, "c2", "a")

    assert first.status == "ok" and replay.status == "replayed"
    assert sent == ["a"]
