"""A write-scoped MCP call that times out, run for real through the graph (TaskRunner, real
Postgres, a real stdio MCP server that hangs): the task waits `input-required` with a
question of kind unknown_outcome, and each answer (done, retry, skip) does what it says,
counted by the server's own counter file. A repeat of an unresolved call under a new call
id needs the same decision, and a crash during a retry asks again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage

from graphs.approval import ApprovalDecision
from graphs.runner import RunResult, TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec
from tools.arguments import args_hash
from tools.faults import CRASH_DURING_ENV

pytestmark = pytest.mark.slow
STALL_SERVER = Path(__file__).with_name("mcp_servers") / "stall_server.py"
PLAN = {"structured": {"steps": [{"id": "send", "description": "Send the message"}]}}
SEND = {"text": "Sending.", "tool_calls": [{"name": "s__stall", "args": {"tag": "x"}}]}
TIMEOUT_S = 3.0  # the subject here; long enough for an answer that does come back


def stall_agent(stdio_server: Callable[..., Any], *, stalls: int = 1) -> AgentSpec:
    server = stdio_server(
        name="s",
        args=[str(STALL_SERVER)],
        env={"MCP_TEST_STALLS": str(stalls)},
        scopes={"stall": "write"},
        timeout_s=TIMEOUT_S,
    )
    return parse_agent_spec(
        {
            "name": f"stall-{uuid.uuid4().hex[:6]}",
            "model": {
                "provider": "scripted",
                "script": {"planner": [PLAN], "worker": [SEND, "Handled the message."]},
            },
            "mcp_servers": [server.model_dump(mode="json")],
            "tools": {"allow": ["s.stall"]},
            "entropy": {"semantic": False},
        }
    )


def answer(action: str, comment: str | None = None) -> ApprovalDecision:
    return ApprovalDecision(action=action, comment=comment, decided_by="test:alice")


async def start(engine: Any, spec: AgentSpec) -> RunResult:
    task = await TaskRunner(engine).submit("Send the message once.", spec)
    return await TaskRunner(engine).run(task.id)


async def resume(engine: Any, task_id: str, decision: ApprovalDecision) -> RunResult:
    return await TaskRunner(engine).run(task_id, decision=decision)


def the_question(result: RunResult) -> dict[str, Any]:
    assert result.waiting, result.task
    [question] = result.interrupts
    assert question["kind"] == "unknown_outcome"
    return question


async def the_tool_message(engine: Any, task_id: str) -> ToolMessage:
    snapshot = await engine.graph.aget_state({"configurable": {"thread_id": task_id}})
    [message] = [m for m in snapshot.values["messages"] if isinstance(m, ToolMessage)]
    return message


async def events(engine: Any, task_id: str, type: str) -> list[dict[str, Any]]:
    return [
        e.data for e in await engine.records.list_events(task_id, limit=10_000) if e.type == type
    ]


async def test_a_timed_out_write_waits_for_a_person_and_done_tells_the_model(
    mcp_engine, stdio_server, counter
) -> None:
    first = await start(mcp_engine, stall_agent(stdio_server))

    question = the_question(first)
    assert first.task.state == "input-required"
    assert (question["tool"], question["args"], question["scope"]) == (
        "s.stall",
        {"tag": "x"},
        "write",
    )
    assert question["reason"] == "timeout" and "timed out" in question["detail"]
    assert question["answers"] == ["done", "retry", "skip"] and question["started_at"]
    call_id = question["tool_call_id"]
    entry = await mcp_engine.ledger.get(first.task.id, call_id)
    assert entry is not None and (entry.status, entry.unknown_reason) == ("unknown", "timeout")
    assert await events(mcp_engine, first.task.id, "tool_call") == []  # the model waits too
    [asked] = await events(mcp_engine, first.task.id, "approval_requested")
    assert asked["kind"] == "unknown_outcome"

    done = await resume(mcp_engine, first.task.id, answer("done", "delivered as #42"))

    assert done.task.state == "completed"
    assert counter("stall-x") == 1  # ran once: the person said it happened
    message = await the_tool_message(mcp_engine, first.task.id)
    assert message.status == "success"
    assert "A person confirmed" in message.content and "delivered as #42" in message.content
    [call] = await events(mcp_engine, first.task.id, "tool_call")
    assert (call["status"], call["outcome_decisions"]) == ("confirmed", ["done"])
    entry = await mcp_engine.ledger.get(first.task.id, call_id)
    assert entry is not None and (entry.status, entry.result) == ("completed", "delivered as #42")
    assert [(d.action, d.decided_by) for d in entry.decisions] == [("done", "test:alice")]
    [decided] = await events(mcp_engine, first.task.id, "approval_decided")
    assert (decided["action"], decided["decided_by"]) == ("done", "test:alice")


async def test_retry_runs_the_call_again_once(mcp_engine, stdio_server, counter) -> None:
    first = await start(mcp_engine, stall_agent(stdio_server))
    the_question(first)

    retried = await resume(mcp_engine, first.task.id, answer("retry"))

    assert retried.task.state == "completed"
    assert counter("stall-x") == 2  # the timed-out call, and the retry
    message = await the_tool_message(mcp_engine, first.task.id)
    assert message.status == "success" and "x sent on call 2" in message.content
    [call] = await events(mcp_engine, first.task.id, "tool_call")
    assert (call["status"], call["outcome_decisions"]) == ("ok", ["retry"])


async def test_a_retry_that_times_out_again_asks_again(mcp_engine, stdio_server, counter) -> None:
    first = await start(mcp_engine, stall_agent(stdio_server, stalls=2))
    call_id = the_question(first)["tool_call_id"]

    again = await resume(mcp_engine, first.task.id, answer("retry"))

    second = the_question(again)
    assert (second["tool_call_id"], second["reason"]) == (call_id, "timeout")
    assert counter("stall-x") == 2
    third = await resume(mcp_engine, first.task.id, answer("retry"))

    assert third.task.state == "completed"
    assert counter("stall-x") == 3
    message = await the_tool_message(mcp_engine, first.task.id)
    assert "x sent on call 3" in message.content
    entry = await mcp_engine.ledger.get(first.task.id, call_id)
    assert entry is not None and [d.action for d in entry.decisions] == ["retry", "retry"]


async def test_skip_tells_the_model_it_was_not_performed(mcp_engine, stdio_server, counter) -> None:
    first = await start(mcp_engine, stall_agent(stdio_server))
    call_id = the_question(first)["tool_call_id"]

    skipped = await resume(mcp_engine, first.task.id, answer("skip", "the gateway was down"))

    assert skipped.task.state == "completed"
    assert counter("stall-x") == 1  # not run again
    message = await the_tool_message(mcp_engine, first.task.id)
    assert message.status == "error" and "NOT performed" in message.content
    assert "the gateway was down" in message.content
    entry = await mcp_engine.ledger.get(first.task.id, call_id)
    assert entry is not None and entry.status == "skipped"


async def test_a_repeat_under_a_new_call_id_needs_the_same_decision(
    mcp_engine, stdio_server, counter
) -> None:
    spec = stall_agent(stdio_server)
    task = await TaskRunner(mcp_engine).submit("Send the message once.", spec)
    # What an earlier call of the same tool with the same arguments left behind when its
    # process died mid-call: a "started" record under another call id.
    digest = args_hash({"tag": "x"})
    await mcp_engine.ledger.begin(task.id, "earlier-call", tool="s__stall", args_hash=digest)

    first = await TaskRunner(mcp_engine).run(task.id)

    question = the_question(first)
    assert question["reason"] == "repeat_of_unknown_outcome"
    assert question["repeat_of"] == "earlier-call" and question["tool_call_id"] != "earlier-call"
    assert counter("stall-x") == 0  # held: not run
    skipped = await resume(mcp_engine, task.id, answer("skip"))

    assert skipped.task.state == "completed" and counter("stall-x") == 0
    earlier = await mcp_engine.ledger.get(task.id, "earlier-call")
    held = await mcp_engine.ledger.get(task.id, question["tool_call_id"])
    assert earlier is not None and held is not None
    assert (earlier.status, held.status) == ("skipped", "skipped")
    assert earlier.decisions[0].via == question["tool_call_id"]
    assert not await mcp_engine.ledger.has_unknown_outcome(task.id, "s__stall", digest)


async def test_a_crash_during_a_retry_asks_again_on_resume(
    mcp_engine, mcp_agent, stdio_server, counter
) -> None:
    first = await start(mcp_engine, stall_agent(stdio_server))
    call_id = the_question(first)["tool_call_id"]

    # A worker takes the "retry" and is SIGKILLed as the call starts again.
    await mcp_agent.run_until_killed(
        mcp_engine, first.task.id, crash_env=CRASH_DURING_ENV, tool="s__stall", action="retry"
    )

    assert counter("stall-x") == 1  # killed before the tool ran again
    again = await TaskRunner(mcp_engine).run(first.task.id)
    question = the_question(again)
    # The same call is asked about again: the first question still shown (LangGraph lost
    # the answer with the killed run), or the new one ("crashed": the retry never ended).
    assert question["tool_call_id"] == call_id and question["reason"] in {"timeout", "crashed"}
    skipped = await resume(mcp_engine, first.task.id, answer("skip"))

    assert skipped.task.state == "completed" and counter("stall-x") == 1
    entry = await mcp_engine.ledger.get(first.task.id, call_id)
    assert entry is not None and entry.status == "skipped"
    assert [d.action for d in entry.decisions] == ["retry", "skip"]
