"""What a task cost, per model: calls, tokens and (when the spec prices the model) USD.

A run keeps the figures in its usage (`by_model`, graphs/model_usage.py), with the cost
priced from the spec's `model.prices` at run time. A trace from before that has only its
`model_call` events: tokens per model label are counted from those, with no cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FIGURES = ("calls", "input_tokens", "output_tokens", "tokens")


def by_model_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Calls and tokens per model label, counted from `model_call` events."""
    models: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("type") != "model_call":
            continue
        data = event.get("data") or {}
        entry = models.setdefault(str(data.get("model", "?")), dict.fromkeys(FIGURES, 0))
        entry["calls"] += 1
        for key in FIGURES[1:]:
            entry[key] += int(data.get(key) or 0)
    return models


def task_models(usage: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per model label: calls, input/output tokens, tokens, and `cost_usd` where priced."""
    recorded = usage.get("by_model")
    if not recorded:
        return by_model_from_events(events)
    models: dict[str, dict[str, Any]] = {}
    for label, entry in recorded.items():
        models[label] = {key: int(entry.get(key) or 0) for key in FIGURES}
        if entry.get("cost_usd") is not None:
            models[label]["cost_usd"] = float(entry["cost_usd"])
    return models


def task_cost(models: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The task's cost in USD over its priced models, or None when none is priced."""
    costs = [m["cost_usd"] for m in models.values() if m.get("cost_usd") is not None]
    return round(sum(costs), 9) if costs else None


def per_task_by_model(runs: list[Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Mean calls, tokens and cost per task of each model over `runs` (each run's per-model
    figures; a run that did not use a model counts as zero for it), most tokens first.

    `cost_usd` is None for a model no run priced."""
    if not runs:
        return []
    labels = sorted({label for run in runs for label in run})
    rows = []
    for label in labels:
        used = [run.get(label) or {} for run in runs]
        row: dict[str, Any] = {"model": label, "runs": sum(bool(u) for u in used)}
        for key in FIGURES:
            row[key] = sum(int(u.get(key) or 0) for u in used) / len(runs)
        priced = [u["cost_usd"] for u in used if u.get("cost_usd") is not None]
        row["cost_usd"] = sum(priced) / len(runs) if priced else None
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["tokens"], r["model"]))
