"""Eval scenarios fail on purpose; their tasks belong to the `eval` tenant, so the
operator's `local` tenant (its `task list --state failed`, console and /metrics) never
shows them."""

from __future__ import annotations

from pathlib import Path

from evals.dataset import load_dataset
from evals.runner import EVAL_TENANT, run_scenario


async def test_scenario_tasks_stay_out_of_the_operators_tenant(
    eval_engine, core_dataset_path: Path
) -> None:
    dataset = load_dataset(core_dataset_path).select(["budget-iterations"])
    [scenario] = dataset.scenarios
    trace, _ = await run_scenario(eval_engine, scenario, dataset=dataset.name, repeat=0)
    task_id = trace.task["id"]
    assert trace.task["tenant"] == EVAL_TENANT == "eval"
    assert trace.task["stop_reason"] == "max_iterations"  # it did end badly, on purpose

    records = eval_engine.records
    mine = {t.id for t in await records.list_tasks(tenant=EVAL_TENANT, limit=1000)}
    operators = {t.id for t in await records.list_tasks(tenant="local", limit=1000)}
    assert task_id in mine and task_id not in operators
