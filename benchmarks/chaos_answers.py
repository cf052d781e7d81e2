"""After the chaos: a person answers every "did this happen?" truthfully, over REST, from
the effects log (done when the effect is in it, retry when it is not), and the tasks are
watched to their end. Then every completed task must have made each of its effects exactly
once: the answer path is held to the same promise as the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from chaos_cluster import Queries
from chaos_report import SETTLED, STEPS, read_effects, ref_of

_WAITING = """
SELECT id, agent FROM tasks WHERE agent LIKE 'chaos-%' AND state = 'input-required'
ORDER BY created_at
"""
_STATES = "SELECT id, agent, state, stop_reason FROM tasks WHERE agent LIKE 'chaos-%'"


def answer_all(
    q: Queries,
    client: httpx.Client,
    token: Callable[[], str],
    effects_log: Path,
    *,
    settle: Callable[[], dict[str, Any]],
    rounds: int = 3,
) -> dict[str, Any]:
    """Answer what waits, let it settle, again (a resumed task may ask once more), up to
    `rounds` times; then the account of the answered tasks."""
    answers: Counter[str] = Counter()
    refused: list[dict[str, Any]] = []
    answered: set[str] = set()
    settled: dict[str, Any] = {}
    for _ in range(rounds):
        waiting = q.rows(_WAITING)
        if not waiting:
            break
        effects = read_effects(effects_log)
        for task in waiting:
            action = _answer(client, token, task, effects, refused)
            if action:
                answers[action] += 1
                answered.add(task["id"])
        settled = settle()
    return {"answers": dict(answers), "refused": refused, "settle": settled,
            **_after(q, answered, effects_log)}


def _answer(
    client: httpx.Client,
    token: Callable[[], str],
    task: dict[str, Any],
    effects: Counter[tuple[str, int]],
    refused: list[dict[str, Any]],
) -> str | None:
    auth = {"Authorization": f"Bearer {token()}"}
    detail = client.get(f"/tasks/{task['id']}", headers=auth).json()
    pending = detail.get("pending_approval") or {}
    if pending.get("kind") != "unknown_outcome":
        refused.append({"task": task["id"], "pending": pending})
        return None
    step = int((pending.get("args") or {}).get("step", 0))
    happened = effects[(ref_of(task["agent"]), step)] > 0
    body = ({"action": "done", "comment": f"effect {step} is in the log"} if happened
            else {"action": "retry"})
    reply = client.post(f"/tasks/{task['id']}/approval", json=body, headers=auth)
    if reply.status_code != 202:
        refused.append({"task": task["id"], "status": reply.status_code,
                        "reply": reply.text[:300]})
        return None
    return str(body["action"])


def _after(q: Queries, answered: set[str], effects_log: Path) -> dict[str, Any]:
    effects = read_effects(effects_log)
    tasks = [t for t in q.rows(_STATES) if t["id"] in answered]
    wrong = []
    for task in tasks:
        ref = ref_of(task["agent"])
        made = {step: effects[(ref, step)] for step in STEPS}
        if task["state"] == "completed" and set(made.values()) != {1}:
            wrong.append({"task": task["id"], "ref": ref, "effects_by_step": made})
    return {
        "answered_tasks": len(tasks),
        "by_state": dict(Counter(t["state"] for t in tasks)),
        "not_settled": [t["id"] for t in tasks if t["state"] not in SETTLED],
        "not_completed": [{"task": t["id"], "state": t["state"], "stop_reason": t["stop_reason"]}
                          for t in tasks if t["state"] != "completed"],
        "completed_without_exactly_one_effect_per_step": wrong,
        "duplicated_effects_overall": sum(n > 1 for n in effects.values()),
        "ok": not wrong and all(t["state"] == "completed" for t in tasks)
        and not any(n > 1 for n in effects.values()),
    }
