"""Unknown outcomes at the execution layer and in the ledger (real Postgres): a cancel or a
timeout mid-call of a side-effecting tool is recorded unknown, never failed; a person's
answers are applied once each, in order; answers that do not fit the question are refused
by `check_decision_fits`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from graphs.approval import ApprovalDecision, check_decision_fits, parse_decision
from tools.arguments import args_hash
from tools.execution import execute_tool_call
from tools.faults import no_crash_hook
from tools.ledger import ToolLedger
from tools.outcome import ToolOutcome
from tools.registry import Toolset

UNKNOWN_REQUEST = {"kind": "unknown_outcome", "tool": "t.send"}
APPROVAL_REQUEST = {"kind": "approval", "tool": "t.send"}


@pytest.fixture
def started() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
def runs() -> list[str]:
    return []


@pytest.fixture
def toolset(
    make_tool: Callable, toolset_of: Callable, started: asyncio.Event, runs: list[str]
) -> Toolset:
    async def hang(value: str) -> str:
        runs.append(value)
        started.set()
        await asyncio.Event().wait()  # never answers
        return "unreachable"

    async def lookup(value: str) -> str:
        started.set()
        await asyncio.Event().wait()
        return "unreachable"

    return toolset_of(
        make_tool("send", coroutine=hang, scope="external", timeout_s=0.5, max_retries=3),
        make_tool("lookup", coroutine=lookup, scope="read", timeout_s=0.5, max_retries=0),
    )


async def run(
    toolset: Toolset, ledger: ToolLedger, task: str, call_id: str, name: str = "send", **kw: Any
) -> ToolOutcome:
    return await execute_tool_call(
        {"name": name, "args": {"value": "a"}, "id": call_id},
        toolset,
        task_id=task,
        ledger=ledger,
        crash_hook=no_crash_hook,
        **kw,
    )


async def test_a_cancel_mid_call_is_recorded_unknown_and_not_repeated(
    toolset, ledger, started, runs
) -> None:
    task = f"t-{uuid.uuid4()}"
    call = asyncio.create_task(run(toolset, ledger, task, "c1"))
    await asyncio.wait_for(started.wait(), 30)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    entry = await ledger.get(task, "c1")
    assert entry is not None and (entry.status, entry.unknown_reason) == ("unknown", "canceled")
    again = await run(toolset, ledger, task, "c1")
    assert (again.status, again.unknown_reason, again.attempts) == (
        "unknown_outcome",
        "canceled",
        0,
    )
    assert runs == ["a"]


async def test_a_timeout_of_a_side_effect_is_unknown_and_not_retried(toolset, ledger, runs) -> None:
    task = f"t-{uuid.uuid4()}"

    outcome = await run(toolset, ledger, task, "c1")

    assert (outcome.status, outcome.unknown_reason) == ("unknown_outcome", "timeout")
    assert outcome.attempts == 1 and runs == ["a"]  # max_retries=3, yet not retried
    entry = await ledger.get(task, "c1")
    assert entry is not None and entry.status == "unknown" and "timed out" in (entry.result or "")
    assert await ledger.has_unknown_outcome(task, "send", outcome.args_hash)


async def test_a_read_tool_timeout_stays_an_error(toolset, ledger) -> None:
    outcome = await run(toolset, ledger, f"t-{uuid.uuid4()}", "c1", name="lookup")

    assert (outcome.status, outcome.unknown_reason) == ("error", None)
    assert "timed out" in outcome.content


async def test_answers_apply_once_each_in_order(ledger: ToolLedger) -> None:
    task, digest = f"t-{uuid.uuid4()}", args_hash({"value": "a"})
    await ledger.begin(task, "c1", tool="send", args_hash=digest)
    await ledger.mark_unknown(task, "c1", reason="timeout", detail="timed out")

    unfit = await ledger.decide(task, "c1", index=0, action="unfit", decided_by="bob")
    retry = await ledger.decide(task, "c1", index=1, action="retry", decided_by="bob")
    replayed = await ledger.decide(task, "c1", index=1, action="skip", decided_by="eve")

    assert unfit.status == "unknown"  # recorded only: the question is asked again
    assert retry.status == "started" and retry.completed_at is None
    assert replayed == retry  # the same answer number again changes nothing
    await ledger.complete(task, "c1", "sent")
    final = await ledger.get(task, "c1")
    assert final is not None and final.status == "completed"
    assert [(d.action, d.decided_by) for d in final.decisions] == [
        ("unfit", "bob"),
        ("retry", "bob"),
    ]


async def test_done_on_a_held_repeat_settles_the_call_it_repeats(ledger: ToolLedger) -> None:
    task, digest = f"t-{uuid.uuid4()}", args_hash({"value": "a"})
    await ledger.begin(task, "c1", tool="send", args_hash=digest)
    held = await ledger.hold(task, "c2", tool="send", args_hash=digest, repeat_of="c1")
    assert (held.status, held.repeat_of) == ("held", "c1")
    assert await ledger.find_unknown(task, "send", digest, excluding="c3") is not None

    await ledger.decide(task, "c2", index=0, action="done", decided_by="bob", comment="sent")

    earlier, repeat = await ledger.get(task, "c1"), await ledger.get(task, "c2")
    assert earlier is not None and repeat is not None
    assert (earlier.status, earlier.result, earlier.decisions[0].via) == ("completed", "sent", "c2")
    assert repeat.status == "completed"
    assert not await ledger.has_unknown_outcome(task, "send", digest)


async def test_a_settled_call_is_answered_from_its_decision(toolset, ledger, runs) -> None:
    task = f"t-{uuid.uuid4()}"
    await run(toolset, ledger, task, "c1")
    await ledger.decide(task, "c1", index=0, action="done", decided_by="bob", comment="ok #7")
    await run(toolset, ledger, task, "c2")
    await ledger.decide(task, "c2", index=0, action="skip", decided_by="bob")

    confirmed = await run(toolset, ledger, task, "c1")
    skipped = await run(toolset, ledger, task, "c2")

    assert confirmed.status == "confirmed" and "ok #7" in confirmed.content
    assert confirmed.to_message().status == "success"
    assert skipped.status == "skipped" and "NOT performed" in skipped.content
    assert skipped.to_message().status == "error"
    assert runs == ["a", "a"]  # neither ran again


@pytest.mark.parametrize(
    ("request_", "action", "fits"),
    [
        (UNKNOWN_REQUEST, "done", True),
        (UNKNOWN_REQUEST, "retry", True),
        (UNKNOWN_REQUEST, "skip", True),
        (UNKNOWN_REQUEST, "approve", False),
        (UNKNOWN_REQUEST, "reject", False),
        (APPROVAL_REQUEST, "approve", True),
        (APPROVAL_REQUEST, "reject", True),
        (APPROVAL_REQUEST, "done", False),
        (APPROVAL_REQUEST, "skip", False),
        ({"tool": "t.send"}, "approve", True),  # a payload from before kinds: an approval
    ],
)
def test_check_decision_fits(request_: dict[str, Any], action: str, fits: bool) -> None:
    decision = ApprovalDecision(action=action)  # type: ignore[arg-type]
    if fits:
        check_decision_fits(request_, decision)
        return
    with pytest.raises(ValueError) as error:
        check_decision_fits(request_, decision)
    wanted = "done, retry or skip" if request_["kind"] == "unknown_outcome" else "approve"
    assert wanted in str(error.value) and repr(action) in str(error.value)


def test_args_go_only_with_edit() -> None:
    with pytest.raises(ValueError, match="only with edit"):
        check_decision_fits(UNKNOWN_REQUEST, ApprovalDecision(action="done", args={"x": 1}))


def test_an_unreadable_answer_runs_nothing_and_settles_nothing() -> None:
    decision = parse_decision({"action": "sure, go ahead"})

    assert decision.action == "reject"  # never runs an approval's call...
    with pytest.raises(ValueError):  # ...and fits no unknown outcome, so it is asked again
        check_decision_fits(UNKNOWN_REQUEST, decision)
