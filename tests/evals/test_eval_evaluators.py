"""Each evaluator against a known-good and a known-bad trace (synthetic, no database)."""

from __future__ import annotations

from typing import Any

import pytest
from fake_openai_server import FakeOpenAI, Reply

from evals.evaluate import evaluate_trace
from evals.evaluators import EVALUATORS, EvalContext, Score
from evals.judge_model import judge_context
from evals.trace import Trace
from stack.errors import ConfigError
from stack.settings import Settings


def run(name: str, trace: Trace, expect: dict[str, Any] | None = None,
        context: EvalContext | None = None) -> Score:
    evaluator = EVALUATORS[name]
    result = evaluator.evaluate(trace, evaluator.parse(expect, source="test"),
                                context or EvalContext())
    assert isinstance(result, Score)
    return result


def healthy(builder) -> Trace:
    """A clean two-step run: plan, two different calls, two accepted steps."""
    return (
        builder(output="## gather\n\nLoad 0.4.\n\n## summary\n\nSummary: healthy.")
        .plan("gather", "summary")
        .call("load_average", thought="Reading the load.")
        .call("disk_usage", {"path": "/"}, thought="Reading the disk.")
        .answer("Load 0.4, disk 40%.")
        .done("gather")
        .answer("Summary: healthy.")
        .done("summary")
        .model_call("planner", 150)
        .model_call("worker", 400)
        .end()
        .build()
    )


def looping(builder) -> Trace:
    """The same call three times in one step, then a stop as stuck."""
    t = builder(state="failed", stop_reason="stuck").plan("s")
    for _ in range(3):
        t.call("disk_usage", {"path": "/"}, thought="Checking the disk again.")
    return t.end().build()


def test_outcome(trace_builder) -> None:
    assert run("outcome", healthy(trace_builder)).passed
    bad = run("outcome", looping(trace_builder))
    assert not bad.passed and "state failed, expected completed" in bad.detail
    stuck = {"state": "failed", "stop_reason": "stuck"}
    assert run("outcome", looping(trace_builder), stuck).passed


def test_trajectory_modes(trace_builder) -> None:
    good = healthy(trace_builder)
    calls = [{"name": "load_average", "args": {}}, {"name": "disk_usage", "args": {"path": "/"}}]
    assert run("trajectory", good, {"mode": "strict", "calls": calls}).passed
    reversed_calls = calls[::-1]
    assert not run("trajectory", good, {"mode": "strict", "calls": reversed_calls}).passed
    assert run("trajectory", good, {"mode": "unordered", "calls": reversed_calls}).passed
    assert run("trajectory", good, {"mode": "superset", "calls": calls[:1]}).passed
    assert not run("trajectory", good, {"mode": "subset", "calls": calls[:1]}).passed
    wrong_args = [calls[0], {"name": "disk_usage", "args": {"path": "/tmp"}}]
    bad = run("trajectory", good, {"mode": "strict", "calls": wrong_args})
    assert not bad.passed and "disk_usage(path='/tmp')" in bad.detail
    ignoring = {"mode": "strict", "tool_args": "ignore", "calls": wrong_args}
    assert run("trajectory", good, ignoring).passed
    # a call written without args ignores that tool's arguments
    assert run("trajectory", good, {"calls": ["load_average", "disk_usage"]}).passed


def test_graph_strict_and_subsequence(trace_builder) -> None:
    good = healthy(trace_builder)
    assert run("graph", good, {"mode": "strict", "path": good.nodes}).passed
    bad = run("graph", good, {"mode": "strict", "path": [*good.nodes[:-1], "planner"]})
    assert not bad.passed and "expected planner, got memorize" in bad.detail
    in_order = ["planner", "critic", "finalize"]
    assert run("graph", good, {"mode": "subsequence", "path": in_order}).passed
    assert not run("graph", good, {"mode": "subsequence", "path": ["finalize", "planner"]}).passed


