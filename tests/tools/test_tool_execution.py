from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from tools.execution import execute_tool_call
from tools.faults import no_crash_hook
from tools.outcome import ToolOutcome
from tools.policy import ToolPolicyConfig
from tools.registry import Toolset
from tools.retry import RetryableToolError, RetryPolicy

BACKOFF = RetryPolicy(base_delay_s=0.1, max_delay_s=60, jitter=0.25)


class NoArgs(BaseModel):
    pass


class SleepRecorder:
    """Stands in for asyncio.sleep and records the delays the executor asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def run(
    toolset: Toolset, name: str, args: Any = None, sleep: SleepRecorder | None = None
) -> ToolOutcome:
    call = {"name": name, "args": {"value": "x"} if args is None else args, "id": "call-1"}
    return await execute_tool_call(
        call,
        toolset,
        task_id="task-1",
        ledger=None,
        crash_hook=no_crash_hook,
        retry=BACKOFF,
        sleep=sleep or SleepRecorder(),
    )


async def test_ok_call_returns_the_output(make_tool: Callable, toolset_of: Callable) -> None:
    toolset = toolset_of(make_tool("echo", func=lambda value: f"got {value}"))

    outcome = await run(toolset, "echo", {"value": "hi"})

    assert (outcome.status, outcome.content, outcome.attempts) == ("ok", "got hi", 1)
    assert outcome.tool_call_id == "call-1" and outcome.name == "echo"
    assert outcome.to_message().status == "success"


async def test_unknown_tool_is_denied_with_the_usable_tools_named(
    make_tool: Callable, toolset_of: Callable
) -> None:
    toolset = toolset_of(make_tool("echo", func=lambda value: value))

    outcome = await run(toolset, "rm_rf")

    assert outcome.status == "denied" and outcome.attempts == 0
    assert "no tool named 'rm_rf'" in outcome.content and "echo" in outcome.content
    assert outcome.to_message().status == "error"


async def test_denied_tool_is_refused_and_never_runs(
    make_tool: Callable, toolset_of: Callable
) -> None:
    ran: list[str] = []
    toolset = toolset_of(
        make_tool("allowed", func=ran.append),
        make_tool("blocked", func=ran.append),
        make_tool("unlisted", func=ran.append),
        config=ToolPolicyConfig(allow=["allowed", "blocked"], policies={"blocked": "deny"}),
    )

    blocked = await run(toolset, "blocked")
    unlisted = await run(toolset, "unlisted")

    assert ran == []
    assert blocked.status == unlisted.status == "denied"
    assert "not permitted" in blocked.content and "tool:blocked" in blocked.content
    assert "not-allowed" in unlisted.content and "allowed" in unlisted.content


async def test_approval_tools_run_when_executed(make_tool: Callable, toolset_of: Callable) -> None:
    toolset = toolset_of(
        make_tool("gated", func=lambda value: "ran"),
        config=ToolPolicyConfig(allow=["gated"], policies={"gated": "approval"}),
    )

    assert (await run(toolset, "gated")).status == "ok"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"value": 5}, "value: Input should be a valid string"),
        ({}, "value: Field required"),
        ({"value": "x", "extra": 1}, "extra: unexpected argument"),
        (["x"], "arguments must be a JSON object"),
    ],
)
async def test_args_that_do_not_fit_the_schema_are_an_error(
    make_tool: Callable, toolset_of: Callable, args: Any, problem: str
) -> None:
    ran: list[str] = []
    toolset = toolset_of(make_tool("echo", func=ran.append))

    outcome = await run(toolset, "echo", args)

    assert outcome.status == "error" and outcome.attempts == 0 and ran == []
    assert problem in outcome.content
    assert '"value"' in outcome.content  # the expected schema is shown


async def test_json_schema_tools_are_validated_too(toolset_of: Callable) -> None:
    from langchain_core.tools import StructuredTool

    from tools.spec import RegisteredTool, ToolSpec

    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}},
        "required": ["count"],
    }
    tool = StructuredTool(
        name="remote", description="remote", args_schema=schema, func=lambda **kw: kw
    )
    toolset = toolset_of(
        RegisteredTool(spec=ToolSpec(name="remote", description="r", scope="read"), tool=tool)
    )

    bad = await run(toolset, "remote", {"count": "three"})
    good = await run(toolset, "remote", {"count": 3})

    assert bad.status == "error" and "count: 'three' is not of type 'integer'" in bad.content
    assert good.status == "ok" and json.loads(good.content) == {"count": 3}


async def test_async_tool_that_hangs_times_out(make_tool: Callable, toolset_of: Callable) -> None:
    never = asyncio.Event()

    async def hang(value: str) -> str:
        await never.wait()
        return "unreachable"

    toolset = toolset_of(make_tool("hang", coroutine=hang, timeout_s=0.05, max_retries=0))

    outcome = await run(toolset, "hang")

    assert outcome.status == "error" and outcome.attempts == 1
    assert "timed out after 0.05s" in outcome.content


async def test_sync_tool_that_hangs_times_out_without_blocking_the_loop(
    make_tool: Callable, toolset_of: Callable
) -> None:
    release = threading.Event()
    toolset = toolset_of(
        make_tool("block", func=lambda value: release.wait(30), timeout_s=0.05, max_retries=0)
    )

    try:
        outcome = await run(toolset, "block")
    finally:
        release.set()

    assert outcome.status == "error" and "timed out" in outcome.content


async def test_read_tool_timeouts_are_retried_with_growing_delays(
    make_tool: Callable, toolset_of: Callable
) -> None:
    never = asyncio.Event()

    async def hang(value: str) -> str:
        await never.wait()
        return "unreachable"

    sleep = SleepRecorder()
    toolset = toolset_of(make_tool("hang", coroutine=hang, timeout_s=0.01, max_retries=2))

    outcome = await run(toolset, "hang", sleep=sleep)

    assert outcome.attempts == 3 and "after 3 attempts" in outcome.content
    assert len(sleep.delays) == 2 and sleep.delays[0] < sleep.delays[1]


async def test_retryable_failures_are_retried_with_exponential_backoff(
    make_tool: Callable, toolset_of: Callable
) -> None:
    ran: list[str] = []

    def flaky(value: str) -> str:
        ran.append(value)
        if len(ran) < 3:
            raise RetryableToolError("service busy")
        return "done"

    sleep = SleepRecorder()
    toolset = toolset_of(make_tool("flaky", func=flaky, max_retries=3))

    outcome = await run(toolset, "flaky", sleep=sleep)

    assert (outcome.status, outcome.content, outcome.attempts) == ("ok", "done", 3)
    assert len(ran) == 3
    assert len(sleep.delays) == 2
    for retry, delay in enumerate(sleep.delays, start=1):
        floor = BACKOFF.base_delay_s * 2 ** (retry - 1)
        assert floor <= delay <= floor * (1 + BACKOFF.jitter)
    assert sleep.delays[1] > sleep.delays[0]


async def test_retries_stop_after_max_retries(make_tool: Callable, toolset_of: Callable) -> None:
    ran: list[str] = []

    def down(value: str) -> str:
        ran.append(value)
        raise ConnectionRefusedError("no route")

    sleep = SleepRecorder()
    toolset = toolset_of(make_tool("down", func=down, max_retries=3))

    outcome = await run(toolset, "down", sleep=sleep)

    assert outcome.status == "error" and outcome.attempts == 4 and len(ran) == 4
    assert "after 4 attempts" in outcome.content and "ConnectionRefusedError" in outcome.content
    assert sleep.delays == sorted(sleep.delays) and len(set(sleep.delays)) == 3


async def test_other_errors_are_not_retried(make_tool: Callable, toolset_of: Callable) -> None:
    def broken(value: str) -> str:
        raise ValueError("disk on fire")

    sleep = SleepRecorder()
    toolset = toolset_of(make_tool("broken", func=broken, max_retries=3))

    outcome = await run(toolset, "broken", sleep=sleep)

    assert outcome.status == "error" and outcome.attempts == 1 and sleep.delays == []
    assert outcome.content == "Error: tool 'broken' failed: ValueError: disk on fire"


async def test_write_tools_retry_only_explicitly_retryable_errors(
    make_tool: Callable, toolset_of: Callable
) -> None:
    def lost(value: str) -> str:
        raise ConnectionResetError("reset mid-request")

    sleep = SleepRecorder()
    toolset = toolset_of(make_tool("post", func=lost, scope="external", max_retries=3))

    outcome = await run(toolset, "post", sleep=sleep)

    assert outcome.status == "error" and outcome.attempts == 1 and sleep.delays == []


async def test_non_string_output_is_json(make_tool: Callable, toolset_of: Callable) -> None:
    toolset = toolset_of(
        make_tool("probe", func=lambda: {"load": 0.5, "host": "h"}, args_schema=NoArgs)
    )

    outcome = await run(toolset, "probe", {})

    assert json.loads(outcome.content) == {"load": 0.5, "host": "h"}


async def test_long_output_is_truncated_keeping_head_and_tail(
    make_tool: Callable, toolset_of: Callable
) -> None:
    toolset = toolset_of(
        make_tool(
            "chatty",
            func=lambda: "HEAD" + "m" * 10_000 + "TAIL",
            args_schema=NoArgs,
            max_output_chars=200,
        )
    )

    outcome = await run(toolset, "chatty", {})

    assert len(outcome.content) <= 200
    assert outcome.content.startswith("HEADmmm") and outcome.content.endswith("mmmTAIL")
    assert "… [truncated 98" in outcome.content


async def test_args_hash_is_stable_and_distinguishes_args(
    make_tool: Callable, toolset_of: Callable
) -> None:
    toolset = toolset_of(make_tool("echo", func=lambda value: value))

    first = await run(toolset, "echo", {"value": "a"})
    again = await run(toolset, "echo", {"value": "a"})
    other = await run(toolset, "echo", {"value": "b"})

    assert first.args_hash == again.args_hash != other.args_hash
