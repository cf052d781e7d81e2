"""loops: did the run go in circles? The runtime's own detector (graphs/loops) replayed
over the whole trace: the same signals, the same code, online and offline.

The trace's messages give the turns (each tool call joined with its result, each answer);
its events give the plans, the completed steps and the runtime's resets, placed after the
tool result that preceded them. The signals are listed in graphs/loops/rules.py; by
default any loop fails the evaluation, and a scenario that provokes one says
`detected: true` (and may name the `signals` it expects among those found). `entropy:`
tunes the detector as the agent spec's section does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.tool_calls import _text
from evals.trace import Trace
from graphs.loops import Observation, scan
from graphs.spec import EntropyConfig
from tools.policy import spec_tool_name

Signal = Literal[
    "repeated_call", "cycle", "repeated_error", "identical_replan", "no_new_information",
    "polling_budget", "semantic_stagnation", "resumed_loop",
]


class LoopsExpect(Expectation):
    detected: bool = False
    signals: list[Signal] = Field(default_factory=list)  # these must be among those found
    entropy: EntropyConfig = Field(default_factory=EntropyConfig)


def _markers(trace: Trace, result_index: dict[str, int]) -> dict[int, list[Observation]]:
    """Plans, completed steps and resets from the events, keyed by the message they follow."""
    anchor = -1
    found: dict[int, list[Observation]] = {}
    for event in trace.events:
        data, kind = event.get("data") or {}, event.get("type")
        if kind == "tool_call":
            anchor = result_index.get(data.get("tool_call_id") or "", anchor)
        elif kind == "plan":
            steps = [s.get("description", "") for s in data.get("steps", [])]
            found.setdefault(anchor, []).append(Observation.plan_of(steps))
        elif kind == "step_completed":
            found.setdefault(anchor, []).append(Observation.step(str(data.get("step", ""))))
        elif kind == "stuck_detected" and not data.get("ending"):
            found.setdefault(anchor, []).append(Observation.reset())
    return found


def trace_observations(trace: Trace) -> list[Observation]:
    """The trace as the detector's observations, in order."""
    messages = trace.messages
    result_index = {
        m["tool_call_id"]: i for i, m in enumerate(messages)
        if m.get("role") == "tool" and m.get("tool_call_id")
    }
    markers = _markers(trace, result_index)
    calls: dict[str, tuple[dict[str, Any], str]] = {}
    found = list(markers.get(-1, []))
    for i, message in enumerate(messages):
        role = message.get("role")
        worker = (message.get("response_metadata") or {}).get("role") in (None, "worker")
        if role == "assistant" and worker:
            thought = _text(message.get("content")).strip()
            for call in message.get("tool_calls") or []:
                calls[call.get("id") or ""] = (call, thought)
                thought = ""
            if not message.get("tool_calls") and thought:
                found.append(Observation.text(thought))
        elif role == "tool":
            # a call the record does not show (its arguments could not be read): by name
            unread = ({"name": message.get("name") or "?"}, "")
            call, thought = calls.pop(message.get("tool_call_id") or "", unread)
            found.append(
                Observation.call(
                    spec_tool_name(call["name"]), call.get("args") or {},
                    _text(message.get("content")), error=message.get("status") == "error",
                    thought=thought,
                )
            )
        found += markers.get(i, [])
    return found


def _embedder(config: EntropyConfig) -> Callable[[list[str]], np.ndarray] | None:
    """MiniLM, loaded only when the semantic rule first needs it."""
    if not config.semantic:
        return None

    def embed(texts: list[str]) -> np.ndarray:
        from memory.embeddings import shared_embedder

        return shared_embedder().embed(texts)

    return embed


def evaluate(trace: Trace, expect: LoopsExpect, context: EvalContext) -> Score:
    detections, detector = scan(
        trace_observations(trace), expect.entropy, _embedder(expect.entropy)
    )
    found: dict[str, str] = {}
    for detection in detections:
        found.setdefault(detection.rule, detection.signal)
    problems = []
    if bool(found) != expect.detected:
        problems.append(
            "loop: " + "; ".join(found.values())
            if found
            else "no loop detected, but the scenario expects one"
        )
    missing = [s for s in expect.signals if s not in found]
    if missing:
        problems.append(f"expected signal(s) not found: {', '.join(missing)}")
    first = detections[0] if detections else None
    return Score(
        evaluator="loops",
        passed=not problems,
        score=0.0 if problems else 1.0,
        detail="; ".join(problems) if problems else ("; ".join(found.values()) or "no loop"),
        metrics={
            "loop_detected": bool(found),
            "signals": ",".join(sorted(found)),
            "first_detection_turn": first.turn if first else None,
            "loop_since_turn": first.since_turn if first else None,
            "turns": detector.turn,
            "runtime_stuck_signals": len(trace.events_of("stuck_detected")),
        },
    )


EVALUATOR = Evaluator(
    name="loops",
    description="the runtime's loop detector over the whole trace (repetition without progress)",
    expectation=LoopsExpect,
    evaluate=evaluate,
    default=True,
)