def test_tool_correctness(trace_builder) -> None:
    good = healthy(trace_builder)
    expect = {"expected": ["load_average", {"name": "disk_usage", "args": {"path": "/"},
                                            "status": "ok"}], "allow_extra": False}
    score = run("tools", good, expect)
    assert score.passed and score.score == 1.0 and score.metrics["f1"] == 1.0
    missing = run("tools", good, {"expected": ["memory_usage", "load_average"]})
    assert not missing.passed and missing.score == 0.5 and "memory_usage" in missing.detail
    extra = run("tools", good, {"expected": ["load_average"], "allow_extra": False})
    assert not extra.passed and "unexpected call(s): disk_usage" in extra.detail
    forbidden = run("tools", good, {"forbidden": ["disk_usage"]})
    assert not forbidden.passed and forbidden.score == 0.0
    wrong_status = run("tools", good, {"expected": [{"name": "load_average", "status": "error"}]})
    assert not wrong_status.passed
    # argument modes: superset = the call has at least these arguments
    assert run("tools", good, {"expected": [{"name": "disk_usage", "args": {}}],
                               "args": "superset"}).passed
    assert not run("tools", good, {"expected": [{"name": "disk_usage", "args": {}}]}).passed


def test_plan_fidelity(trace_builder) -> None:
    good = healthy(trace_builder)
    score = run("plan", good, {"steps": ["gather", "summary"], "replans": 0})
    assert score.passed and score.score == 1.0
    out_of_order = (trace_builder().plan("a", "b", "c").done("b").done("a").done("c").build())
    bad = run("plan", out_of_order)
    assert not bad.passed and bad.score == pytest.approx(2 / 3)
    stopped = trace_builder().plan("a", "b", "c", "d").done("a").build()
    assert run("plan", stopped, {"min_fidelity": 0.25}).passed
    assert not run("plan", stopped).passed
    assert not run("plan", trace_builder().build()).passed  # no plan at all


def test_plan_fidelity_with_parallel_steps(trace_builder) -> None:
    """Steps of one fan-out finish in any order; out of order elsewhere still counts."""
    parallel = (trace_builder().plan("a", "b", "c").event("fan_out", steps=["a", "b"])
                .done("b").done("a").done("c").build())
    score = run("plan", parallel, {"steps": ["a", "b", "c"]})
    assert score.passed and score.score == 1.0
    across = (trace_builder().plan("a", "b", "c").event("fan_out", steps=["b", "c"])
              .done("b").done("a").done("c").build())
    assert run("plan", across).score == pytest.approx(2 / 3)  # a was due before b and c
    # after a replan the same ids run one at a time: their order is the run's own again
    replanned = (trace_builder().plan("a", "b").event("fan_out", steps=["a", "b"])
                 .done("b").done("a").plan("a", "b", replan=True).done("b").done("a").build())
    assert run("plan", replanned, {"steps": ["a", "b", "b", "a"], "min_fidelity": 0}).passed


def test_loops_flag_what_superset_matching_lets_through(trace_builder) -> None:
    loop = looping(trace_builder)
    reference = {"mode": "superset", "calls": [{"name": "disk_usage", "args": {"path": "/"}}]}
    assert run("trajectory", loop, reference).passed  # superset: the repeats slip through
    flagged = run("loops", loop)
    assert not flagged.passed
    assert 'repeated_call: disk_usage({"path":"/"}) x3' in flagged.detail
    assert flagged.metrics["first_detection_turn"] == 4  # plan, then the 3rd identical call
    assert run("loops", healthy(trace_builder)).passed
    assert run("loops", loop, {"detected": True, "signals": ["repeated_call"]}).passed
    assert not run("loops", healthy(trace_builder), {"detected": True}).passed
    assert not run("loops", loop, {"detected": True, "signals": ["cycle"]}).passed


