"""Approval interrupts: approve, reject (the model is told) and edit (new arguments)."""

from __future__ import annotations

from langchain_core.messages import ToolMessage
from wakeful_testing import approve, make_spec, report_files

GATED = {"allow": ["load_average", "write_report"], "policies": {"write_report": "approval"}}
ONE_STEP = {"structured": {"steps": [{"id": "r", "description": "Write the report"}]}}
WRITE = {
    "text": "Saving what I found.",
    "tool_calls": [{"name": "write_report", "args": {"title": "Health", "body": "all fine"}}],
}


def spec_for(after_write: str = "Report saved."):
    return make_spec(
        script={"planner": [ONE_STEP], "worker": [WRITE, after_write]}, tools=GATED
    )


async def test_approval_interrupt_carries_tool_args_and_rationale(run_agent, engine) -> None:
    result = await run_agent(spec_for())
    assert result.task.state == "input-required"
    [request] = result.interrupts
    assert request["tool"] == "write_report"
    assert request["args"] == {"title": "Health", "body": "all fine"}
    assert request["rationale"] == "Saving what I found."
    assert request["scope"] == "write" and request["policy_source"] == "tool:write_report"


async def test_approve_runs_the_tool(run_agent, engine, events_of, settings) -> None:
    before = len(report_files(settings.data_dir))
    waiting = await run_agent(spec_for())
    assert len(report_files(settings.data_dir)) == before  # nothing ran before approval
    from graphs.runner import TaskRunner

    result = await TaskRunner(engine).run(waiting.task.id, decision=approve())
    assert result.task.state == "completed"
    assert len(report_files(settings.data_dir)) == before + 1
    events = await events_of(result.task.id)
    types = [e.type for e in events]
    assert types.index("approval_requested") < types.index("approval_decided")
    decided = next(e.data for e in events if e.type == "approval_decided")
    assert decided["action"] == "approve" and decided["decided_by"] == "test"


async def test_reject_tells_the_model_and_runs_nothing(run_agent, engine, settings) -> None:
    from graphs.runner import TaskRunner

    before = len(report_files(settings.data_dir))
    waiting = await run_agent(spec_for("Understood, not saving."))
    result = await TaskRunner(engine).run(
        waiting.task.id, decision=approve("reject", comment="not now")
    )
    assert result.task.state == "completed"
    assert len(report_files(settings.data_dir)) == before
    snapshot = await engine.graph.aget_state({"configurable": {"thread_id": result.task.id}})
    [tool_message] = [m for m in snapshot.values["messages"] if isinstance(m, ToolMessage)]
    assert tool_message.status == "error"
    assert "rejected" in tool_message.content and "not now" in tool_message.content


async def test_edit_runs_the_tool_with_new_arguments(run_agent, engine, events_of, settings):
    from graphs.runner import TaskRunner

    waiting = await run_agent(spec_for())
    result = await TaskRunner(engine).run(
        waiting.task.id,
        decision=approve("edit", args={"title": "Edited title", "body": "edited body"}),
    )
    assert result.task.state == "completed"
    newest = report_files(settings.data_dir)[-1]
    assert "Edited title" in newest.read_text() and "edited body" in newest.read_text()
    decided = next(e.data for e in await events_of(result.task.id)
                   if e.type == "approval_decided")
    assert decided["args_diff"]["title"] == {"from": "Health", "to": "Edited title"}
