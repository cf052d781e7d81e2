"""Tasks as callers see them (HTTP, A2A, CLI): submit, look, list, cancel, approve, follow.

Every call is scoped to a tenant: another tenant's task is NotFound, never Forbidden, so ids
cannot be probed. Submitting queues the run in the same transaction that creates the task;
with an idempotency key, a client retrying after a lost reply gets the same task back.
Every state change goes through the lifecycle (stack/lifecycle.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import procrastinate
from pydantic import ValidationError

from graphs.approval import ApprovalDecision, check_decision_fits
from graphs.budgets import Budgets
from graphs.engine import Engine
from graphs.runner import TaskRunner
from graphs.spec import AgentSpec
from server.runtime.event_feed import EventFeed
from server.runtime.killswitch import KillSwitch
from server.runtime.queue import defer_run, run_job
from server.services.agents import AgentService
from server.services.submit_specs import SubmitSpecs
from stack.errors import ConfigError, Conflict, NotFound, TransitionRefused
from stack.lifecycle import AgentSpecChanged, TaskLifecycle
from stack.sql import load_queries
from stack.task_records import EventRow, TaskRow, TaskState, new_task_id

_QUERIES = Path(__file__).with_suffix(".sql")
MAX_GOAL_CHARS = 20_000
MAX_PAGE = 500
MAX_EVENTS_PAGE = 10_000
_SPEC_RETRIES = 3  # builds of a task whose agent's spec keeps changing meanwhile
_USAGE_VS_BUDGET = (
    ("iterations", "max_iterations"),
    ("tool_calls", "max_tool_calls"),
    ("tokens", "max_tokens"),
    ("active_seconds", "max_runtime_seconds"),
)


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


@dataclass(frozen=True)
class BudgetUse:
    budget: str  # the budget's name, e.g. max_tokens
    used: float
    limit: float


@dataclass(frozen=True)
class TaskView:
    task: TaskRow
    budgets: list[BudgetUse]
    approval: dict[str, Any] | None  # the pending approval request (with its interrupt id)


class TaskService:
    def __init__(
        self,
        engine: Engine,
        queue: procrastinate.App,
        control: TaskLifecycle,
        agents: AgentService,
        killswitch: KillSwitch,
        feed: EventFeed,
    ) -> None:
        self.engine = engine
        self.pool = engine.pool
        self.records = engine.records
        self.runner = TaskRunner(engine)
        self.queue = queue
        self.control = control
        self.agents = agents
        self.killswitch = killswitch
        self.feed = feed
        self.specs = SubmitSpecs(engine.pool)

    async def submit(
        self,
        tenant: str,
        *,
        goal: str | None,
        agent: str | None,
        budgets: dict[str, Any] | None,
        idempotency_key: str | None = None,
        token_sha256: str | None = None,
    ) -> TaskRow:
        """Create a task for `agent` (an applied agent's name; None: the default agent) and
        queue its run. The goal falls back to the agent's; budgets override the agent's.

        With `idempotency_key`, the same request again returns the task it created first
        (nothing new is queued); the key reused for another request is a ConfigError.
        With `token_sha256`, the caller's token must still be active (TokenInactive
        otherwise), checked in the statement that creates the task: one round trip, with
        the agent's spec read from a cache that the same statement proves current."""
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise ConfigError("the idempotency key must be 1 to 255 characters")
        for attempt in range(_SPEC_RETRIES):
            entry = await self.specs.get(tenant, agent) if agent else self.specs.default()
            resolved = _goal(goal, entry.spec)
            merged = _budgets(entry.spec, budgets)
            task_id = new_task_id()
            try:
                task, _created = await self.control.submit(
                    task_id=task_id, goal=resolved, agent=entry.spec.name,
                    budgets=merged.model_dump(), agent_spec=entry.stored, tenant=tenant,
                    job=run_job(self.queue, task_id), idempotency_key=idempotency_key,
                    request={"goal": resolved, "agent": agent, "budgets": budgets},
                    token_sha256=token_sha256, agent_spec_md5=entry.md5,
                )
            except AgentSpecChanged:
                assert agent is not None  # the default agent is never checked
                self.specs.forget(tenant, agent)
                if attempt + 1 == _SPEC_RETRIES:
                    raise Conflict(f"agent {agent!r} changed while the task was submitted; "
                                   "submit again") from None
                continue
            return task
        raise AssertionError("unreachable")

    async def get(self, tenant: str, task_id: str) -> TaskView:
        task = await self._task(tenant, task_id)
        usage = task.usage or {}
        budgets = [
            BudgetUse(limit_key, float(usage.get(used_key, 0) or 0),
                      float(task.budgets.get(limit_key, 0) or 0))
            for used_key, limit_key in _USAGE_VS_BUDGET
        ]
        approval = None
        if task.state == "input-required":
            pending = await self.runner.pending_interrupts(task.id)
            approval = pending[0] if pending else None
        return TaskView(task, budgets, approval)

    async def list(
        self,
        tenant: str,
        *,
        state: str | None = None,
        agent: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        updated_after: datetime | None = None,
    ) -> tuple[list[TaskRow], str | None]:
        """A page of the tenant's tasks, newest first, and the cursor of the next page
        (only tasks changed at or after `updated_after`, when given)."""
        if state is not None and state not in get_args(TaskState):
            raise ConfigError(f"unknown state {state!r}; states are {list(get_args(TaskState))}")
        if not 1 <= limit <= MAX_PAGE:
            raise ConfigError(f"limit must be between 1 and {MAX_PAGE}")
        before_created, before_id = _decode_cursor(cursor) if cursor else (None, None)
        params = {
            "tenant": tenant, "state": state, "agent": agent, "limit": limit + 1,
            "updated_after": updated_after,
            "before_created": before_created, "before_id": before_id,
        }
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("list_page"), params)).fetchall()
        tasks = [TaskRow.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return tasks, _encode_cursor(tasks[-1]) if more and tasks else None

    async def cancel(self, tenant: str, task_id: str, *, by: str = "api") -> TaskRow:
        """Stop a task: at once when it is queued or waiting, at its next node boundary (and
        its in-flight model call abandoned) when it runs. Conflict when it already ended."""
        return await self.control.cancel(task_id, by=by, tenant=tenant)

    async def decide(
        self, tenant: str, task_id: str, decision: ApprovalDecision
    ) -> TaskRow:
        """Answer the pending approval: the task is working again at once and its run resumes
        on a worker (which records the answer). Conflict unless it is input-required."""
        task = await self._task(tenant, task_id)
        pending = await self.runner.pending_interrupts(task_id) if task.state == (
            "input-required") else []
        if not pending:
            raise Conflict(f"task {task_id} is {task.state}, not waiting for an approval")
        try:  # an answer that does not fit the question (approve for "did it happen?")
            check_decision_fits(pending[0], decision)
        except ValueError as exc:
            raise Conflict(f"task {task_id}: {exc}") from None
        async with self.pool.connection() as conn, conn.transaction():
            try:
                task = await self.control.answered(
                    conn, task_id, tenant=tenant, by=decision.decided_by,
                    action=decision.action,
                )
            except TransitionRefused:
                raise Conflict(f"task {task_id} is no longer waiting for an answer") from None
            await defer_run(self.queue, conn, task_id,
                            decision=decision.model_dump(mode="json"),
                            interrupt_id=pending[0]["id"])
        return task

    async def events(
        self, tenant: str, task_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[EventRow]:
        if not 1 <= limit <= MAX_EVENTS_PAGE:
            raise ConfigError(f"limit must be between 1 and {MAX_EVENTS_PAGE}")
        if after < 0:
            raise ConfigError("after must be 0 or more")
        await self._task(tenant, task_id)
        return await self.records.list_events(task_id, after=after, limit=limit)

    async def wait_for_events(self, task_id: str, after: int, timeout: float) -> None:
        """Return when the task has an event newer than `after`, or after `timeout` seconds."""
        await self.feed.wait(task_id, after, timeout)

    async def _task(self, tenant: str, task_id: str) -> TaskRow:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("tenant_task"), {"id": task_id, "tenant": tenant})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        return TaskRow.from_row(row)


def _goal(goal: str | None, spec: AgentSpec) -> str:
    if goal is not None and not isinstance(goal, str):
        raise ConfigError("goal must be a string")
    goal = (goal or "").strip() or spec.goal or (spec.autonomous.goal if spec.autonomous else None)
    if not goal:
        raise ConfigError(f"no goal: give one, or set `goal:` in agent {spec.name!r}")
    if len(goal) > MAX_GOAL_CHARS:
        raise ConfigError(f"the goal is longer than {MAX_GOAL_CHARS} characters")
    return goal


def _budgets(spec: AgentSpec, budgets: dict[str, Any] | None) -> Budgets:
    if budgets is None:
        return spec.budgets
    if not isinstance(budgets, dict):
        raise ConfigError("budgets must be an object of budget names to numbers")
    try:
        return spec.budgets.merged(**budgets)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid budgets: {problems}") from None


def _encode_cursor(task: TaskRow) -> str:
    raw = json.dumps([task.created_at.isoformat(), task.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, task_id = json.loads(raw)
        return datetime.fromisoformat(created), str(task_id)
    except (ValueError, TypeError) as exc:
        raise ConfigError("invalid cursor; pass the next_cursor of a previous page") from exc
