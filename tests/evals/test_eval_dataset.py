"""Datasets: the core dataset covers what the issue asks for; bad datasets fail clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evals.dataset import load_dataset, parse_dataset
from stack.errors import ConfigError


def test_core_dataset_covers_the_required_behaviours(core_dataset_path: Path) -> None:
    dataset = load_dataset(core_dataset_path)
    assert len(dataset.scenarios) >= 10
    stops = {s.name: (s.expect.get("outcome") or {}).get("stop_reason") for s in dataset.scenarios}
    budgets = {"max_iterations", "max_runtime_seconds", "max_tool_calls", "max_tokens",
               "iteration_timeout_seconds"}
    assert budgets <= set(stops.values())  # every budget kind
    assert "stuck" in stops.values()
    decisions = {d.action for s in dataset.scenarios for d in s.approvals}
    assert {"approve", "reject"} <= decisions
    replans = [s for s in dataset.scenarios if (s.expect.get("plan") or {}).get("replans")]
    assert replans
    statuses = [c.get("status") for s in dataset.scenarios
                for c in (s.expect.get("tools") or {}).get("expected", [])
                if isinstance(c, dict)]
    assert "error" in statuses  # a tool failure (then a retry)
    [mcp] = [s for s in dataset.scenarios if s.spec.mcp_servers]
    connection = mcp.spec.mcp_servers[0].adapter_connection()
    assert connection["command"] == sys.executable  # `python` = wakeful's interpreter
    for scenario in dataset.scenarios:
        assert scenario.spec.name == f"eval-{scenario.name}"
        assert scenario.spec.model.provider == "scripted"
        assert scenario.spec.entropy.semantic is False  # from the defaults


def _dataset(**scenario) -> dict:
    base = {"name": "s", "goal": "g", "agent": {"tools": {"allow": []}}}
    return {"name": "t", "scenarios": [{**base, **scenario}]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_dataset(expect={"vibes": {}}), "unknown evaluator.*vibes"),
        (_dataset(expect={"output": {"regex": ["("]}}), "scenario s: expect.output"),
        (_dataset(expect={"trajectory": {"mode": "strict"}}), "expect.trajectory: calls"),
        (_dataset(agent={"tools": {"allow": []}, "budgets": {"max_tokens": 0}}),
         "scenario s: agent"),
        (_dataset(approvals=[{"action": "edit"}]), "edit decision needs `args`"),
        ({"name": "t", "scenarios": [{"name": "a", "goal": "g"}, {"name": "a", "goal": "g"}]},
         "duplicate scenario"),
        ({"name": "t", "scenarios": []}, "scenarios"),
    ],
)
def test_bad_datasets_name_the_problem(data: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_dataset(data, source="test.yaml", base_dir=tmp_path)


def test_defaults_merge_and_agent_files(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "name: from-file\ntools: {allow: [load_average]}\nbudgets: {max_iterations: 7}\n"
    )
    data = {
        "name": "t",
        "defaults": {"agent": {"budgets": {"max_tool_calls": 3}},
                     "expect": {"tokens": {"max": 10}}},
        "scenarios": [{"name": "f", "goal": "g", "agent_file": "agent.yaml",
                       "agent": {"budgets": {"max_iterations": 9}},
                       "expect": {"tokens": {"max_per_role": {"worker": 5}}}}],
    }
    [scenario] = parse_dataset(data, source="t", base_dir=tmp_path).scenarios
    assert scenario.spec.name == "from-file"
    assert (scenario.spec.budgets.max_iterations, scenario.spec.budgets.max_tool_calls) == (9, 3)
    assert scenario.expect["tokens"] == {"max": 10, "max_per_role": {"worker": 5}}
    assert scenario.spec_dir == tmp_path
