"""The in-process runner: approvals answered as scripted, a scenario that cannot run does
not stop the others, and a real model needs its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.dataset import parse_dataset
from evals.runner import Progress, run_dataset
from stack.errors import ConfigError

PLAN = {"structured": {"steps": [{"id": "r", "description": "Report"}]}}
WRITE = {"text": "Saving.", "tool_calls": [{"name": "write_report",
                                            "args": {"title": "T", "body": "B"}}]}


def _dataset(tmp_path: Path):
    gated = {"allow": ["write_report"], "policies": {"write_report": "approval"}}
    data = {
        "name": "runner-test",
        "defaults": {"agent": {"model": {"provider": "scripted"},
                               "entropy": {"semantic": False}}},
        "scenarios": [
            {"name": "unscripted-approval", "goal": "Write a report.",
             "agent": {"tools": gated,
                       "model": {"script": {"planner": [PLAN], "worker": [WRITE, "Not saved."]}}},
             "expect": {"approvals": {"decisions": ["reject"]}}},
            {"name": "broken", "goal": "Anything.",
             "agent": {"tools": {"allow": ["no_such_tool"]}}},
            {"name": "plain", "goal": "Answer.",
             "agent": {"tools": {"allow": []},
                       "model": {"script": {"planner": [PLAN], "worker": ["An answer."]}}}},
        ],
    }
    return parse_dataset(data, source="test", base_dir=tmp_path)


async def test_runner_answers_scripts_and_isolates_broken_scenarios(
    eval_engine, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    report = await run_dataset(eval_engine, _dataset(tmp_path), out_dir=tmp_path, repeat=2,
                               progress=seen.append)
    by_name = {s.name: s for s in report.summaries()}
    unscripted = report.runs_of("unscripted-approval")[0]
    assert unscripted.passed and unscripted.state == "completed"
    assert unscripted.notes == [
        "the run asked for more approvals than the scenario scripts; rejected"
    ]
    [broken, _] = report.runs_of("broken")
    assert broken.state == "not run" and not broken.passed
    assert "no_such_tool" in broken.scores[0].detail
    assert by_name["plain"].passed == 2
    assert report.options["judge"].startswith("skipped")
    assert (tmp_path / "traces" / "plain.1.jsonl").is_file()
    assert [(p.done, p.total) for p in seen if p.result is not None] == [
        (i, 6) for i in range(1, 7)
    ]


async def test_a_real_model_needs_its_key(eval_engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await run_dataset(eval_engine, _dataset(tmp_path).select(["plain"]),
                          out_dir=tmp_path, model="gpt-4o-mini")
