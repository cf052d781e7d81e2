"""The "since you were away" summary: what each agent (and all of them together) ran since a
moment, how it went, what waits for a person, what fired and what it cost.

Everything is read through the services the API uses (TaskService, AgentService,
AlertService), scoped to the signed-in tenant.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphs.approval import request_kind
from server.runtime.status import AgentStatus
from server.services import AlertRow, Services
from stack.task_records import TaskRow

PAGE = 500
MAX_TASKS = 5000  # a summary reads at most this many tasks (newest first)
OUTCOMES = ("run", "succeeded", "failed", "stuck", "canceled", "open")


def outcome(task: TaskRow) -> str:
    """How a task counts in the summary."""
    if task.stop_reason == "stuck":
        return "stuck"
    if task.state == "completed":
        return "succeeded"
    if task.state in ("failed", "rejected"):
        return "failed"
    if task.state == "canceled":
        return "canceled"
    return "open"


@dataclass
class Spend:
    tokens: float = 0
    token_budget: float = 0
    tool_calls: float = 0
    tool_call_budget: float = 0

    def add(self, task: TaskRow) -> None:
        usage, budgets = task.usage or {}, task.budgets or {}
        self.tokens += float(usage.get("tokens", 0) or 0)
        self.tool_calls += float(usage.get("tool_calls", 0) or 0)
        self.token_budget += float(budgets.get("max_tokens", 0) or 0)
        self.tool_call_budget += float(budgets.get("max_tool_calls", 0) or 0)


@dataclass
class AgentAway:
    name: str
    counts: Counter[str] = field(default_factory=Counter)
    spend: Spend = field(default_factory=Spend)
    status: AgentStatus | None = None
    last_output: TaskRow | None = None  # a continuous agent's latest iteration with output


@dataclass
class Waiting:
    task: TaskRow
    kind: str  # approval | unknown_outcome
    request: dict[str, Any]


@dataclass
class AwaySummary:
    since: datetime
    overall: AgentAway
    agents: list[AgentAway]
    waiting: list[Waiting]
    alerts: list[AlertRow]
    truncated: bool  # more tasks than MAX_TASKS since then


async def tasks_since(services: Services, tenant: str, since: datetime) -> tuple[list[TaskRow],
                                                                             bool]:
    """The tenant's tasks created at or after `since`, newest first (at most MAX_TASKS)."""
    found: list[TaskRow] = []
    cursor: str | None = None
    while len(found) < MAX_TASKS:
        page, cursor = await services.tasks.list(tenant, cursor=cursor, limit=PAGE)
        fresh = [task for task in page if task.created_at >= since]
        found += fresh
        if cursor is None or len(fresh) < len(page):
            return found, False
    return found[:MAX_TASKS], True


async def waiting_requests(services: Services, tenant: str) -> list[Waiting]:
    """Every task of the tenant that waits for a person, with what it asks."""
    waiting: list[Waiting] = []
    cursor: str | None = None
    while True:
        page, cursor = await services.tasks.list(
            tenant, state="input-required", cursor=cursor, limit=PAGE
        )
        for task in page:
            request = (await services.tasks.get(tenant, task.id)).approval
            if request is not None:
                waiting.append(Waiting(task, request_kind(request), request))
        if cursor is None:
            return waiting


async def last_output(services: Services, tenant: str, agent: str) -> TaskRow | None:
    recent, _ = await services.tasks.list(tenant, agent=agent, limit=20)
    return next((task for task in recent if task.output), None)


async def away_summary(services: Services, tenant: str, since: datetime) -> AwaySummary:
    tasks, truncated = await tasks_since(services, tenant, since)
    overall = AgentAway("all agents")
    per_agent: dict[str, AgentAway] = {}
    for agent in await services.agents.list(tenant):
        entry = per_agent[agent.name] = AgentAway(agent.name)
        entry.status = await services.agents.status(tenant, agent.name)
        if agent.continuous:
            entry.last_output = await last_output(services, tenant, agent.name)
    for task in tasks:
        entry = per_agent.setdefault(task.agent, AgentAway(task.agent))
        for target in (overall, entry):
            target.counts["run"] += 1
            target.counts[outcome(task)] += 1
            target.spend.add(task)
    alerts = [a for a in await services.alerts.list(tenant, limit=1000) if a.fired_at >= since]
    agents = sorted(per_agent.values(), key=lambda a: (-a.counts["run"], a.name))
    return AwaySummary(
        since=since,
        overall=overall,
        agents=agents,
        waiting=await waiting_requests(services, tenant),
        alerts=alerts,
        truncated=truncated,
    )
