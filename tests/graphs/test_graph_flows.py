"""The agent graph end to end on real Postgres: plans, critic revise and replan."""

from __future__ import annotations

from wakeful_testing import make_spec

THREE_STEPS = {
    "structured": {
        "steps": [
            {"id": "s1", "description": "Measure the load", "depends_on": []},
            {"id": "s2", "description": "Measure memory", "depends_on": ["s1"]},
            {"id": "s3", "description": "Conclude", "depends_on": ["s1", "s2"]},
        ]
    }
}


def verdict(decision: str, reason: str = "test") -> dict:
    return {"structured": {"decision": decision, "reason": reason}}


async def test_three_step_plan_completes_in_dependency_order(run_agent, events_of) -> None:
    spec = make_spec(
        script={
            "planner": [THREE_STEPS],
            "worker": [
                {"text": "Looking at load.", "tool_calls": [{"name": "load_average"}]},
                "Load measured.",
                {"text": "Looking at memory.", "tool_calls": [{"name": "memory_usage"}]},
                "Memory measured.",
                "All good: load and memory are fine.",
            ],
        }
    )
    result = await run_agent(spec)
    assert result.task.state == "completed", result.task.output
    assert result.task.stop_reason == "completed"
    events = await events_of(result.task.id)
    completed = [e.data["step"] for e in events if e.type == "step_completed"]
    assert completed == ["s1", "s2", "s3"]
    plans = [e for e in events if e.type == "plan"]
    assert len(plans) == 1 and len(plans[0].data["steps"]) == 3
    tools = [e.data["tool"] for e in events if e.type == "tool_call"]
    assert tools == ["load_average", "memory_usage"]
    assert "Load measured." in result.task.output and "All good" in result.task.output
    assert result.task.usage["iterations"] == 5
    assert result.task.usage["tool_calls"] == 2
    assert result.task.usage["tokens"] > 0


async def test_critic_revise_sends_the_worker_back_with_feedback(run_agent, events_of) -> None:
    spec = make_spec(
        script={
            "planner": [{"structured": {"steps": [{"id": "only", "description": "Answer"}]}}],
            "worker": ["first try", "second try, with numbers: 42"],
            "critic": [verdict("revise", "add numbers"), verdict("accept")],
        }
    )
    result = await run_agent(spec)
    assert result.task.state == "completed"
    events = await events_of(result.task.id)
    verdicts = [(e.data["decision"], e.data["reason"]) for e in events if e.type == "verdict"]
    assert verdicts == [("revise", "add numbers"), ("accept", "test")]
    assert result.task.output == "second try, with numbers: 42"


async def test_empty_result_is_revised_without_a_model_call(run_agent, events_of) -> None:
    spec = make_spec(
        script={
            "planner": [{"structured": {"steps": [{"id": "only", "description": "Answer"}]}}],
            "worker": ["", "now an answer"],
        }
    )
    result = await run_agent(spec)
    assert result.task.state == "completed"
    events = await events_of(result.task.id)
    verdicts = [e.data for e in events if e.type == "verdict"]
    assert verdicts[0]["decision"] == "revise" and verdicts[0]["source"] == "check"
    critic_calls = [e for e in events if e.type == "model_call" and e.data["role"] == "critic"]
    assert len(critic_calls) == 1  # only the second result went to the model


async def test_critic_replan_makes_a_new_plan_keeping_done_steps(run_agent, events_of) -> None:
    first = {"structured": {"steps": [
        {"id": "a", "description": "Step A"},
        {"id": "b", "description": "Step B", "depends_on": ["a"]},
    ]}}
    second = {"structured": {"steps": [{"id": "c", "description": "Step C instead of B"}]}}
    spec = make_spec(
        script={
            "planner": [first, second],
            "worker": ["A done", "B attempt", "C done"],
            "critic": [verdict("accept"), verdict("replan", "B is the wrong approach"),
                       verdict("accept")],
        }
    )
    result = await run_agent(spec)
    assert result.task.state == "completed", result.task.output
    events = await events_of(result.task.id)
    plans = [e.data for e in events if e.type == "plan"]
    assert [p["replan"] for p in plans] == [False, True]
    assert plans[1]["reason"] == "B is the wrong approach"
    assert [s["id"] for s in plans[1]["steps"]] == ["a", "c"]
    completed = [e.data["step"] for e in events if e.type == "step_completed"]
    assert completed == ["a", "c"]


async def test_critic_fail_ends_the_task_failed(run_agent) -> None:
    spec = make_spec(
        script={
            "planner": [{"structured": {"steps": [{"id": "x", "description": "Impossible"}]}}],
            "worker": ["cannot"],
            "critic": [verdict("fail", "goal unreachable")],
        }
    )
    result = await run_agent(spec)
    assert (result.task.state, result.task.stop_reason) == ("failed", "critic_fail")
