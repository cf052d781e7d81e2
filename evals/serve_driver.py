"""Run a dataset's scenarios against a running wakeful HTTP API (`wakeful serve`).

For each scenario: apply its agent spec (`POST /agents`, admin token; scripted responses
inlined), queue its goal (`POST /tasks`), answer its approvals in the scripted order
(`POST /tasks/{id}/approval`) and follow `GET /tasks/{id}` until the task ends. The tasks
can then be exported (`wakeful trace export`) and judged offline (`wakeful eval run
DATASET --traces DIR`), which matches them to the scenarios by agent name.

The tasks belong to the token's tenant: give it a token of a tenant of their own (as the
in-process runner uses `eval`), so that scenarios failing on purpose stay out of the
operator's task list and metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from evals.dataset import Dataset, Scenario
from graphs.runner import self_contained
from stack.errors import WakefulError

TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
POLL_SECONDS = 0.05


class ServeRunError(WakefulError):
    """A scenario could not be run through the API (refused, or did not end in time)."""


def _checked(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.is_error:
        raise ServeRunError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.json()


async def run_scenario(
    client: httpx.AsyncClient, scenario: Scenario, *, timeout: float = 120.0
) -> str:
    """Apply the scenario's agent, run its goal to the end; the task id."""
    spec = self_contained(scenario.spec, scenario.spec_dir)
    _checked(await client.post("/agents", json=spec), f"applying agent {scenario.spec.name}")
    task = _checked(
        await client.post("/tasks", json={"goal": scenario.goal, "agent": scenario.spec.name}),
        f"submitting scenario {scenario.name}",
    )
    task_id = str(task["id"])
    decisions = iter(scenario.approvals)
    answered: set[str] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        detail = _checked(await client.get(f"/tasks/{task_id}"), f"task {task_id}")
        if detail["state"] in TERMINAL:
            return task_id
        pending = detail.get("pending_approval")
        if detail["state"] == "input-required" and pending:
            key = str(pending.get("id") or pending.get("tool_call_id"))
            if key not in answered:
                answered.add(key)
                decision = next(decisions, None)
                body = (
                    {"action": decision.action, "args": decision.args, "comment": decision.comment}
                    if decision is not None
                    else {"action": "reject", "comment": "no decision scripted"}
                )
                response = await client.post(f"/tasks/{task_id}/approval", json=body)
                if response.status_code != 409:  # 409: already answered / not waiting
                    _checked(response, f"answering task {task_id}")
                continue
        if asyncio.get_running_loop().time() > deadline:
            raise ServeRunError(
                f"scenario {scenario.name}: task {task_id} still {detail['state']} "
                f"after {timeout}s"
            )
        await asyncio.sleep(POLL_SECONDS)


async def run_dataset_via_api(
    base_url: str, token: str, dataset: Dataset, *, timeout: float = 120.0
) -> dict[str, str]:
    """Run every scenario of `dataset` through the API, concurrently; scenario -> task id."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=httpx.Timeout(30.0)
    ) as client:
        ids = await asyncio.gather(
            *(run_scenario(client, s, timeout=timeout) for s in dataset.scenarios)
        )
    return {s.name: task_id for s, task_id in zip(dataset.scenarios, ids, strict=True)}
