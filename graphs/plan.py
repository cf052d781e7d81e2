"""Plans are DAGs of steps: the planner's output schema, validation and step selection."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from graphs.state import PlanStep


class PlannedStep(BaseModel):
    """One step of the plan."""

    id: str = Field(description="short unique id, e.g. s1")
    description: str = Field(description="what to do in this step")
    depends_on: list[str] = Field(default_factory=list, description="ids of earlier steps")


class Plan(BaseModel):
    """A plan for the goal: steps forming a DAG."""

    steps: list[PlannedStep] = Field(min_length=1)


class InvalidPlan(ValueError):
    """The planner's plan is not a usable DAG."""


def _clean_id(raw: str, index: int) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", raw.strip())[:40]
    return cleaned or f"s{index + 1}"


def build_plan(plan: Plan | None, done: list[PlanStep]) -> list[PlanStep]:
    """Completed steps first, then the new ones; ids unique, dependencies known, acyclic."""
    if plan is None:
        raise InvalidPlan("the planner returned no plan")
    taken = {s["id"] for s in done}
    renamed: dict[str, str] = {}
    steps: list[PlanStep] = []
    for index, planned in enumerate(plan.steps):
        step_id = _clean_id(planned.id, index)
        while step_id in taken:
            step_id = f"{step_id}'"
        renamed[planned.id] = step_id
        taken.add(step_id)
        steps.append(
            PlanStep(
                id=step_id,
                description=planned.description.strip(),
                depends_on=[],
                status="pending",
                result=None,
                attempts=0,
            )
        )
    done_ids = {s["id"] for s in done}
    for step, planned in zip(steps, plan.steps, strict=True):
        deps = []
        for dep in planned.depends_on:
            if dep in done_ids:
                deps.append(dep)
            elif dep in renamed:
                deps.append(renamed[dep])
            else:
                raise InvalidPlan(f"step {planned.id} depends on unknown step {dep}")
        step["depends_on"] = deps
        if not step["description"]:
            raise InvalidPlan(f"step {planned.id} has no description")
    _check_acyclic(steps)
    return [*done, *steps]


def _check_acyclic(steps: list[PlanStep]) -> None:
    by_id = {s["id"]: s for s in steps}
    visiting: set[str] = set()
    finished: set[str] = set()

    def visit(step_id: str) -> None:
        if step_id in finished or step_id not in by_id:
            return
        if step_id in visiting:
            raise InvalidPlan(f"the plan has a cycle through step {step_id}")
        visiting.add(step_id)
        for dep in by_id[step_id]["depends_on"]:
            visit(dep)
        visiting.discard(step_id)
        finished.add(step_id)

    for step in steps:
        visit(step["id"])


def next_ready_step(plan: list[PlanStep]) -> PlanStep | None:
    """The first pending step whose dependencies are all done."""
    done = {s["id"] for s in plan if s["status"] == "done"}
    for step in plan:
        if step["status"] == "pending" and all(d in done for d in step["depends_on"]):
            return step
    return None


def ready_steps(plan: list[PlanStep], limit: int) -> list[PlanStep]:
    """Up to `limit` pending steps whose dependencies are all done, in plan order (the
    first is `next_ready_step`'s): the steps that can run at the same time."""
    done = {s["id"] for s in plan if s["status"] == "done"}
    ready = [
        s for s in plan if s["status"] == "pending" and all(d in done for d in s["depends_on"])
    ]
    return ready[: max(limit, 1)]


def find_step(plan: list[PlanStep], step_id: str | None) -> PlanStep | None:
    return next((s for s in plan if s["id"] == step_id), None)


def render_plan(plan: list[PlanStep]) -> str:
    lines = []
    for step in plan:
        after = f" (after {', '.join(step['depends_on'])})" if step["depends_on"] else ""
        lines.append(f"- [{step['status']}] {step['id']}: {step['description']}{after}")
    return "\n".join(lines)
