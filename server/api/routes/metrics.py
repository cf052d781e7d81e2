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

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from server.api.deps import AdminDep, ServicesDep
from server.api.schemas.errors import NO_TOKEN, error_responses
from server.services import Services
from stack.sql import load_queries

router = APIRouter(tags=["operations"])

_QUERIES = Path(__file__).with_suffix(".sql")
Rows = dict[str, list[dict[str, Any]]]


TA = ("tenant", "agent")
COUNTS = "counter_lines"  # every metric_counts counter, formatted in SQL (see params)
# (kind, name, help, query, labels, value column, metric_counts metric): counters get
# `_total` on exposition; a family of metric_counts takes the rows of its metric, whose
# label1 and label2 are its labels after tenant and agent.
FAMILIES: tuple[tuple[type, str, str, str, tuple[str, ...], str, str | None], ...] = (
    (GaugeMetricFamily, "wakeful_tasks", "Tasks by state", COUNTS, (*TA, "state"), "n", "tasks"),
    (CounterMetricFamily, "wakeful_task_runs", "Runs started by workers", COUNTS, TA, "n", "runs"),
    (
        CounterMetricFamily,
        "wakeful_tool_calls",
        "Tool calls",
        COUNTS,
        (*TA, "tool", "status"),
        "n",
        "tool_calls",
    ),
    (
        CounterMetricFamily,
        "wakeful_model_calls",
        "Model calls",
        COUNTS,
        (*TA, "role"),
        "n",
        "model_calls",
    ),
    (
        CounterMetricFamily,
        "wakeful_tokens",
        "Tokens used by model calls",
        COUNTS,
        (*TA, "role"),
        "n",
        "tokens",
    ),
    (
        CounterMetricFamily,
        "wakeful_approvals_requested",
        "Approval requests",
        COUNTS,
        TA,
        "n",
        "approvals_requested",
    ),
    (
        CounterMetricFamily,
        "wakeful_approvals_decided",
        "Approval answers",
        COUNTS,
        (*TA, "action"),
        "n",
        "approvals_decided",
    ),
    (
        GaugeMetricFamily,
        "wakeful_queue_depth",
        "Due jobs waiting for a worker",
        "queue",
        ("queue",),
        "waiting",
        None,
    ),
    (
        GaugeMetricFamily,
        "wakeful_queue_oldest_wait_seconds",
        "How long the oldest due job has waited",
        "queue",
        ("queue",),
        "oldest_seconds",
        None,
    ),
    (
        GaugeMetricFamily,
        "wakeful_iteration_lag_seconds",
        "How late each due continuous agent's next iteration is",
        "iteration_lag",
        TA,
        "lag_seconds",
        None,
    ),
    (
        GaugeMetricFamily,
        "wakeful_killswitch",
        "1 when the global kill switch is on",
        "killswitch",
        (),
        "killswitch_on",
        None,
    ),
)


def _exposed(kind: type, name: str) -> tuple[str, str]:
    counter = kind is CounterMetricFamily
    return (f"{name}_total", "counter") if counter else (name, "gauge")


def _template(kind: type, name: str, labels: tuple[str, ...]) -> str:
    """The SQL format() template of a metric_counts family's line: labels in name order,
    positions 1 tenant, 2 agent, 3 label1, 4 label2, 5 the value (metrics.sql)."""
    position = {"tenant": 1, "agent": 2} | {label: i for i, label in enumerate(labels[2:], 3)}
    pairs = ",".join(f'{label}="%{position[label]}$s"' for label in sorted(labels))
    return f"{_exposed(kind, name)[0]}{{{pairs}}} %5$s"


_COUNTED = [
    (metric, _template(kind, name, labels))
    for kind, name, _doc, _query, labels, _value, metric in FAMILIES
    if metric
]


def params(tenant: str | None) -> dict[str, Any]:
    """The metrics.sql queries' parameters for `tenant` (None: every tenant)."""
    return {
        "tenant": tenant,
        "metrics": [m for m, _ in _COUNTED],
        "templates": [t for _, t in _COUNTED],
    }


def _escape(value: Any) -> str:
    text = str(value or "")
    if "\\" in text or "\n" in text or '"' in text:
        text = text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return text


def render(rows: Rows) -> bytes:
    """The Prometheus text format of one scrape's rows: metric_counts families as the
    database formatted them, the few other series here (labels in name order, counters
    named `_total`, values as prometheus_client writes them)."""
    lines = {row["metric"]: row["lines"] for row in rows[COUNTS]}
    out: list[str] = []
    for kind, name, doc, query, labels, value, metric in FAMILIES:
        exposed, type_ = _exposed(kind, name)
        out.append(f"# HELP {exposed} {doc}\n# TYPE {exposed} {type_}\n")
        if metric is not None:
            if lines.get(metric):
                out.append(f"{lines[metric]}\n")
            continue
        order = sorted(labels)
        for row in rows[query]:
            number = floatToGoString(float(row[value] or 0))
            if order:
                pairs = ",".join(f'{label}="{_escape(row[label])}"' for label in order)
                out.append(f"{exposed}{{{pairs}}} {number}\n")
            else:
                out.append(f"{exposed} {number}\n")
    return "".join(out).encode()


async def query_all(services: Services, tenant: str | None) -> Rows:
    """Every query's rows, for `tenant` (None: every tenant), in one round trip."""
    queries = load_queries(_QUERIES)
    values = params(tenant)
    async with services.engine.pool.connection() as conn, conn.pipeline():
        cursors = {name: await conn.execute(query, values) for name, query in queries.items()}
        return {name: await cursor.fetchall() for name, cursor in cursors.items()}


async def scrape(services: Services, tenant: str | None) -> bytes:
    """One scrape's body: the queries, then the text."""
    return render(await query_all(services, tenant))


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
    return Response(await scrape(services, tenant), media_type=CONTENT_TYPE_LATEST)