def test_loops_cycle_errors_and_the_healthy_twins(trace_builder) -> None:
    alternating = trace_builder().plan("s")
    for _ in range(2):
        alternating.call("load_average", result="load 0.40 0.35 0.30 on 2 cpus")
        alternating.call("memory_usage", result="memory 61% used of 3.8 GB, swap 0%")
    score = run("loops", alternating.build())
    assert not score.passed and score.metrics["signals"] == "cycle"

    polling = trace_builder().plan("s")  # same call, the result moves: progress
    for percent in (10, 40, 70, 100):
        polling.call("http_get", {"url": "http://ci/job/7"}, result=f"job 7: {percent}% done",
                     thought="Checking the job again.")
    assert run("loops", polling.build()).passed

    failing = trace_builder().plan("s")  # one error class, whatever the path says
    for path in ("/a/1.log", "/b/22.log", "/c/333.log"):
        failing.call("read_file", {"path": path}, status="error",
                     result=f"FileNotFoundError: no such file: '{path}'")
    score = run("loops", failing.build(), {"entropy": {"semantic": False}})
    assert not score.passed and score.metrics["signals"] == "repeated_error"

    retried = trace_builder().plan("s")  # a success of the same call clears its errors
    for path in ("/a", "/b", "/c"):
        retried.call("read_file", {"path": path}, status="error", result="TimeoutError: 5s")
        retried.call("read_file", {"path": path}, result=f"the content of {path}, at last")
    assert run("loops", retried.build(), {"entropy": {"semantic": False}}).passed


def test_loops_reads_resets_and_plans_from_the_events(trace_builder) -> None:
    resumed = trace_builder().plan("s")
    resumed.call("disk_usage", {"path": "/"}, result="disk / is 40% used, 12 GB free")
    for _ in range(2):
        resumed.call("disk_usage", {"path": "/"}, result="disk / is 40% used, 12 GB free")
    resumed.event("stuck_detected", signal="repeated_call", ending=False)
    resumed.plan("s", replan=True)
    resumed.call("disk_usage", {"path": " / "}, result="disk / is 40% used, 12 GB free")
    score = run("loops", resumed.build(), {"detected": True, "signals": ["resumed_loop"]})
    assert score.passed, score.detail
    assert score.metrics["runtime_stuck_signals"] == 1


def test_budgets(trace_builder) -> None:
    good = healthy(trace_builder)
    score = run("budgets", good)
    assert score.passed and score.metrics["use_tool_calls"] == round(2 / 60, 4)
    exhausted = (trace_builder(state="failed", stop_reason="max_tool_calls",
                               budgets={"max_tool_calls": 2})
                 .call("a").call("b").event("budget_exhausted", budget="max_tool_calls").build())
    bad = run("budgets", exhausted)
    assert not bad.passed and "max_tool_calls" in bad.detail
    assert run("budgets", exhausted, {"exhausted": "max_tool_calls"}).passed
    assert not run("budgets", exhausted, {"exhausted": "max_tokens"}).passed
    assert not run("budgets", good, {"max_use": {"tool_calls": 0.01}}).passed
    both_branches = (trace_builder(state="failed", stop_reason="max_iterations")
                     .plan("a", "b").event("fan_out", steps=["a", "b"])
                     .event("budget_exhausted", budget="max_iterations")
                     .event("budget_exhausted", budget="max_iterations").build())
    assert run("budgets", both_branches, {"exhausted": "max_iterations"}).passed
    twice = (trace_builder(state="failed", stop_reason="max_iterations")
             .event("budget_exhausted", budget="max_iterations")
             .event("budget_exhausted", budget="max_iterations").build())
    assert not run("budgets", twice, {"exhausted": "max_iterations"}).passed  # no branches
    with pytest.raises(ConfigError, match="unknown counter"):
        EVALUATORS["budgets"].parse({"max_use": {"wishes": 1}}, source="test")


def test_tokens(trace_builder) -> None:
    good = healthy(trace_builder)
    score = run("tokens", good, {"max": 1000})
    assert score.passed and score.metrics["tokens"] == 550
    assert not run("tokens", good, {"max": 500}).passed
    assert not run("tokens", good, {"max_per_role": {"worker": 300}}).passed


