from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tools.execution import execute_tool_call
from tools.faults import no_crash_hook
from tools.ledger import LedgerError, ToolLedger
from tools.outcome import ToolOutcome
from tools.registry import Toolset


def new_task() -> str:
    return f"test-{uuid.uuid4()}"


async def run(
    toolset: Toolset, ledger: ToolLedger, task_id: str, call_id: str, args: dict[str, Any]
) -> ToolOutcome:
    return await execute_tool_call(
        {"name": "send", "args": args, "id": call_id},
        toolset,
        task_id=task_id,
        ledger=ledger,
        crash_hook=no_crash_hook,
    )


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def send_toolset(make_tool: Callable, toolset_of: Callable, sent: list[str]) -> Toolset:
    def send(value: str) -> dict[str, Any]:
        sent.append(value)
        if value == "fail":
            raise ValueError("mail server said no")
        return {"sent": value, "n": len(sent)}

    return toolset_of(make_tool("send", func=send, scope="external"))


async def test_begin_is_new_once_then_returns_the_record(ledger: ToolLedger) -> None:
    task = new_task()

    first = await ledger.begin(task, "c1", tool="send", args_hash="h")
    second = await ledger.begin(task, "c1", tool="send", args_hash="h")

    assert first is None
    assert second is not None and (second.status, second.tool, second.result) == (
        "started",
        "send",
        None,
    )


async def test_complete_records_the_result(ledger: ToolLedger) -> None:
    task = new_task()
    await ledger.begin(task, "c1", tool="send", args_hash="h")

    await ledger.complete(task, "c1", "it worked")

    entry = await ledger.get(task, "c1")
    assert entry is not None and (entry.status, entry.result) == ("completed", "it worked")
    assert entry.completed_at is not None and entry.completed_at >= entry.started_at


async def test_finishing_a_call_that_never_began_is_an_error(ledger: ToolLedger) -> None:
    task = new_task()
    with pytest.raises(LedgerError):
        await ledger.complete(task, "never", "result")
    await ledger.begin(task, "c1", tool="send", args_hash="h")
    await ledger.fail(task, "c1", "boom")
    with pytest.raises(LedgerError):
        await ledger.complete(task, "c1", "late result")


async def test_second_execution_replays_the_recorded_result_without_running(
    send_toolset: Toolset, ledger: ToolLedger, sent: list[str]
) -> None:
    task = new_task()

    first = await run(send_toolset, ledger, task, "call-1", {"value": "hello"})
    again = await run(send_toolset, ledger, task, "call-1", {"value": "hello"})

    assert sent == ["hello"]
    assert (first.status, again.status) == ("ok", "replayed")
    assert again.content == first.content == '{"sent": "hello", "n": 1}'
    assert again.attempts == 0
    entry = await ledger.get(task, "call-1")
    assert entry is not None and entry.status == "completed" and entry.result == first.content


async def test_started_but_unfinished_call_is_not_repeated(
    send_toolset: Toolset, ledger: ToolLedger, sent: list[str]
) -> None:
    task = new_task()
    probe = await run(send_toolset, ledger, new_task(), "probe", {"value": "probe"})
    await ledger.begin(task, "call-1", tool="send", args_hash=probe.args_hash)
    sent.clear()

    outcome = await run(send_toolset, ledger, task, "call-1", {"value": "probe"})

    assert sent == []
    assert outcome.status == "unknown_outcome" and outcome.attempts == 0
    assert "outcome is unknown" in outcome.content and "NOT repeated" in outcome.content
    entry = await ledger.get(task, "call-1")
    assert entry is not None and entry.status == "started"


async def test_failed_call_is_recorded_and_not_run_again(
    send_toolset: Toolset, ledger: ToolLedger, sent: list[str]
) -> None:
    task = new_task()

    first = await run(send_toolset, ledger, task, "call-1", {"value": "fail"})
    again = await run(send_toolset, ledger, task, "call-1", {"value": "fail"})

    assert sent == ["fail"]
    assert first.status == again.status == "error"
    assert again.content == first.content and "mail server said no" in first.content
    entry = await ledger.get(task, "call-1")
    assert entry is not None and entry.status == "failed"


async def test_same_call_id_in_another_task_runs_again(
    send_toolset: Toolset, ledger: ToolLedger, sent: list[str]
) -> None:
    await run(send_toolset, ledger, new_task(), "call-1", {"value": "a"})
    outcome = await run(send_toolset, ledger, new_task(), "call-1", {"value": "a"})

    assert outcome.status == "ok" and sent == ["a", "a"]


async def test_reused_call_id_with_other_args_is_refused(
    send_toolset: Toolset, ledger: ToolLedger, sent: list[str]
) -> None:
    task = new_task()
    await run(send_toolset, ledger, task, "call-1", {"value": "a"})

    outcome = await run(send_toolset, ledger, task, "call-1", {"value": "b"})

    assert sent == ["a"]
    assert outcome.status == "error" and "already used" in outcome.content


async def test_read_tools_bypass_the_ledger(
    make_tool: Callable, toolset_of: Callable, ledger: ToolLedger
) -> None:
    ran: list[str] = []
    toolset = toolset_of(make_tool("send", func=lambda value: ran.append(value), scope="read"))
    task = new_task()

    first = await run(toolset, ledger, task, "call-1", {"value": "a"})
    again = await run(toolset, ledger, task, "call-1", {"value": "a"})

    assert first.status == again.status == "ok" and ran == ["a", "a"]
    assert await ledger.get(task, "call-1") is None
