"""graph: the node path from the checkpoint history against an expected path.

`strict` is agentevals' graph trajectory strict match on the whole path; `subsequence`
asks only that the expected nodes occur in this order (others may come between).

Parallel plan steps: the branches of one fan-out run in one step of the graph, so the
checkpoint history lists `branch` once per branch there; the path counts a fan-out once,
as `branch:<step>+<step>…` (the steps from its `fan_out` event, sorted). An expected
`branch` matches any fan-out, `branch:a1+b1` one of exactly those steps (in any order).
"""

from __future__ import annotations

from typing import Literal

from agentevals.graph_trajectory.strict import graph_trajectory_strict_match

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.trace import Trace


class GraphExpect(Expectation):
    mode: Literal["strict", "subsequence"] = "strict"
    path: list[str]


BRANCH = "branch"


def parallel_path(trace: Trace) -> list[str]:
    """The node path with each fan-out once, named by its steps."""
    fan_outs = iter(sorted(e["data"].get("steps") or []) for e in trace.events_of("fan_out"))
    path: list[str] = []
    for index, node in enumerate(trace.nodes):
        if node != BRANCH:
            path.append(node)
        elif index == 0 or trace.nodes[index - 1] != BRANCH:
            steps = next(fan_outs, None)
            path.append(f"{BRANCH}:{'+'.join(steps)}" if steps else BRANCH)
    return path


def _wanted(node: str) -> str:
    name, _, steps = node.partition(":")
    return f"{name}:{'+'.join(sorted(steps.split('+')))}" if name == BRANCH and steps else node


def _same(want: str, got: str) -> bool:
    if want == BRANCH:
        return got.partition(":")[0] == BRANCH
    return _wanted(want) == got


def _as_wanted(wanted: list[str], path: list[str]) -> list[str]:
    """`path` with a fan-out shown as a bare `branch` where that is what is expected."""
    return [
        BRANCH if index < len(wanted) and wanted[index] == BRANCH and _same(BRANCH, got) else got
        for index, got in enumerate(path)
    ]


def _is_subsequence(wanted: list[str], path: list[str]) -> bool:
    remaining = iter(path)
    return all(any(_same(node, got) for got in remaining) for node in wanted)


def _divergence(wanted: list[str], path: list[str]) -> str:
    for index, (want, got) in enumerate(zip(wanted, path, strict=False)):
        if want != got:
            return f"node {index}: expected {want}, got {got}"
    if len(path) < len(wanted):
        return f"the path ends after {len(path)} nodes; expected {wanted[len(path)]} next"
    return f"{len(path) - len(wanted)} extra node(s) from {path[len(wanted)]}"


def evaluate(trace: Trace, expect: GraphExpect, context: EvalContext) -> Score:
    path = parallel_path(trace)
    if expect.mode == "strict":
        wanted = [_wanted(node) for node in expect.path]
        path = _as_wanted(wanted, path)
        result = graph_trajectory_strict_match(
            outputs={"inputs": [], "results": [], "steps": [path]},
            reference_outputs={"inputs": [], "results": [], "steps": [wanted]},
        )
        passed = bool(result["score"])
        detail = "same path" if passed else _divergence(wanted, path)
    else:
        passed = _is_subsequence(expect.path, path)
        detail = (
            "expected nodes in order"
            if passed
            else (f"{' > '.join(expect.path)} is not a subsequence of the path")
        )
    return Score(
        evaluator="graph",
        passed=passed,
        score=1.0 if passed else 0.0,
        detail=detail,
        metrics={
            "mode": expect.mode,
            "nodes": len(path),
            "fan_outs": len(trace.events_of("fan_out")),
            "branches": trace.nodes.count(BRANCH),
        },
    )


EVALUATOR = Evaluator(
    name="graph",
    description="node path vs the expected one (agentevals graph trajectory strict match)",
    expectation=GraphExpect,
    evaluate=evaluate,
)
