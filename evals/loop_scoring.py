"""Score the loop detector on a labelled set of trajectories (evals/datasets/loops*.jsonl).

A trajectory is labelled `loop` (with `loop_start`, the index of the first turn that
repeats earlier behaviour) or `healthy`. The detector (graphs/loops, the same code the
entropy monitor runs) replays each one; a loop counts as caught when any signal fires,
and its delay is the number of turns from `loop_start` to the first detection. Healthy
runs flagged are false alarms. Figures: precision, recall, F1, false-alarm rate, delay
(median, mean, max, share within 3 turns), per split and per pattern.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphs.loops import Detection, Observation, scan
from graphs.spec import EntropyConfig
from stack.errors import ConfigError

# dev (generated, tuned on), holdout (generated with other seeds and two unseen domains),
# handwritten (after the shapes of real agent traces: coding, browser, CI, data agents)
DEFAULT_DATASETS = ("loops.jsonl", "loops_holdout.jsonl", "loops_handwritten.jsonl")
DATASETS_DIR = Path(__file__).parent / "datasets"
TURN_KINDS = frozenset({"call", "text", "plan"})
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Trajectory:
    id: str
    split: str
    pattern: str
    label: str  # loop | healthy
    loop_start: int | None
    turns: list[dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    trajectory: Trajectory
    detection: Detection | None
    delay: int | None  # turns from loop_start to the first detection

    @property
    def flagged(self) -> bool:
        return self.detection is not None


def load_trajectories(path: Path) -> list[Trajectory]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read loop dataset {path}: {exc.strerror}") from exc
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = row["label"]
            if label not in ("loop", "healthy"):
                raise ValueError(f"label must be loop or healthy, not {label!r}")
            start = row.get("loop_start")
            if label == "loop" and not isinstance(start, int):
                raise ValueError("a loop needs an integer loop_start")
            found.append(Trajectory(str(row["id"]), str(row.get("split", path.stem)),
                                    str(row["pattern"]), label, start, list(row["turns"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a loop trajectory ({exc})") from exc
    return found


def observation(turn: dict[str, Any]) -> Observation:
    kind = turn.get("kind")
    if kind == "call":
        return Observation.call(turn["tool"], turn.get("args") or {}, turn.get("result", ""),
                                error=bool(turn.get("error")), thought=turn.get("thought", ""))
    if kind == "text":
        return Observation.text(turn["text"])
    if kind == "plan":
        return Observation.plan_of(turn["steps"])
    if kind == "step":
        return Observation.step(str(turn.get("step", "")))
    if kind == "reset":
        return Observation.reset()
    raise ConfigError(f"unknown turn kind {kind!r} (call, text, plan, step or reset)")


def thoughts(trajectories: Iterable[Trajectory]) -> list[str]:
    texts = (observation(t).thought for tr in trajectories for t in tr.turns)
    return [t for t in texts if t]


def replay(trajectory: Trajectory, config: EntropyConfig, embed: Embed | None) -> Outcome:
    detections, _ = scan((observation(t) for t in trajectory.turns), config, embed)
    first = detections[0] if detections else None
    delay = None
    if first is not None and trajectory.loop_start is not None:
        # the detector numbers turns (calls, answers, plans) from 1
        start = sum(1 for t in trajectory.turns[: trajectory.loop_start + 1]
                    if t.get("kind") in TURN_KINDS)
        delay = max(0, first.turn - start)
    return Outcome(trajectory, first, delay)


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    loops = [o for o in outcomes if o.trajectory.label == "loop"]
    healthy = [o for o in outcomes if o.trajectory.label == "healthy"]
    tp = sum(o.flagged for o in loops)
    fp = sum(o.flagged for o in healthy)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / len(loops) if loops else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = [o.delay for o in loops if o.delay is not None]
    return {
        "trajectories": len(outcomes),
        "loops": len(loops),
        "healthy": len(healthy),
        "caught": tp,
        "missed": len(loops) - tp,
        "false_alarms": fp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "false_alarm_rate": round(fp / len(healthy), 4) if healthy else 0.0,
        "delay_median": statistics.median(delays) if delays else None,
        "delay_mean": round(statistics.mean(delays), 3) if delays else None,
        "delay_max": max(delays) if delays else None,
        "within_3_turns": round(sum(d <= 3 for d in delays) / len(delays), 4) if delays else None,
        "rules": dict(Counter(o.detection.rule for o in outcomes if o.detection)),
    }


def per_pattern(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    patterns: dict[str, list[Outcome]] = {}
    for o in outcomes:
        patterns.setdefault(o.trajectory.pattern, []).append(o)
    table = {}
    for name, group in sorted(patterns.items()):
        delays = [o.delay for o in group if o.delay is not None]
        table[name] = {
            "label": group[0].trajectory.label,
            "n": len(group),
            "flagged": sum(o.flagged for o in group),
            "delay_median": statistics.median(delays) if delays else None,
            "rules": dict(Counter(o.detection.rule for o in group if o.detection)),
        }
    return table


def mistakes(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    wrong = []
    for o in outcomes:
        t = o.trajectory
        signal = o.detection.signal if o.detection else None
        row = {"id": t.id, "pattern": t.pattern, "label": t.label, "signal": signal}
        if (t.label == "loop") != o.flagged:
            wrong.append(row)
        elif o.delay is not None and o.delay > 3:
            wrong.append({**row, "late_by": o.delay})
    return wrong


def score(
    trajectories: list[Trajectory], config: EntropyConfig, embed: Embed | None
) -> dict[str, Any]:
    outcomes = [replay(t, config, embed) for t in trajectories]
    splits: dict[str, list[Outcome]] = {}
    for o in outcomes:
        splits.setdefault(o.trajectory.split, []).append(o)
    return {
        "overall": figures(outcomes),
        "splits": {
            name: {**figures(group), "patterns": per_pattern(group), "mistakes": mistakes(group)}
            for name, group in sorted(splits.items())
        },
        "semantic": embed is not None,
        "config": config.model_dump(mode="json"),
    }
