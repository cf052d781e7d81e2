"""The graph evaluator on a path with parallel plan steps: a fan-out counts once, named by
its steps (synthetic trace, no database)."""

from __future__ import annotations

from typing import Any

from evals.evaluators import EVALUATORS, EvalContext, Score
from evals.evaluators.graph import parallel_path
from evals.trace import Trace

NODES = [
    "recall",
    "planner",
    "worker",
    "branch",
    "branch",
    "join",
    "worker",
    "branch",
    "branch",
    "join",
    "worker",
    "finalize",
    "memorize",
]


def fan_out(*steps: str) -> dict[str, Any]:
    return {"type": "fan_out", "data": {"steps": list(steps)}}


def trace() -> Trace:
    return Trace(task={"id": "t"}, nodes=NODES, events=[fan_out("a1", "b1"), fan_out("a2", "b2")])


def graph(expect: dict[str, Any]) -> Score:
    evaluator = EVALUATORS["graph"]
    return evaluator.evaluate(trace(), evaluator.parse(expect, source="test"), EvalContext())


def test_a_fan_out_is_one_node_of_the_path() -> None:
    assert parallel_path(trace()) == [
        "recall",
        "planner",
        "worker",
        "branch:a1+b1",
        "join",
        "worker",
        "branch:a2+b2",
        "join",
        "worker",
        "finalize",
        "memorize",
    ]


def test_strict_and_subsequence_with_branches() -> None:
    strict = [
        "recall",
        "planner",
        "worker",
        "branch",
        "join",
        "worker",
        "branch:b2+a2",
        "join",
        "worker",
        "finalize",
        "memorize",
    ]
    score = graph({"mode": "strict", "path": strict})
    assert score.passed and score.metrics["fan_outs"] == 2 and score.metrics["branches"] == 4
    wrong = graph({"mode": "strict", "path": [*strict[:6], "branch:a2+c2", *strict[7:]]})
    assert not wrong.passed and "expected branch:a2+c2, got branch:a2+b2" in wrong.detail
    assert graph({"mode": "subsequence", "path": ["planner", "branch:a1+b1", "finalize"]}).passed
    assert not graph({"mode": "subsequence", "path": ["branch:a2+b2", "branch:a1+b1"]}).passed
    assert graph({"mode": "subsequence", "path": ["branch", "branch", "memorize"]}).passed
