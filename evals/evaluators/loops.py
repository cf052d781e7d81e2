"""loops: did the run go in circles? Three signals, over the whole run (the runtime's own
detector forgets at every reset; this one does not):

- repeated_call: the same tool with the same arguments `repeat_threshold` times or more —
  what superset trajectory matching lets through;
- node_cycle: a block of the node path, with the tool calls and plans annotated, repeated
  back to back `cycle_repeats` times and holding at least two different annotated nodes
  (A-B-A-B between tools, or replanning the same plan around the same calls);
- stagnation: `stagnation_window` consecutive worker outputs that are all near-identical
  (difflib ratio >= `stagnation_similarity`).

By default a loop fails the evaluation; a scenario that provokes one says `detected: true`.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher
from typing import Literal

from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.tool_calls import tool_calls, worker_texts
from evals.trace import Trace

Signal = Literal["repeated_call", "node_cycle", "stagnation"]
_MAX_PERIOD = 16
_MAX_TEXT = 2000


class LoopsExpect(Expectation):
    detected: bool = False
    signals: list[Signal] = Field(default_factory=list)  # these must be among those found
    repeat_threshold: int = Field(default=3, ge=2)
    cycle_repeats: int = Field(default=2, ge=2)
    stagnation_window: int = Field(default=3, ge=2)
    stagnation_similarity: float = Field(default=0.95, gt=0, le=1)


def annotated_path(trace: Trace) -> list[str]:
    """Node visits from the event log; `tools` with its calls, `planner` with its steps."""
    tokens: list[tuple[str, list[str]]] = []
    for event in trace.events:
        data = event["data"]
        if event["type"] == "node":
            tokens.append((data["node"], []))
        elif event["type"] == "tool_call" and tokens and tokens[-1][0] == "tools":
            tokens[-1][1].append(f"{data['tool']}#{data.get('args_hash', '')[:12]}")
        elif event["type"] == "plan" and tokens and tokens[-1][0] == "planner":
            tokens[-1][1].append(",".join(s["id"] for s in data.get("steps", [])))
    return [f"{node}[{' '.join(notes)}]" if notes else node for node, notes in tokens]


def longest_cycle(path: list[str]) -> tuple[int, list[str]]:
    """The most back-to-back repeats of a block with two or more distinct annotated nodes."""
    best: tuple[int, list[str]] = (1, [])
    for period in range(2, min(_MAX_PERIOD, len(path) // 2) + 1):
        for start in range(len(path) - 2 * period + 1):
            block = path[start : start + period]
            if len({t for t in block if "[" in t}) < 2:
                continue
            repeats = 1
            while path[start + repeats * period : start + (repeats + 1) * period] == block:
                repeats += 1
            if repeats > best[0]:
                best = (repeats, block)
    return best


def _normal(text: str) -> str:
    return " ".join(text.lower().split())[:_MAX_TEXT]


def stagnant_window(texts: list[str], window: int, similarity: float) -> int | None:
    """The index of the first window of near-identical consecutive outputs, or None."""
    normal = [_normal(t) for t in texts]
    for start in range(len(normal) - window + 1):
        chunk = normal[start : start + window]
        if all(
            SequenceMatcher(None, a, b).ratio() >= similarity
            for i, a in enumerate(chunk)
            for b in chunk[i + 1 :]
        ):
            return start
    return None


def evaluate(trace: Trace, expect: LoopsExpect, context: EvalContext) -> Score:
    found: dict[str, str] = {}
    ran = [c for c in tool_calls(trace) if c.status != "not_run"]
    repeats = Counter(c.signature for c in ran)
    top_signature, top_count = repeats.most_common(1)[0] if repeats else ("", 0)
    if top_count >= expect.repeat_threshold:
        found["repeated_call"] = f"{top_signature.split('#')[0]} x{top_count} (same arguments)"
    cycle_repeats, block = longest_cycle(annotated_path(trace))
    if cycle_repeats >= expect.cycle_repeats:
        found["node_cycle"] = f"{' > '.join(block)} x{cycle_repeats}"
    texts = worker_texts(trace)
    stagnant = stagnant_window(texts, expect.stagnation_window, expect.stagnation_similarity)
    if stagnant is not None:
        sample = texts[stagnant][:80]
        found["stagnation"] = f"{expect.stagnation_window} near-identical outputs: {sample!r}"

    problems = []
    if bool(found) != expect.detected:
        problems.append(
            f"loop: {'; '.join(f'{k}: {v}' for k, v in found.items())}"
            if found
            else "no loop detected, but the scenario expects one"
        )
    missing = [s for s in expect.signals if s not in found]
    if missing:
        problems.append(f"expected signal(s) not found: {', '.join(missing)}")
    summary = "; ".join(f"{k}: {v}" for k, v in found.items()) or "no loop"
    return Score(
        evaluator="loops",
        passed=not problems,
        score=0.0 if problems else 1.0,
        detail="; ".join(problems) if problems else summary,
        metrics={
            "loop_detected": bool(found),
            "signals": ",".join(sorted(found)),
            "max_call_repeats": top_count,
            "max_cycle_repeats": cycle_repeats,
            "runtime_stuck_signals": len(trace.events_of("stuck_detected")),
        },
    )


EVALUATOR = Evaluator(
    name="loops",
    description="repeated tool+args, node cycles, stagnating outputs",
    expectation=LoopsExpect,
    evaluate=evaluate,
    default=True,
)
