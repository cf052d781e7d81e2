"""Model cascades: a role tries its cheap model first and goes on to the next when the reply
cannot be read, the critic is not sure, or the step was sent back twice; every move is a
`model_escalated` event, and usage is kept per model (cost too, when the spec prices it).

Driven through the scripted model (each cascade model replays `<role>:<name>`) and through
ChatOpenAI against the loopback fake OpenAI server (each model is asked under its own name).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fake_openai_server import FakeOpenAI, Reply, openai_settings

from graphs.engine import Engine
from graphs.runner import RunResult, TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec
from stack.errors import ConfigError
from stack.settings import Settings

GOAL = "How loaded is this host?"
ONE_STEP = {"steps": [{"id": "load", "description": "Read the load average"}]}
ACCEPT = {"decision": "accept", "reason": "It answers the step.", "confidence": 0.9}
BROKEN_VERDICT = '{"decision": "acc'  # cut off mid-string
CASCADE = [{"name": "cheap"}, {"name": "strong"}]


def cascade_spec(role: str, script: dict[str, Any], **model: Any) -> AgentSpec:
    return parse_agent_spec(
        {
            "name": "cascade",
            "model": {
                "provider": "scripted",
                "roles": {role: {"cascade": CASCADE}},
                "script": {"planner": [{"structured": ONE_STEP}], **script},
                **model,
            },
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
        },
        source="test spec",
    )


async def events(engine: Engine, task_id: str, type: str) -> list[dict[str, Any]]:
    rows = await engine.records.list_events(task_id, limit=10_000)
    return [e.data for e in rows if e.type == type]


def by_model(result: RunResult) -> dict[str, dict[str, Any]]:
    return result.task.usage["by_model"]


async def test_an_unreadable_cheap_verdict_goes_to_the_next_model_and_the_task_completes(
    engine: Engine, run_agent
) -> None:
    spec = cascade_spec(
        "critic",
        {
            "worker": ["The load is low."],
            "critic": [{"structured": BROKEN_VERDICT}],  # the cascade's first model
            "critic:strong": [{"structured": ACCEPT}],
        },
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    assert result.task.output == "The load is low."
    [escalated] = await events(engine, result.task.id, "model_escalated")
    assert {k: escalated[k] for k in ("role", "from", "to", "reason")} == {
        "role": "critic",
        "from": "scripted:cheap",
        "to": "scripted:strong",
        "reason": "parse",
    }
    assert "are not valid JSON" in escalated["detail"]
    critic_calls = [
        c for c in await events(engine, result.task.id, "model_call") if c["role"] == "critic"
    ]
    assert [(c["model"], "error" in c) for c in critic_calls] == [
        ("scripted:cheap", True),  # not asked again: the next model was
        ("scripted:strong", False),
    ]
    [verdict] = await events(engine, result.task.id, "verdict")
    assert verdict["decision"] == "accept"

    usage = by_model(result)
    assert set(usage) == {"scripted", "scripted:cheap", "scripted:strong"}
    assert usage["scripted:cheap"]["roles"] == {"critic": 1}
    assert usage["scripted:strong"]["roles"] == {"critic": 1}
    assert usage["scripted"]["roles"] == {"planner": 1, "worker": 1}
    assert all(m["tokens"] > 0 for m in usage.values())
    # Budgets still charge the task as a whole: the per-model figures add up to it.
    assert sum(m["tokens"] for m in usage.values()) == result.task.usage["tokens"]
    # The role's attempts over all its models; each model's own count is its script cursor.
    calls = result.task.usage["model_calls"]
    assert (calls["critic"], calls["critic:scripted:cheap"], calls["critic:scripted:strong"]) == (
        2,
        1,
        1,
    )


async def test_a_cascade_whose_last_model_cannot_be_read_asks_it_once_more_then_fails(
    run_agent,
) -> None:
    broken = [{"structured": BROKEN_VERDICT}] * 2
    spec = cascade_spec(
        "critic",
        {"worker": ["The load is low."], "critic": broken, "critic:strong": broken},
    )
    result = await run_agent(spec, GOAL)

    assert (result.task.state, result.task.stop_reason) == ("failed", "error")
    assert result.task.output.startswith(
        "ModelOutputError: critic model scripted:strong: no readable StepVerdict in 3 attempts:"
    )
    assert by_model(result)["scripted:strong"]["calls"] == 2
    assert by_model(result)["scripted:cheap"]["calls"] == 1


async def test_a_low_confidence_verdict_is_asked_of_the_next_model(
    engine: Engine, run_agent
) -> None:
    unsure = {"decision": "revise", "reason": "Maybe not the load.", "confidence": 0.2}
    spec = cascade_spec(
        "critic",
        {
            "worker": ["The load is low."],
            "critic": [{"structured": unsure}],
            "critic:strong": [{"structured": ACCEPT}],
        },
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    [escalated] = await events(engine, result.task.id, "model_escalated")
    assert (escalated["reason"], escalated["detail"]) == (
        "low_confidence",
        "confidence 0.2 is below 0.5",
    )
    # The stronger model's verdict is the one taken: no revision happened; its event says
    # how sure it was.
    verdicts = await events(engine, result.task.id, "verdict")
    assert [(v["decision"], v["confidence"]) for v in verdicts] == [("accept", 0.9)]


async def test_the_confidence_threshold_is_the_specs(engine: Engine, run_agent) -> None:
    unsure = {"decision": "revise", "reason": "Say which window.", "confidence": 0.2}
    spec = cascade_spec(
        "critic",
        {
            "worker": ["The load is low.", "The 1-minute load is low."],
            "critic": [{"structured": unsure}, {"structured": ACCEPT}],
        },
        escalate_below_confidence=0.1,
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    assert await events(engine, result.task.id, "model_escalated") == []
    verdicts = await events(engine, result.task.id, "verdict")
    assert [v["decision"] for v in verdicts] == ["revise", "accept"]
    assert "scripted:strong" not in by_model(result)


async def test_a_step_revised_twice_is_worked_on_by_the_next_model(
    engine: Engine, run_agent
) -> None:
    revise = {"decision": "revise", "reason": "Give the figure."}
    spec = cascade_spec(
        "worker",
        {
            "worker": ["First try.", "Second try."],
            "worker:strong": ["The 1-minute load is 0.3."],
            "critic": [{"structured": revise}, {"structured": revise}, {"structured": ACCEPT}],
        },
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    assert result.task.output == "The 1-minute load is 0.3."
    worker_calls = [
        c["model"]
        for c in await events(engine, result.task.id, "model_call")
        if c["role"] == "worker"
    ]
    assert worker_calls == ["scripted:cheap", "scripted:cheap", "scripted:strong"]
    [escalated] = await events(engine, result.task.id, "model_escalated")
    assert escalated == {
        "role": "worker",
        "from": "scripted:cheap",
        "to": "scripted:strong",
        "reason": "revisions",
        "detail": "step load was revised 2 times",
    }
    assert by_model(result)["scripted:strong"]["roles"] == {"worker": 1}


async def test_without_a_cascade_usage_is_kept_under_the_one_model(run_agent) -> None:
    spec = parse_agent_spec(
        {"name": "plain", "model": {"provider": "scripted"}, "tools": {"allow": ["load_average"]}}
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    [(label, entry)] = by_model(result).items()
    assert label == "scripted"
    assert entry["roles"] == result.task.usage["model_calls"]
    assert entry["tokens"] == result.task.usage["tokens"]
    assert "cost_usd" not in entry  # not priced


# --- through ChatOpenAI ------------------------------------------------------------------


@pytest.mark.slow
async def test_openai_cascade_asks_each_model_by_name_and_prices_its_tokens(
    engine: Engine, settings: Settings
) -> None:
    spec = parse_agent_spec(
        {
            "name": "cascade-openai",
            "model": {
                "provider": "openai",
                "name": "main-model",
                "roles": {
                    "critic": {"cascade": [{"name": "cheap-model"}, {"name": "strong-model"}]}
                },
                "prices": {
                    "cheap-model": {"input": 0.1, "output": 0.4},
                    "openai:strong-model": {"input": 2.0, "output": 8.0},
                },
            },
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
        }
    )
    replies = {
        "planner": [Reply(structured=ONE_STEP)],
        "worker": [Reply(text="The load is low.")],
        "critic": [
            Reply(structured=BROKEN_VERDICT, prompt_tokens=1000, completion_tokens=100),
            Reply(structured=ACCEPT, prompt_tokens=2000, completion_tokens=50),
        ],
    }
    with FakeOpenAI(replies) as server:
        wired = dataclasses.replace(engine, settings=openai_settings(settings, server.base_url))
        runner = TaskRunner(wired)
        task = await runner.submit(GOAL, spec)
        result = await runner.run(task.id)

    assert result.task.state == "completed", result.task.output
    assert [r.body["model"] for r in server.by_role("critic")] == ["cheap-model", "strong-model"]
    assert [r.body["model"] for r in server.requests if r.role != "critic"] == ["main-model"] * 2
    usage = by_model(result)
    assert usage["openai:cheap-model"]["cost_usd"] == pytest.approx((1000 * 0.1 + 100 * 0.4) / 1e6)
    assert usage["openai:strong-model"]["cost_usd"] == pytest.approx((2000 * 2 + 50 * 8) / 1e6)
    assert "cost_usd" not in usage["openai:main-model"]
    assert usage["openai:strong-model"]["tokens"] == 2050


# --- spec validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"roles": {"critic": {"cascade": []}}},
            "model.roles.critic.cascade: List should have at least 1 item",
        ),
        (
            {"roles": {"critic": {"cascade": [{"name": "a", "size": "xl"}]}}},
            "model.roles.critic.cascade.0.size: Extra inputs are not permitted",
        ),
        (
            {"roles": {"critic": {"cascade": [{"name": "a"}, {"name": "a"}]}}},
            "model: Value error, roles.critic.cascade.1: the same model as an earlier entry",
        ),
        (
            {"roles": {"critic": {"name": "x", "cascade": [{"name": "a"}]}}},
            "model.roles.critic: Value error, give either provider/name or a cascade",
        ),
        (
            {"roles": {"critic": {"cascade": [{"name": "a", "temperature": 3}]}}},
            "model.roles.critic.cascade.0.temperature: Input should be less than or equal to 2",
        ),
        (
            {"roles": {"critic": {"cascade": [{"name": "a"}]}}, "script": {"critic:b": []}},
            "model: Value error, script.critic:b: role critic has no cascade model named 'b'",
        ),
        ({"escalate_below_confidence": 1.5}, "model.escalate_below_confidence: Input should be"),
        ({"escalate_after_revisions": 0}, "model.escalate_after_revisions: Input should be"),
        ({"prices": {"m": {"input": -1, "output": 1}}}, "model.prices.m.input: Input should be"),
        ({"prices": {"m": {"input": 1}}}, "model.prices.m.output: Field required"),
    ],
    ids=[
        "empty",
        "unknown-key",
        "twice",
        "name-and-cascade",
        "temperature",
        "script-key",
        "confidence",
        "revisions",
        "negative-price",
        "half-a-price",
    ],
)
def test_a_bad_cascade_spec_is_a_config_error_naming_the_field(
    model: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_agent_spec({"name": "bad", "model": model}, source="bad.yaml")
    assert str(raised.value).startswith("bad.yaml: "), raised.value
    assert message in str(raised.value)


def test_a_script_for_an_unknown_role_says_what_keys_are_allowed() -> None:
    with pytest.raises(ConfigError, match=r"unknown script role\(s\) \['judge:x'\]"):
        parse_agent_spec({"name": "bad", "model": {"script": {"judge:x": []}}})


async def test_cascades_in_parallel_branches_escalate_per_branch_and_usage_adds_up(
    engine: Engine, run_agent
) -> None:
    two = {"steps": [{"id": "a", "description": "Do a"}, {"id": "b", "description": "Do b"}]}
    spec = parse_agent_spec(
        {
            "name": "cascade-parallel",
            "model": {
                "provider": "scripted",
                "roles": {"critic": {"cascade": CASCADE}},
                "script": {
                    "planner": [{"structured": two}],
                    "worker": ["A is done.", "B is done."],  # one round: branch a, branch b
                    "critic": {"responses": [{"structured": BROKEN_VERDICT}], "cycle": True},
                },  # the strong critic has no script: the heuristic one accepts
            },
            "tools": {"allow": ["load_average"]},
            "entropy": {"semantic": False},
            "memory": {"episodic": False, "knowledge": False},
            "max_parallel_steps": 2,
        }
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    assert len(await events(engine, result.task.id, "fan_out")) == 1
    escalated = await events(engine, result.task.id, "model_escalated")
    assert sorted((e["branch"], e["reason"], e["to"]) for e in escalated) == [
        ("a", "parse", "scripted:strong"),
        ("b", "parse", "scripted:strong"),
    ]
    usage = by_model(result)
    assert usage["scripted:cheap"]["roles"] == {"critic": 2}
    assert usage["scripted:strong"]["roles"] == {"critic": 2}
    assert sum(m["tokens"] for m in usage.values()) == result.task.usage["tokens"]


@pytest.mark.parametrize(
    ("given", "read"),
    [(0.4, 0.4), (90, 0.9), ("90%", 0.9), ("high", 0.9), (-0.1, 0.0), (250, 1.0),
     ("sure-ish", None), (True, None), (None, None)],
)  # fmt: skip
def test_a_confidence_out_of_range_never_makes_a_verdict_unreadable(given, read) -> None:
    from graphs.nodes.critic import StepVerdict

    verdict = StepVerdict.model_validate(
        {"decision": "accept", "reason": "ok", "confidence": given}
    )
    assert verdict.decision == "accept" and verdict.confidence == read


async def test_an_unsure_verdict_stands_when_the_stronger_model_cannot_be_read(
    engine: Engine, run_agent
) -> None:
    """A cascade is never less robust than its first model: the readable, unsure verdict is
    kept when the model escalated to gives nothing readable."""
    unsure = {"decision": "accept", "reason": "Probably the load.", "confidence": 0.2}
    broken = [{"structured": BROKEN_VERDICT}] * 2
    spec = cascade_spec(
        "critic",
        {
            "worker": ["The load is low."],
            "critic": [{"structured": unsure}],
            "critic:strong": broken,
        },
    )
    result = await run_agent(spec, GOAL)

    assert result.task.state == "completed", result.task.output
    reasons = [e["reason"] for e in await events(engine, result.task.id, "model_escalated")]
    assert reasons == ["low_confidence", "fell_back"]
    [verdict] = await events(engine, result.task.id, "verdict")
    assert (verdict["decision"], verdict["reason"]) == ("accept", "Probably the load.")
    assert by_model(result)["scripted:strong"]["calls"] == 2
