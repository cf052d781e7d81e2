"""Malformed model output and failing endpoints: the model is told, the run goes on where it
can, and where it cannot the task fails with one line naming role, model and endpoint.

Driven through ChatOpenAI against the loopback fake OpenAI server (which, like OpenAI,
refuses a history whose tool calls are not all answered) and through the scripted model.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from fake_openai_server import FakeOpenAI, Reply, openai_settings
from langchain_core.messages import AIMessage, ToolMessage
from wakeful_testing import make_spec

from graphs.context import RunContext
from graphs.engine import Engine
from graphs.runner import RunResult, TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec
from graphs.state import initial_state
from stack.settings import Settings

pytestmark = pytest.mark.slow

GOAL = "How loaded is this host?"
BROKEN = '{"window": '  # arguments cut off mid-object
BROKEN_ERROR = (
    "Function load_average arguments: {\"window\": are not valid JSON. "
    "Received JSONDecodeError Expecting value: line 1 column 12 (char 11)"
)
NOT_AN_OBJECT = "[1, 2]"  # JSON, but no arguments object
NOT_AN_OBJECT_ERROR = "the arguments must be a JSON object, not a JSON list"
BROKEN_PLAN = '{"steps": [{"id": '
BROKEN_PLAN_ERROR = (
    "Function Plan arguments: {\"steps\": [{\"id\": are not valid JSON. "
    "Received JSONDecodeError Expecting value: line 1 column 19 (char 18)"
)
ONE_STEP = {"steps": [{"id": "load", "description": "Read the load average"}]}
ACCEPT = {"decision": "accept", "reason": "It answers the step."}


def openai_spec(**sections: Any) -> AgentSpec:
    return parse_agent_spec(
        {
            "name": "model-faults",
            "model": {"provider": "openai", "name": "fault-model"},
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
            **sections,
        },
        source="test spec",
    )


async def run_openai(
    engine: Engine, settings: Settings, server: FakeOpenAI, spec: AgentSpec | None = None
) -> RunResult:
    wired = dataclasses.replace(engine, settings=openai_settings(settings, server.base_url))
    runner = TaskRunner(wired)
    task = await runner.submit(GOAL, spec or openai_spec())
    return await runner.run(task.id)


async def events(engine: Engine, task_id: str, type: str) -> list[dict[str, Any]]:
    rows = await engine.records.list_events(task_id, limit=10_000)
    return [e.data for e in rows if e.type == type]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [(BROKEN, BROKEN_ERROR), (NOT_AN_OBJECT, NOT_AN_OBJECT_ERROR)],
    ids=["not-json", "not-an-object"],
)
async def test_a_tool_call_with_unreadable_arguments_is_answered_and_the_run_goes_on(
    engine: Engine, settings: Settings, arguments: str, error: str
) -> None:
    replies = {
        "planner": [Reply(structured=ONE_STEP)],
        "worker": [
            Reply(text="Checking the load.", raw_tool_calls=[("load_average", arguments)]),
            Reply(text="Again, properly.", tool_calls=[("load_average", {})]),
            Reply(text="The load is low."),
        ],
        "critic": [Reply(structured=ACCEPT)],
    }
    with FakeOpenAI(replies) as server:
        result = await run_openai(engine, settings, server)

    assert result.task.state == "completed", result.task.output
    assert result.task.output == "The load is low."
    first, second, third = server.by_role("worker")
    [broken_id] = first.tool_call_ids
    # The second request carries the broken call and, under its id, the error the model sees.
    sent = second.body["messages"]
    [asked] = [m for m in sent if m["role"] == "assistant" and m.get("tool_calls")]
    assert [(c["id"], c["function"]["arguments"]) for c in asked["tool_calls"]] == [
        (broken_id, arguments)
    ]
    [answer] = [m for m in sent if m["role"] == "tool"]
    assert answer["tool_call_id"] == broken_id
    assert answer["content"] == (
        f"Your call of load_average was not run: its arguments could not be read "
        f"({error}). Call it again with arguments that are one JSON object matching "
        "its schema."
    )
    # The good call then ran; the history the server accepted pairs every call.
    assert "load_1m" in [m for m in third.body["messages"] if m["role"] == "tool"][-1]["content"]

    calls = await events(engine, result.task.id, "tool_call")
    assert [(c["tool"], c["status"]) for c in calls] == [
        ("load_average", "invalid"),
        ("load_average", "ok"),
    ]
    assert calls[0]["tool_call_id"] == broken_id and calls[0]["error"] == error
    models = await events(engine, result.task.id, "model_call")
    assert [m.get("invalid_tool_calls") for m in models if m["role"] == "worker"] == [
        ["load_average"], None, None
    ]
    # Nothing ran for the broken call: only the good one is charged as a tool call.
    assert result.task.usage["tool_calls"] == 1


async def test_a_streamed_run_reads_broken_calls_and_missing_usage_the_same_way(
    engine: Engine, settings: Settings
) -> None:
    """Streaming the graph's messages makes ChatOpenAI stream: chunks, no usage chunk.

    (Streamed, LangChain repairs cut-off JSON instead of refusing it; only arguments that
    are no object are left invalid.)
    """
    replies = {
        "planner": [Reply(structured=ONE_STEP, usage=False)],
        "worker": [
            Reply(raw_tool_calls=[("load_average", NOT_AN_OBJECT)], usage=False),
            Reply(tool_calls=[("load_average", {})], usage=False),
            Reply(text="The load is low.", usage=False),
        ],
        "critic": [Reply(structured=ACCEPT, usage=False)],
    }
    with FakeOpenAI(replies) as server:
        runner = TaskRunner(
            dataclasses.replace(engine, settings=openai_settings(settings, server.base_url))
        )
        task = await runner.submit(GOAL, openai_spec())
        deps = runner.deps_for(task)
        config = runner.config(task.id, deps.budgets)
        async for _ in engine.graph.astream(
            initial_state(GOAL, time.time()),
            config,
            context=RunContext(deps=deps),
            stream_mode="messages",
        ):
            pass

    assert all(r.body.get("stream") for r in server.requests)
    values = (await engine.graph.aget_state(config)).values
    assert values["stop_reason"] == "completed"
    [broken_id] = server.by_role("worker")[0].tool_call_ids
    [answer] = [m for m in server.by_role("worker")[1].body["messages"] if m["role"] == "tool"]
    assert answer["tool_call_id"] == broken_id
    assert "(the arguments are not a JSON object)" in answer["content"]
    assert values["usage"]["tokens"] > 0  # counted offline: the server sent no usage chunk


@pytest.mark.parametrize(
    ("planner", "problem"),
    [
        (
            [Reply(structured=BROKEN_PLAN)] * 2,
            f"no readable Plan in 2 attempts: {BROKEN_PLAN_ERROR}",
        ),
        (
            [Reply(structured={"steps": "none"})] * 2,
            "no readable Plan in 2 attempts: 1 validation error for Plan steps Input should be "
            "a valid list [type=list_type, input_value='none', input_type=str]",
        ),
        (
            [Reply(empty_choices=True)] * 2,
            "no readable Plan in 2 attempts: The endpoint answered with an empty `choices` list "
            "(nothing to read).",
        ),
        (
            # The openai client retries a 500 twice itself; the third ends the run.
            [Reply(status=500)] * 3,
            "request failed: OpenAIAPIError: Error code: 500 - fake server: canned HTTP 500",
        ),
    ],
    ids=["broken-json", "wrong-shape", "empty-choices", "http-500"],
)
async def test_a_planner_that_cannot_be_read_fails_the_task_naming_who_and_why(
    engine: Engine, settings: Settings, planner: list[Reply], problem: str
) -> None:
    with FakeOpenAI({"planner": planner}) as server:
        result = await run_openai(engine, settings, server)

    kind = "ModelEndpointError" if "request failed" in problem else "ModelOutputError"
    expected = f"{kind}: planner model openai:fault-model at {server.base_url}: {problem}"
    assert (result.task.state, result.task.stop_reason) == ("failed", "error")
    assert result.task.output == expected
    assert [e["error"] for e in await events(engine, result.task.id, "error")] == [expected]
    assert len(server.requests) == len(planner)  # every canned reply was asked for, no more
    if kind == "ModelOutputError":  # asked again once, with the parser's own message
        reask = server.requests[1].body["messages"][-1]
        assert reask["role"] == "user"
        assert reask["content"].startswith(
            f"Your previous answer could not be read: {problem.split(': ', 1)[1]}\n"
        )
    recorded = await events(engine, result.task.id, "model_call")
    assert [m["role"] for m in recorded] == ["planner"] * (2 if kind == "ModelOutputError" else 1)
    assert all(m["error"] for m in recorded)


async def test_a_planner_that_is_readable_when_asked_again_goes_on(
    engine: Engine, settings: Settings
) -> None:
    replies = {
        "planner": [Reply(structured=BROKEN_PLAN), Reply(structured=ONE_STEP)],
        "worker": [Reply(text="The load is low.")],
        "critic": [Reply(structured=ACCEPT)],
    }
    with FakeOpenAI(replies) as server:
        result = await run_openai(engine, settings, server)

    assert result.task.state == "completed", result.task.output
    [plan] = await events(engine, result.task.id, "plan")
    assert [s["id"] for s in plan["steps"]] == ["load"] and plan["invalid_plan"] is None
    assert result.task.usage["model_calls"]["planner"] == 2
    # Both planner replies are charged: the unreadable one cost tokens too.
    assert result.task.usage["tokens"] == sum(r.total_tokens for r in server.requests)


async def test_a_server_that_reports_no_usage_is_counted_offline_and_stopped_by_max_tokens(
    engine: Engine, settings: Settings
) -> None:
    looping = [
        Reply(text=f"Checking again ({n}).", tool_calls=[("load_average", {})], usage=False)
        for n in range(30)
    ]
    replies = {"planner": [Reply(structured=ONE_STEP, usage=False)], "worker": looping}
    spec = openai_spec(
        budgets={"max_tokens": 2000},
        entropy={"semantic": False, "repeat_threshold": 1000, "error_repeats": 1000,
                 "alternation_repeats": 500},
    )
    with FakeOpenAI(replies) as server:
        result = await run_openai(engine, settings, server, spec)

    assert (result.task.state, result.task.stop_reason) == ("failed", "max_tokens")
    assert all(r.total_tokens == 0 for r in server.requests)  # the server reported nothing
    models = await events(engine, result.task.id, "model_call")
    assert all(m["usage_estimated"] for m in models)
    assert all(m["input_tokens"] > 0 and m["output_tokens"] > 0 for m in models)
    tokens = result.task.usage["tokens"]
    assert tokens == sum(m["tokens"] for m in models) >= 2000
    assert len(models) < 1 + len(looping)  # stopped by the budget, not by running out
    [exhausted] = await events(engine, result.task.id, "budget_exhausted")
    assert exhausted["usage"]["tokens"] == tokens


async def test_a_reply_that_overshoots_max_tokens_is_recorded_with_the_real_figure(
    engine: Engine, settings: Settings
) -> None:
    replies = {
        "planner": [Reply(structured=ONE_STEP, prompt_tokens=100, completion_tokens=50)],
        "worker": [Reply(text="A long answer.", prompt_tokens=5000, completion_tokens=300)],
    }
    with FakeOpenAI(replies) as server:
        result = await run_openai(
            engine, settings, server, openai_spec(budgets={"max_tokens": 5000})
        )

    assert (result.task.state, result.task.stop_reason) == ("failed", "max_tokens")
    assert [r.role for r in server.requests] == ["planner", "worker"]  # critic refused
    models = await events(engine, result.task.id, "model_call")
    assert [m.get("over_budget") for m in models] == [
        None,
        {"budget": "max_tokens", "used": 5450, "limit": 5000, "over_by": 450},
    ]
    assert models[1]["usage_estimated"] is False
    [exhausted] = await events(engine, result.task.id, "budget_exhausted")
    assert (exhausted["budget"], exhausted["usage"]["tokens"]) == ("max_tokens", 5450)
    assert result.task.usage["tokens"] == 5450


# --- the same through the scripted model -------------------------------------------------

SCRIPTED_PLAN = {"structured": ONE_STEP}


async def test_scripted_broken_call_then_good_call_completes_and_the_model_saw_the_error(
    engine: Engine, run_agent, events_of
) -> None:
    spec = make_spec(
        script={
            "planner": [SCRIPTED_PLAN],
            "worker": [
                {"text": "Checking.", "tool_calls": [{"name": "load_average", "raw_args": BROKEN}]},
                {"text": "Again.", "tool_calls": [{"name": "load_average", "raw_args": "{}"}]},
                "The load is low.",
            ],
            "critic": [{"structured": ACCEPT}],
        }
    )
    result = await run_agent(spec)
    assert result.task.state == "completed", result.task.output

    config = {"configurable": {"thread_id": result.task.id}}
    messages = (await engine.graph.aget_state(config)).values["messages"]
    broken = next(m for m in messages if isinstance(m, AIMessage) and m.invalid_tool_calls)
    [call] = broken.invalid_tool_calls
    after = messages[messages.index(broken) + 1]
    assert isinstance(after, ToolMessage) and after.tool_call_id == call["id"]
    assert after.status == "error" and BROKEN_ERROR in str(after.content)
    # The next model turn came after that answer.
    retried = messages[messages.index(after) + 1]
    assert isinstance(retried, AIMessage) and retried.text == "Again."
    statuses = [e.data["status"] for e in await events_of(result.task.id) if e.type == "tool_call"]
    assert statuses == ["invalid", "ok"]


async def test_repeated_broken_calls_count_as_repeated_errors(run_agent, events_of) -> None:
    spec = make_spec(
        script={
            "planner": [SCRIPTED_PLAN],
            "worker": {
                "responses": [{"tool_calls": [{"name": "load_average", "raw_args": BROKEN}]}],
                "cycle": True,
            },
        },
        entropy={"semantic": False, "repeat_threshold": 1000, "alternation_repeats": 500,
                 "error_repeats": 2, "max_resets": 0},
    )
    result = await run_agent(spec)
    assert (result.task.state, result.task.stop_reason) == ("failed", "stuck")
    [stuck] = [e.data for e in await events_of(result.task.id) if e.type == "stuck_detected"]
    assert stuck["signal"].startswith("repeated_error: load_average ")


@pytest.mark.parametrize(
    ("role", "script", "problem"),
    [
        (
            "planner",
            {"planner": [{"structured": {"steps": "none"}}] * 2},
            "no readable Plan in 2 attempts: 1 validation error for Plan steps Input should be "
            "a valid list [type=list_type, input_value='none', input_type=str]",
        ),
        (
            "critic",
            {
                "planner": [SCRIPTED_PLAN],
                "worker": ["An answer."],
                "critic": [{"structured": '{"decision": "accept", '}] * 2,
            },
            "no readable StepVerdict in 2 attempts: Function StepVerdict arguments: "
            '{"decision": "accept", are not valid JSON. Received JSONDecodeError Expecting '
            "property name enclosed in double quotes: line 1 column 24 (char 23)",
        ),
    ],
)
async def test_scripted_unreadable_structured_output_fails_naming_the_role(
    run_agent, events_of, role: str, script: dict, problem: str
) -> None:
    result = await run_agent(make_spec(script=script))
    assert (result.task.state, result.task.stop_reason) == ("failed", "error")
    assert result.task.output == f"ModelOutputError: {role} model scripted: {problem}"
    recorded = [e.data for e in await events_of(result.task.id) if e.type == "model_call"]
    assert [m["role"] for m in recorded if m.get("error")] == [role, role]
