"""The live view on a terminal (a Rich console forced to be one): alive before the first
event (what it waits for, services starting), redrawn on a timer with the budget's own
runtime clock (the task's active seconds, running only in the nodes charged for their
time, not the time since the view opened), and event text shown as it is, brackets
included."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from graphs.budgets import Budgets
from server.cli.live_view import LiveView
from stack.startup import starting

RUNTIME = re.compile(r"runtime\s+\S+\s+(\d+\.\d)s/300s")


def _view(file: io.StringIO | None = None, **usage: float) -> LiveView:
    console = Console(file=file or io.StringIO(), force_terminal=True, width=110,
                      color_system=None)
    return LiveView(console, task_id="0123456789abcdef", agent="host-monitor", models="scripted",
                    budgets=Budgets(max_runtime_seconds=300), usage=usage or None)


def _text(view: LiveView) -> str:
    capture = Console(file=io.StringIO(), width=110, color_system=None)
    capture.print(view.render())
    return capture.file.getvalue()  # type: ignore[attr-defined]


def _eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)
    return result


def test_before_the_first_event_it_says_what_it_waits_for() -> None:
    view = _view()
    with view:
        assert "node starting" in _text(view) and "starting the run…" in _text(view)
        with starting("FalkorDB", "embedded, /data/graph"):
            assert "starting FalkorDB" in _text(view)
            assert re.search(r"services\s+… FalkorDB \d+\.\ds", _text(view))
        shown = _text(view)
        assert "starting FalkorDB" not in shown
        assert re.search(r"services\s+✓ FalkorDB \d+\.\ds", shown)
        view.on_event("node", {"node": "planner"})
        assert "node planner" in _text(view) and "starting the run" not in _text(view)
        assert "✓ FalkorDB" in _text(view)  # the services stay in view


def test_it_redraws_on_a_timer_and_the_clock_runs_only_while_working() -> None:
    out = io.StringIO()
    view = _view(out, active_seconds=12.0)
    with view:
        assert RUNTIME.findall(_text(view)) == ["12.0"]  # the task's own clock to begin with
        view.on_event("state_change", {"from": "submitted", "to": "working"})
        view.on_event("node", {"node": "worker"})
        # No more events: the timer alone must show the clock moving.
        readings = _eventually(lambda: len(set(RUNTIME.findall(out.getvalue()))) >= 3
                               and set(RUNTIME.findall(out.getvalue())))
        assert min(float(r) for r in readings) >= 12.0
        view.on_event("node", {"node": "recall"})  # not charged: the clock stops
        stopped = view.clock.seconds()
        time.sleep(0.3)
        assert view.clock.seconds() == stopped
        view.on_event("node", {"node": "tools"})
        view.on_event("state_change", {"from": "working", "to": "input-required"})
        stopped = view.clock.seconds()
        time.sleep(0.3)  # time passing is the subject: a wait at an approval…
        assert view.clock.seconds() == stopped  # …does not count
    after = view.clock.seconds()
    assert view.clock.seconds() == after


def test_a_reported_usage_is_the_clock() -> None:
    view = _view()
    with view:
        view.on_event("state_change", {"from": "submitted", "to": "working"})
        view.on_event("budget_exhausted", {"budget": "max_runtime_seconds", "node": "worker",
                                           "usage": {"active_seconds": 300.0}})
        assert float(RUNTIME.findall(_text(view))[0]) >= 300.0


def test_event_text_keeps_its_brackets() -> None:
    view = _view()
    with view:
        view.on_event("error", {"error": "name must match '^[a-z0-9][a-z0-9_.-]{0,62}$'"})
        view.on_event("verdict", {"decision": "revise", "step_id": "s1",
                                  "reason": "output [bold]empty[/bold]"})
    shown = _text(view)
    assert "'^[a-z0-9][a-z0-9_.-]{0,62}$'" in shown
    assert "output [bold]empty[/bold]" in shown


def test_log_records_print_above_the_view_not_through_it() -> None:
    import logging

    from server.cli.common import CurrentStderr

    handler = CurrentStderr()
    log = logging.getLogger("wakeful.test.live")
    log.addHandler(handler)
    log.propagate = False
    out = io.StringIO()
    try:
        with _view(out):
            log.warning("the knowledge graph is slow [today]")
            _eventually(lambda: "the knowledge graph is slow [today]" in out.getvalue())
    finally:
        log.removeHandler(handler)
