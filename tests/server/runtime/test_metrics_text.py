"""/metrics at scale (issue 10): metric_counts families are formatted by the database (one
text per family, not a row per series), the rest in Python; what a Prometheus parser reads
from the body is every counter as metric_counts holds it (totals plus deltas not rolled up
yet), label values escaped."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.api.routes.metrics import query_all, render
from server.services import Services

ODD = 'odd "name" \\ with\na newline'


async def _samples(rt: Services, tenant: str | None) -> dict[tuple[str, frozenset], float]:
    body = render(await query_all(rt, tenant)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


async def test_counters_come_out_as_metric_counts_holds_them(rt: Services) -> None:
    async with rt.engine.pool.connection() as conn:
        await conn.execute("INSERT INTO tenants (id) VALUES ('acme'), ('globex')")
        await conn.execute(
            "INSERT INTO metric_totals (metric, tenant, agent, label1, label2, n) VALUES "
            "('tasks', 'acme', %(odd)s, 'completed', '', 3),"
            "('tool_calls', 'acme', 'quick', 'load_average', 'ok', 5),"
            "('tokens', 'acme', 'quick', 'planner', '', 1200),"
            "('tokens', 'globex', 'quick', 'planner', '', 7)",
            {"odd": ODD},
        )
        await conn.execute(  # not rolled up yet: added to its total, or a series of its own
            "INSERT INTO metric_deltas (metric, tenant, agent, label1, label2, n) VALUES "
            "('tokens', 'acme', 'quick', 'planner', '', 34), ('runs', 'acme', 'quick', '', '', 2)"
        )
    everything = await _samples(rt, None)
    assert (
        everything[
            (
                "wakeful_tasks",
                frozenset({"tenant": "acme", "agent": ODD, "state": "completed"}.items()),
            )
        ]
        == 3
    )
    assert (
        everything[
            (
                "wakeful_tool_calls_total",
                frozenset(
                    {
                        "tenant": "acme",
                        "agent": "quick",
                        "tool": "load_average",
                        "status": "ok",
                    }.items()
                ),
            )
        ]
        == 5
    )
    planner = {"tenant": "acme", "agent": "quick", "role": "planner"}
    assert everything[("wakeful_tokens_total", frozenset(planner.items()))] == 1234
    assert (
        everything[
            ("wakeful_task_runs_total", frozenset({"tenant": "acme", "agent": "quick"}.items()))
        ]
        == 2
    )
    assert everything[("wakeful_killswitch", frozenset())] == 0
    acme = await _samples(rt, "acme")
    assert not any(dict(labels).get("tenant") == "globex" for _name, labels in acme)
    assert acme[("wakeful_tokens_total", frozenset(planner.items()))] == 1234


async def test_an_empty_installation_still_names_every_family(rt: Services) -> None:
    body = render(await query_all(rt, None)).decode()
    assert "# TYPE wakeful_tasks gauge" in body and "# TYPE wakeful_tokens_total counter" in body
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"wakeful_tasks", "wakeful_tokens", "wakeful_queue_depth"} <= names
