"""graph: the node path from the checkpoint history against an expected path.

`strict` is agentevals' graph trajectory strict match on the whole path; `subsequence`
asks only that the expected nodes occur in this order (others may come between).
"""

from __future__ import annotations

from typing import Literal

from agentevals.graph_trajectory.strict import graph_trajectory_strict_match

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.trace import Trace


class GraphExpect(Expectation):
    mode: Literal["strict", "subsequence"] = "strict"
    path: list[str]


def _is_subsequence(wanted: list[str], path: list[str]) -> bool:
    remaining = iter(path)
    return all(node in remaining for node in wanted)


def _divergence(wanted: list[str], path: list[str]) -> str:
    for index, (want, got) in enumerate(zip(wanted, path, strict=False)):
        if want != got:
            return f"node {index}: expected {want}, got {got}"
    if len(path) < len(wanted):
        return f"the path ends after {len(path)} nodes; expected {wanted[len(path)]} next"
    return f"{len(path) - len(wanted)} extra node(s) from {path[len(wanted)]}"


def evaluate(trace: Trace, expect: GraphExpect, context: EvalContext) -> Score:
    path = trace.nodes
    if expect.mode == "strict":
        result = graph_trajectory_strict_match(
            outputs={"inputs": [], "results": [], "steps": [path]},
            reference_outputs={"inputs": [], "results": [], "steps": [expect.path]},
        )
        passed = bool(result["score"])
        detail = "same path" if passed else _divergence(expect.path, path)
    else:
        passed = _is_subsequence(expect.path, path)
        detail = "expected nodes in order" if passed else (
            f"{' > '.join(expect.path)} is not a subsequence of the path"
        )
    return Score(
        evaluator="graph",
        passed=passed,
        score=1.0 if passed else 0.0,
        detail=detail,
        metrics={"mode": expect.mode, "nodes": len(path)},
    )


EVALUATOR = Evaluator(
    name="graph",
    description="node path vs the expected one (agentevals graph trajectory strict match)",
    expectation=GraphExpect,
    evaluate=evaluate,
)