def test_approvals(trace_builder) -> None:
    approved = trace_builder().call("write_report", {"title": "t"}, approval="approve").build()
    score = run("approvals", approved, {"requested": ["write_report"], "decisions": ["approve"]})
    assert score.passed and score.metrics["approved"] == 1
    rejected = trace_builder().call("write_report", approval="reject").build()
    assert run("approvals", rejected, {"decisions": ["reject"]}).passed
    assert not run("approvals", rejected, {"decisions": ["approve"]}).passed

    ran_anyway = trace_builder().call("write_report", approval="reject").build()
    for event in ran_anyway.events:  # a rejected call that ran: the runtime broke its promise
        if event["type"] == "tool_call":
            event["data"]["status"] = "ok"
    bad = run("approvals", ran_anyway)
    assert not bad.passed and "ran without approval" in bad.detail

    undecided = trace_builder(state="failed").build()
    undecided.events.append({"seq": 99, "ts": "", "type": "approval_requested",
                             "data": {"tool": "write_report", "tool_call_id": "x"}})
    assert not run("approvals", undecided).passed
    undecided.task["state"] = "input-required"  # still waiting: fine
    assert run("approvals", undecided).passed


def test_output_checks(trace_builder) -> None:
    good = trace_builder(output='Done.\n```json\n{"path": "/", "healthy": true}\n```').build()
    schema = {"type": "object", "required": ["path", "healthy"],
              "properties": {"healthy": {"type": "boolean"}}}
    expect = {"contains": ["Done."], "not_contains": ["error"], "regex": [r'"path":\s*"/"'],
              "json_schema": schema}
    score = run("output", good, expect)
    assert score.passed and score.metrics["checks"] == 4
    bad = trace_builder(output='{"path": "/", "healthy": "yes"}').build()
    score = run("output", bad, expect)
    assert not score.passed and score.score == 0.5
    assert "healthy: 'yes' is not of type 'boolean'" in score.detail
    assert not run("output", trace_builder(output="no json here").build(),
                   {"json_schema": schema}).passed
    assert run("output", trace_builder(output=" DONE ").build(),
               {"equals": "done", "ignore_case": True}).passed
    with pytest.raises(ConfigError, match="regex"):
        EVALUATORS["output"].parse({"regex": ["("]}, source="test")
    with pytest.raises(ConfigError, match="JSON schema"):
        EVALUATORS["output"].parse({"json_schema": {"type": "nonsense"}}, source="test")


async def test_llm_judge_is_skipped_without_a_model(trace_builder, no_network) -> None:
    context = judge_context(Settings(OPENAI_API_KEY=None))
    [score] = [s for s in await evaluate_trace(
        healthy(trace_builder), {"judge": EVALUATORS["judge"].parse(
            {"rubric": "Says whether the host is healthy."}, source="test")}, context,
    ) if s.evaluator == "judge"]
    assert score.skipped and "OPENAI_API_KEY" in score.skipped
    assert score.passed  # a skipped evaluator never fails a run


async def test_llm_judge_grades_with_a_configured_model(trace_builder, no_network) -> None:
    verdicts = [Reply(structured={"reasoning": "It says healthy.", "score": True}),
                Reply(structured={"reasoning": "No verdict on health.", "score": False})]
    with FakeOpenAI({"unknown:score": verdicts}) as server:
        settings = Settings(OPENAI_API_KEY="test", OPENAI_BASE_URL=server.base_url)
        context = judge_context(settings, "judge-model")
        expect = {"rubric": "The output says whether the host is healthy."}
        good = healthy(trace_builder)
        bad = trace_builder(output="I looked around.").call("load_average").build()
        scores = [await EVALUATORS["judge"].evaluate(t, EVALUATORS["judge"].parse(
            expect, source="test"), context) for t in (good, bad)]
    assert [s.passed for s in scores] == [True, False]
    assert scores[0].detail == "It says healthy." and scores[0].metrics["judge_model"] == (
        "openai:judge-model")
    [first, _] = server.requests
    prompt = first.body["messages"][0]["content"]
    assert "Summary: healthy." in prompt and "whether the host is healthy" in prompt
    assert "load_average()" in prompt
    assert no_network == []
