"""The queries the API, workers, scheduler and A2A run, each with the index that must serve
it at scale: shared by benchmarks/scale.py (timings at 1M tasks) and
tests/server/runtime/test_query_plans.py (plans on a smaller load).

Queries are taken from their .sql files by name, so a change there is what gets measured.
Each case makes its values from a Sample of the loaded rows (random but real ids, tenants,
agents, cursors).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.api.routes.metrics import params as metrics_params
from stack.sql import load_queries

REPO = Path(__file__).resolve().parents[2]
# Tables that grow with the work done: a sequential scan of one of them is a failure. (The
# agents, rules and counter tables hold a row per agent or label set: scanning is right.)
BIG_TABLES = frozenset({
    "tasks", "events", "tool_ledger", "alerts", "checkpoints", "checkpoint_blobs",
    "checkpoint_writes", "procrastinate_jobs", "procrastinate_events", "a2a_messages",
})


@dataclass
class Sample:
    """A reservoir of real values from the loaded rows."""

    every: int = 97
    seen: int = 0
    tasks: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)

    def see(self, task_id: str, tenant: str, agent: str, state: str, created: datetime) -> None:
        if self.seen % self.every == 0:
            self.tasks.append((task_id, tenant, agent, state, created))
        self.seen += 1

    def task(self, rng: random.Random) -> tuple[str, str, str, str, datetime]:
        return rng.choice(self.tasks)

    def continuous(self, rng: random.Random) -> tuple[str, str, str, str, datetime]:
        picked = [t for t in self.tasks if t[2] != "default"]
        return rng.choice(picked or self.tasks)


Params = Callable[[Sample, random.Random], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # relative to the repository
    query: str
    params: Params
    index: tuple[str, ...] = ()  # one of these must appear in its plan
    writes: bool = False  # timed in a transaction that is rolled back

    @property
    def sql(self) -> str:
        return load_queries(REPO / self.file)[self.query]


def _task(s: Sample, r: random.Random) -> dict[str, Any]:
    task_id, tenant, *_ = s.task(r)
    return {"id": task_id, "tenant": tenant}


def _page(**fixed: Any) -> Params:
    def params(s: Sample, r: random.Random) -> dict[str, Any]:
        task_id, tenant, agent, _state, created = s.continuous(r)
        values = {"tenant": tenant, "state": None, "agent": None, "limit": 51,
                  "before_created": None, "before_id": None, "updated_after": None}
        for key, value in fixed.items():
            values[key] = {"AGENT": agent, "CREATED": created, "ID": task_id}.get(value, value)
        return values
    return params


def _agent(s: Sample, r: random.Random) -> dict[str, Any]:
    _id, tenant, agent, _state, _created = s.continuous(r)
    return {"tenant": tenant, "name": agent, "agent_id": "a" + agent.removeprefix("agent-"),
            "agent": agent, "iteration_of": "a" + agent.removeprefix("agent-")}


def _since(hours: float) -> Params:
    def params(s: Sample, r: random.Random) -> dict[str, Any]:
        _id, tenant, *_ = s.task(r)
        return {"tenant": tenant, "state": None,
                "updated_after": datetime.now(UTC) - timedelta(hours=hours)}
    return params


def _tenant(state: str | None) -> Params:
    return lambda s, r: {"tenant": s.task(r)[1], "state": state}


_RETENTION = {"history_seconds": 86_400, "event_seconds": 7 * 86_400, "task_seconds": 30 * 86_400,
              "ledger_seconds": 30 * 86_400, "alert_seconds": 30 * 86_400, "batch": 1000}
# An id lookup may take either: text_pattern_ops also serves equality.
ID_INDEXES = ("tasks_pkey", "tasks_id_prefix")
TASKS_SQL = "server/services/tasks.sql"
RECORDS_SQL = "stack/task_records.sql"
METRICS_SQL = "server/api/routes/metrics.sql"
RETENTION_SQL = "stack/retention.sql"


def queries_under_test() -> list[Case]:
    cases = [
        Case("api.get_task", TASKS_SQL, "tenant_task", _task, ID_INDEXES),
        Case("api.list_tasks", TASKS_SQL, "list_page", _page(), ("tasks_tenant_page",)),
        Case("api.list_tasks_failed", TASKS_SQL, "list_page", _page(state="failed"),
             ("tasks_tenant_state_page",)),
        Case("api.list_tasks_completed_page_2", TASKS_SQL, "list_page",
             _page(state="completed", before_created="CREATED", before_id="ID"),
             ("tasks_tenant_state_page",)),
        Case("api.list_tasks_waiting", TASKS_SQL, "list_page", _page(state="input-required"),
             ("tasks_tenant_state_page",)),
        Case("api.list_tasks_of_agent", TASKS_SQL, "list_page", _page(agent="AGENT"),
             ("tasks_tenant_agent_page",)),
        Case("a2a.list_tasks_changed_last_hour", TASKS_SQL, "list_page",
             _page(updated_after=datetime.now(UTC) - timedelta(hours=1)),
             ("tasks_tenant_updated", "tasks_tenant_page")),
        Case("a2a.total_size", "server/a2a/task_store.sql", "count_tasks", _tenant(None),
             ("metric_totals_pkey",)),
        Case("a2a.total_size_completed", "server/a2a/task_store.sql", "count_tasks",
             _tenant("completed"), ("metric_totals_pkey",)),
        Case("a2a.total_size_changed", "server/a2a/task_store.sql", "count_changed",
             _since(1), ("tasks_tenant_updated",)),
        Case("cli.get_task", RECORDS_SQL, "get_task", _task, ID_INDEXES),
        Case("cli.find_by_prefix", RECORDS_SQL, "find_by_prefix",
             lambda s, r: {"pattern": s.task(r)[0][:8] + "%"}, ("tasks_id_prefix",)),
        Case("api.events", RECORDS_SQL, "list_events",
             lambda s, r: {"task_id": s.task(r)[0], "after": 0, "limit": 1000},
             ("events_task_id_seq_key",)),
        Case("cli.list_tasks_state", RECORDS_SQL, "list_tasks",
             lambda s, r: {"tenant": s.task(r)[1], "state": "failed", "agent": None,
                           "limit": 50}, ("tasks_tenant_state_page",)),
        Case("api.agent_status", "server/runtime/status.sql", "agent_status", _agent,
             ("tasks_iteration_of",)),
        Case("api.list_agents", "server/services/agents.sql", "list_agents",
             lambda s, r: {"tenant": s.task(r)[1]}),
        Case("scheduler.due_agents", "server/runtime/scheduler.sql", "due_agents",
             lambda s, r: {}, ()),
        Case("scheduler.seconds_until_due", "server/runtime/scheduler.sql", "seconds_until_due",
             lambda s, r: {}, ()),
        Case("scheduler.tokens_today", "server/runtime/scheduler.sql", "tokens_today", _agent,
             ("tasks_iteration_of",)),
        Case("alerts.list_alerts", "server/runtime/alerts.sql", "list_alerts",
             lambda s, r: {"tenant": s.task(r)[1], "agent": None, "limit": 50},
             ("alerts_tenant_fired",)),
        Case("alerts.hung_iterations", "server/runtime/alerts.sql", "hung_iterations",
             lambda s, r: {}, ()),
        Case("alerts.agent_of_task", "server/runtime/alerts.sql", "agent_of_task", _agent),
        Case("auth.principal", "server/services/auth.sql", "principal",
             lambda s, r: {"sha256": f"{r.getrandbits(256):064x}"},
             ("api_tokens_token_sha256_key",)),
        Case("worker.ledger_find_unknown", "tools/ledger.sql", "find_unknown",
             lambda s, r: {"task_id": s.task(r)[0], "tool": "write_report", "args_hash": "h",
                           "tool_call_id": "call-2"}, ("tool_ledger_unresolved",)),
        Case("a2a.goal_message_ids", "server/a2a/history.sql", "goal_message_ids",
             lambda s, r: {"ids": [s.task(r)[0] for _ in range(50)]}, ("a2a_messages_pkey",)),
    ]
    for name in load_queries(REPO / METRICS_SQL):
        cases.append(Case(f"metrics.{name}", METRICS_SQL, name,
                          lambda s, r: metrics_params(None), ()))
        cases.append(Case(f"metrics.{name}.tenant", METRICS_SQL, name,
                          lambda s, r: metrics_params(s.task(r)[1]), ()))
    for name, index in (("compact_checkpoints", "tasks_ended"),
                        ("prune_events", "tasks_ended"), ("prune_tasks", "tasks_ended"),
                        ("prune_ledger", "tool_ledger_settled"),
                        ("prune_alerts", "alerts_resolved")):
        cases.append(Case(f"retention.{name}", RETENTION_SQL, name,
                          lambda s, r: dict(_RETENTION), (index,), writes=True))
    return cases
