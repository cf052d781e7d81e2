"""Memory across iterations: one agent runs three tasks; the third recalls the running
summary (L2, from the Postgres store) and a fact the dreamer learned from the first (L4)."""

from __future__ import annotations

import uuid

from wakeful_testing import make_spec

from graphs.runner import TaskRunner

FACT = "The host web-01 runs the checkout service"


def _spec(name: str):
    return make_spec(
        name=name,
        script={
            "planner": {"responses": [{"structured": {"steps": [
                {"id": "look", "description": "Look at web-01"}]}}], "cycle": True},
            "worker": {"responses": ["web-01 runs the checkout service and looks healthy."],
                       "cycle": True},
            "consolidator": {"responses": [{"structured": {"facts": [{
                "subject": "web-01", "subject_type": "host", "predicate": "runs",
                "object": "checkout service", "object_type": "service",
                "fact": FACT, "sources": [1]}]}}], "cycle": True},
        },
        memory={"consolidate_after_importance": 1},
        entropy={"semantic": False},
    )


async def test_third_iteration_recalls_summary_and_first_fact(engine, events_of) -> None:
    name = f"continuity-{uuid.uuid4().hex[:6]}"
    spec = _spec(name)
    runner = TaskRunner(engine)
    goals = ["Check host web-01", "Check host web-01 again", "Check host web-01 once more"]
    tasks = []
    for goal in goals:
        task = await runner.submit(goal, spec)
        result = await runner.run(task.id)
        assert result.task.state == "completed", result.task.stop_reason
        tasks.append(task.id)
        # the dreamer runs in the background; let it finish before the next iteration
        await (await engine.memory()).drain()

    third = (await engine.graph.aget_state({"configurable": {"thread_id": tasks[2]}})).values
    assert FACT in third["recalled"]
    # the running summary carries one line per earlier iteration
    assert "Check host web-01 →" in third["summary"]
    assert "Check host web-01 again →" in third["summary"]
    recalled = [e.data for e in await events_of(tasks[2]) if e.type == "memory_recalled"]
    assert recalled[0]["facts"] >= 1 and recalled[0]["episodes"] >= 1
    # the first iteration had nothing to recall yet
    first = [e.data for e in await events_of(tasks[0]) if e.type == "memory_recalled"]
    assert first[0]["facts"] == 0 and first[0]["summary_chars"] == 0
    # provenance: the fact cites an episode of the first iteration
    stores = await engine.memory()
    facts = stores.knowledge.facts_about("local", name, "web-01")
    assert [f.fact for f in facts] == [FACT]
    cited = stores.episodic.get("local", name, facts[0].episodes)
    assert any(e.task == tasks[0] for e in cited)
