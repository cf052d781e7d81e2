"""What the chaos benchmark found, from the database and the effects log, against its
targets: no task lost, no effect done twice, no task failed because of a kill, every
unknown outcome waiting for a person, nothing left working or submitted.

A duplicated effect is what the ledger's idempotency promises never to do: one logical
tool call of a task (a scripted step `(ref, step)`: the model sends each one once, though
a resumed model call gives it a new call id) taking effect more than once without a
person having answered "retry" for it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from chaos_cluster import Queries

FINAL = ("completed", "failed", "canceled", "rejected")
SETTLED = (*FINAL, "input-required")  # input-required: waiting for a person, by design
STEPS = (1, 2)  # the effects each task's agent makes (benchmarks/chaos.py)

_TASKS = """
SELECT id, agent, state, stop_reason, crash_retries, error_retries, dispatches
FROM tasks WHERE agent LIKE 'chaos-%' ORDER BY created_at
"""
_LEDGER = """
SELECT l.task_id, l.tool_call_id, l.status, l.unknown_reason, l.args_hash, l.decisions
FROM tool_ledger l JOIN tasks t ON t.id = l.task_id WHERE t.agent LIKE 'chaos-%'
"""
_REQUESTS = """
SELECT DISTINCT ON (task_id) task_id, data FROM events
WHERE type = 'approval_requested' ORDER BY task_id, seq DESC
"""
_UNKNOWN_CALLS = """
SELECT task_id, count(*) AS n FROM events
WHERE type = 'tool_call' AND data->>'status' = 'unknown_outcome' GROUP BY task_id
"""
_RUN_ERRORS = """
SELECT DISTINCT ON (task_id) task_id, data->>'error' AS error FROM events
WHERE type IN ('run_error', 'error') ORDER BY task_id, seq DESC
"""
_SEQ_GAPS = """
SELECT task_id FROM events GROUP BY task_id HAVING max(seq) <> count(*) OR min(seq) <> 1
"""
_REPEATED_KEYS = """
SELECT task_id, type, count(*) AS n FROM events WHERE type IN ('plan', 'verdict')
GROUP BY task_id, type, data HAVING count(*) > 1
"""


def read_effects(path: Path) -> Counter[tuple[str, int]]:
    effects: Counter[tuple[str, int]] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                effects[(entry["ref"], int(entry["step"]))] += 1
    return effects


def ref_of(agent: str) -> str:
    return agent.removeprefix("chaos-")


def account(
    q: Queries, effects_log: Path, submitted: dict[str, str | None]
) -> dict[str, Any]:
    """`submitted`: every ref the benchmark submitted, with the task id the API gave back
    (None when the reply was lost: the task is then looked up by its agent)."""
    tasks = q.rows(_TASKS)
    by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in tasks:
        by_ref[ref_of(task["agent"])].append(task)
    effects = read_effects(effects_log)
    ledger = q.rows(_LEDGER)
    retried = {row["task_id"] for row in ledger
               if any(d.get("action") == "retry" for d in row["decisions"] or [])}
    requests = {row["task_id"]: row["data"] for row in q.rows(_REQUESTS)}
    errors = {row["task_id"]: row["error"] for row in q.rows(_RUN_ERRORS)}

    missing = sorted(ref for ref in submitted if not by_ref.get(ref))
    unsettled = [t for t in tasks if t["state"] not in SETTLED]
    failed = [t for t in tasks if t["state"] == "failed"]
    task_of = {ref: rows[0]["id"] for ref, rows in by_ref.items()}
    duplicates = [
        {"ref": ref, "step": step, "times": n, "task": task_of.get(ref)}
        for (ref, step), n in sorted(effects.items())
        if n > 1 and task_of.get(ref) not in retried
    ]
    completed_without = [
        {"task": t["id"], "ref": ref_of(t["agent"]),
         "steps": [s for s in STEPS if not effects[(ref_of(t["agent"]), s)]]}
        for t in tasks
        if t["state"] == "completed" and not all(effects[(ref_of(t["agent"]), s)] for s in STEPS)
    ]
    unknown = _unknown_outcomes(q, tasks, ledger, requests, effects)
    return {
        "tasks": {
            "submitted": len(submitted),
            "rows": len(tasks),
            "by_state": dict(Counter(t["state"] for t in tasks)),
            "submitted_twice": sorted(ref for ref, rows in by_ref.items() if len(rows) > 1),
        },
        "lost": {
            "count": len(missing) + len(unsettled),
            "never_stored": missing,
            "not_settled": [_brief(t) for t in unsettled],
        },
        "duplicated_effects": {"count": len(duplicates), "effects": duplicates},
        "effects": {
            "logged": sum(effects.values()),
            "completed_tasks_missing_an_effect": completed_without,
        },
        "crash_caused_failures": {
            # the agent cannot fail on its own (scripted, no budget near): every failure
            # here comes from a kill, an outage or the runtime around them
            "count": len(failed),
            "by_stop_reason": dict(Counter(t["stop_reason"] for t in failed)),
            "tasks": [{**_brief(t), "last_error": (errors.get(t["id"]) or "")[:300]}
                      for t in failed],
        },
        "unknown_outcomes": unknown,
        "left_working_or_submitted": sum(t["state"] in ("working", "submitted") for t in tasks),
        "retries": {
            "crash_retries": sum(t["crash_retries"] for t in tasks),
            "max_crash_retries_of_a_task": max((t["crash_retries"] for t in tasks), default=0),
            "error_retries": sum(t["error_retries"] for t in tasks),
            "dispatches": sum(t["dispatches"] for t in tasks),
        },
        "events": {
            "tasks_with_seq_gaps": [r["task_id"] for r in q.rows(_SEQ_GAPS)],
            "repeated_plan_or_verdict": [dict(r) for r in q.rows(_REPEATED_KEYS)],
        },
    }


def _unknown_outcomes(
    q: Queries,
    tasks: list[dict[str, Any]],
    ledger: list[dict[str, Any]],
    requests: dict[str, Any],
    effects: Counter[tuple[str, int]],
) -> dict[str, Any]:
    """Every task with a call whose outcome was unknown (a ledger record left started or
    unknown, a held repeat, a question asked, or the model told of one) and where it ended."""
    by_id = {t["id"]: t for t in tasks}
    told_model = {r["task_id"]: r["n"] for r in q.rows(_UNKNOWN_CALLS)}
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ledger:
        if row["status"] in ("started", "unknown", "held") or row["unknown_reason"]:
            calls[row["task_id"]].append(row)
    asked = {tid for tid, data in requests.items() if (data or {}).get("kind") == "unknown_outcome"}
    ids = sorted(set(calls) | asked | set(told_model))
    listed = []
    for task_id in ids:
        task = by_id.get(task_id)
        if task is None:
            continue
        pending = requests.get(task_id) or {}
        waiting = task["state"] == "input-required" and pending.get("kind") == "unknown_outcome"
        args = pending.get("args") or {}
        happened = None
        if "step" in args:
            happened = effects[(ref_of(task["agent"]), int(args["step"]))] > 0
        listed.append({
            "task": task_id, "state": task["state"], "stop_reason": task["stop_reason"],
            "waiting_for_person": waiting,
            "ledger": sorted(f"{r['status']}:{r['unknown_reason'] or '-'}" for r in calls[task_id]),
            "model_told_unknown": told_model.get(task_id, 0),
            "asked_step": args.get("step"), "effect_happened": happened,
        })
    return {
        "count": len(listed),
        "waiting_for_person": sum(u["waiting_for_person"] for u in listed),
        "not_waiting": sum(not u["waiting_for_person"] for u in listed),
        "ended": dict(Counter("waiting_for_person" if u["waiting_for_person"] else u["state"]
                              for u in listed)),
        "asked_and_had_happened": sum(u["effect_happened"] is True for u in listed),
        "asked_and_had_not_happened": sum(u["effect_happened"] is False for u in listed),
        "tasks": listed,
    }


def _brief(task: dict[str, Any]) -> dict[str, Any]:
    return {"task": task["id"], "ref": ref_of(task["agent"]), "state": task["state"],
            "stop_reason": task["stop_reason"], "crash_retries": task["crash_retries"],
            "error_retries": task["error_retries"]}


def targets(found: dict[str, Any]) -> dict[str, bool]:
    return {
        "no_task_lost": found["lost"]["count"] == 0,
        "no_duplicated_effect": found["duplicated_effects"]["count"] == 0,
        "no_crash_caused_failure": found["crash_caused_failures"]["count"] == 0,
        "every_unknown_outcome_waits_for_a_person": found["unknown_outcomes"]["not_waiting"] == 0,
        "none_left_working_or_submitted": found["left_working_or_submitted"] == 0,
    }
