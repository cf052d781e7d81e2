"""/metrics for Prometheus, computed from the database at each scrape. A tenant's admin sees
its own tenant's figures; an installation admin sees every tenant's and the shared queues.

The counters live in the database (metric_counts, kept current by triggers on tasks and
events as they are written; stack/migrations/0008_scale.sql), not in this process: the
figures include what every worker and server process did and survive restarts, and a
scrape reads one row per label set, whatever the number of tasks and events.

    wakeful_tasks{tenant,agent,state}                   gauge    tasks in each state
    wakeful_task_runs_total{tenant,agent}               counter  runs started by workers
    wakeful_tool_calls_total{tenant,agent,tool,status}  counter  tool calls (ok, error, ...)
    wakeful_model_calls_total{tenant,agent,role}        counter  model calls
    wakeful_tokens_total{tenant,agent,role}             counter  tokens used by model calls
    wakeful_approvals_requested_total{tenant,agent}     counter  approval requests
    wakeful_approvals_decided_total{tenant,agent,action} counter answers (approve, ...)
    wakeful_queue_depth{queue}                          gauge    due jobs waiting for a worker
    wakeful_queue_oldest_wait_seconds{queue}            gauge    how long the oldest has waited
    wakeful_iteration_lag_seconds{tenant,agent}         gauge    how late a continuous agent's
                                                                 due iteration is
    wakeful_killswitch                                  gauge    1 when the kill switch is on
                                                                 (for a tenant: the global
                                                                 one or its own)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from server.api.deps import AdminDep, ServicesDep
from server.api.schemas.errors import NO_TOKEN, error_responses
from server.services import Services
from stack.sql import load_queries

router = APIRouter(tags=["operations"])

_QUERIES = Path(__file__).with_suffix(".sql")
Rows = dict[str, list[dict[str, Any]]]


class Snapshot(Collector):
    """Metric families built from one scrape's query results."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        yield from self.families


TA = ("tenant", "agent")
# (kind, name, help, query, labels, value column); counters get `_total` on exposition.
FAMILIES: tuple[tuple[type, str, str, str, tuple[str, ...], str], ...] = (
    (GaugeMetricFamily, "wakeful_tasks", "Tasks by state", "tasks_by_state", (*TA, "state"), "n"),
    (CounterMetricFamily, "wakeful_task_runs", "Runs started by workers", "runs", TA, "n"),
    (
        CounterMetricFamily,
        "wakeful_tool_calls",
        "Tool calls",
        "tool_calls",
        (*TA, "tool", "status"),
        "n",
    ),
    (CounterMetricFamily, "wakeful_model_calls", "Model calls", "tokens", (*TA, "role"), "calls"),
    (
        CounterMetricFamily,
        "wakeful_tokens",
        "Tokens used by model calls",
        "tokens",
        (*TA, "role"),
        "tokens",
    ),
    (
        CounterMetricFamily,
        "wakeful_approvals_requested",
        "Approval requests",
        "approvals_requested",
        TA,
        "n",
    ),
    (
        CounterMetricFamily,
        "wakeful_approvals_decided",
        "Approval answers",
        "approvals_decided",
        (*TA, "action"),
        "n",
    ),
    (
        GaugeMetricFamily,
        "wakeful_queue_depth",
        "Due jobs waiting for a worker",
        "queue",
        ("queue",),
        "waiting",
    ),
    (
        GaugeMetricFamily,
        "wakeful_queue_oldest_wait_seconds",
        "How long the oldest due job has waited",
        "queue",
        ("queue",),
        "oldest_seconds",
    ),
    (
        GaugeMetricFamily,
        "wakeful_iteration_lag_seconds",
        "How late each due continuous agent's next iteration is",
        "iteration_lag",
        TA,
        "lag_seconds",
    ),
    (
        GaugeMetricFamily,
        "wakeful_killswitch",
        "1 when the global kill switch is on",
        "killswitch",
        (),
        "killswitch_on",
    ),
)


def families(rows: Rows) -> list[Any]:
    built = []
    for kind, name, doc, query, labels, value in FAMILIES:
        metric = kind(name, doc, labels=list(labels))
        for row in rows[query]:
            metric.add_metric([str(row[label] or "") for label in labels], float(row[value] or 0))
        built.append(metric)
    return built


async def query_all(services: Services, tenant: str | None) -> Rows:
    """Every query's rows, for `tenant` (None: every tenant)."""
    queries = load_queries(_QUERIES)
    rows: Rows = {}
    async with services.engine.pool.connection() as conn:
        for name, query in queries.items():
            rows[name] = await (await conn.execute(query, {"tenant": tenant})).fetchall()
    return rows


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        **error_responses({401: NO_TOKEN, 403: "the token lacks the admin role"}),
    },
)
async def metrics(principal: AdminDep, services: ServicesDep) -> Response:
    """Prometheus metrics: the caller's tenant's, or (installation admin) every tenant's and
    the job queues' (see the module docs for the list)."""
    tenant = None if principal.installation_admin else principal.tenant
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(families(await query_all(services, tenant))))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
