"""/metrics writes the Prometheus text itself (issue 10: thousands of series per scrape):
byte for byte what prometheus_client makes of the same rows, escapes included."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import CollectorRegistry, generate_latest

from server.api.routes.metrics import Snapshot, families, render


def _rows() -> dict[str, list[dict[str, object]]]:
    counts = [
        {
            "metric": "tasks",
            "tenant": "acme",
            "agent": 'odd "name"\\\n',
            "label1": state,
            "label2": "",
            "n": Decimal(n),
        }
        for state, n in (("completed", 3), ("failed", 0), ("working", 1234567))
    ] + [
        {
            "metric": metric,
            "tenant": "acme",
            "agent": "quick",
            "label1": l1,
            "label2": l2,
            "n": Decimal(n),
        }
        for metric, l1, l2, n in (
            ("runs", "", "", "2"),
            ("tool_calls", "load_average", "ok", "5"),
            ("model_calls", "planner", "", "7"),
            ("tokens", "planner", "", "1e21"),
            ("approvals_requested", "", "", "1"),
            ("approvals_decided", "approve", "", "1"),
        )
    ]
    return {
        "counts": counts,
        "iteration_lag": [{"tenant": None, "agent": "watcher", "lag_seconds": Decimal("0.25")}],
        "queue": [{"queue": "wakeful", "waiting": 3, "oldest_seconds": 1e-7}],
        "killswitch": [{"killswitch_on": True}],
    }


def test_render_matches_prometheus_client() -> None:
    rows = _rows()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot(families(rows)))
    expected = generate_latest(registry)
    assert render(rows) == expected
    text = expected.decode()
    assert 'wakeful_tasks{agent="odd \\"name\\"\\\\\\n",state="working",tenant="acme"}' in text
    assert (
        'wakeful_tool_calls_total{agent="quick",status="ok",tenant="acme",tool="load_average"}'
        in text
    )
    assert "wakeful_killswitch 1.0" in text


def test_render_of_nothing_still_names_every_family() -> None:
    rows = {"counts": [], "iteration_lag": [], "queue": [], "killswitch": []}
    text = render(rows).decode()
    assert "# TYPE wakeful_tasks gauge" in text and "# TYPE wakeful_tokens_total counter" in text
