"""A live view of one run: the node it is in, the plan, tool calls and budget use.

On a terminal it redraws in place (Rich Live), several times a second whether or not
events come, so the runtime bar and the services being started move on their own;
otherwise it prints one line per notable event, so logs and CI output stay readable.

The runtime bar is the budget's own clock (usage.active_seconds): counted from the task's
usage when the view opens, it runs while the run is in a node that is charged for its time
(those calling models or tools, graphs/boundary.py); time spent waiting (for services to
start, for an approval) does not count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from graphs.boundary import LONG_NODES
from graphs.budgets import Budgets
from server.cli.startup_view import news_line
from stack.startup import ServiceNews, listening

_STATUS_STYLE = {"pending": "dim", "active": "yellow", "done": "green", "failed": "red"}
_QUIET_EVENTS = {"node"}
_NOT_RUNNING = {"input-required", "completed", "failed", "canceled", "rejected"}
CHARGED_NODES = LONG_NODES | {"finalize"}  # the nodes whose time usage.active_seconds counts
REFRESH_PER_SECOND = 4


def _e(value: Any) -> str:
    """Event data inside our markup: tool output and errors may hold [..] of their own."""
    return escape(str(value))


class RuntimeClock:
    """The budget's runtime clock: the usage's active seconds, plus the time since the
    run (re)started working, until it stops."""

    def __init__(self, active_seconds: float = 0.0) -> None:
        self.active_seconds = active_seconds
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def stop(self) -> None:
        if self._since is not None:
            self.active_seconds += time.monotonic() - self._since
            self._since = None

    def sync(self, active_seconds: float) -> None:
        """The run reported its usage: that is the clock now."""
        self.active_seconds = active_seconds
        if self._since is not None:
            self._since = time.monotonic()

    def seconds(self) -> float:
        running = 0.0 if self._since is None else time.monotonic() - self._since
        return self.active_seconds + running


class LiveView:
    def __init__(
        self,
        console: Console,
        *,
        task_id: str,
        agent: str,
        models: str,
        budgets: Budgets,
        usage: dict[str, Any] | None = None,
    ) -> None:
        self.console = console
        self.task_id = task_id
        self.agent = agent
        self.models = models
        self.budgets = budgets
        self.node: str | None = None  # None until the run's first node
        self.steps: dict[str, dict[str, Any]] = {}
        self.current_step: str | None = None
        self.activity: deque[str] = deque(maxlen=10)
        usage = usage or {}
        self.iterations = int(usage.get("iterations", 0))
        self.tool_calls = int(usage.get("tool_calls", 0))
        self.tokens = int(usage.get("tokens", 0))
        self.clock = RuntimeClock(float(usage.get("active_seconds", 0.0)))
        self.services: dict[str, ServiceNews] = {}  # by name: starting (since) or ready
        self._since: dict[str, float] = {}
        self.opened = time.monotonic()
        self._spinner = Spinner("dots", style="yellow")
        self._lock = threading.RLock()  # events, service news and the refresh thread
        self._live: Live | None = None
        self._listening: Any = None

    # -- the listeners -----------------------------------------------------------------
    def on_event(self, type: str, data: dict[str, Any]) -> None:
        with self._lock:
            line = self._apply(type, data)
            if line is None:
                return
            self.activity.append(line)
        if self._live is None and type not in _QUIET_EVENTS:
            self.console.print(f"[dim]{self.task_id[:8]}[/] {line}", highlight=False)

    def on_service(self, news: ServiceNews) -> None:
        """A backing service starts or is ready (stack.startup)."""
        with self._lock:
            self.services[news.service] = news
            if news.seconds is None:
                self._since[news.service] = time.monotonic()
        if self._live is None and news.seconds is not None:
            self.console.print(f"[dim]{self.task_id[:8]}[/] {news_line(news)}", highlight=False)

    def _apply(self, type: str, data: dict[str, Any]) -> str | None:
        if type == "node":
            self.node = data["node"]
            if self.node in CHARGED_NODES:
                self.clock.start()
            else:
                self.clock.stop()
            return f"→ {_e(self.node)}"
        if type == "plan":
            for step in data["steps"]:
                self.steps.setdefault(step["id"], {"description": step["description"]})
                self.steps[step["id"]].setdefault("status", "pending")
            kind = "replanned" if data.get("replan") else "planned"
            return f"[cyan]{kind}[/] {len(data['steps'])} steps" + (
                f" ({_e(data['reason'])})" if data.get("reason") else ""
            )
        if type == "model_call":
            self.tokens += data.get("tokens", 0)
            if data.get("role") == "worker":
                self.iterations += 1
            calls = ", ".join(data.get("tool_calls") or []) or "text"
            return (f"[magenta]{_e(data['role'])}[/] ({_e(data['model'])}) → {_e(calls)}, "
                    f"{data['tokens']} tok")
        if type == "tool_call":
            self.tool_calls += 1
            if data.get("step"):
                self.current_step = data["step"]
                self.steps.setdefault(data["step"], {"description": ""})["status"] = "active"
            style = "green" if data["status"] in ("ok", "replayed") else "red"
            return (f"[{style}]tool {_e(data['tool'])}[/] {_e(data['status'])} in "
                    f"{data['duration_ms']} ms")
        if type == "step_completed":
            self.steps.setdefault(data["step"], {"description": data.get("description", "")})
            self.steps[data["step"]]["status"] = "done"
            return f"[green]✓ step {_e(data['step'])}[/]"
        if type == "verdict":
            return f"critic: {_e(data['decision'])} {_e(data['step_id'])} — {_e(data['reason'])}"
        if type == "stuck_detected":
            return f"[bold yellow]stuck:[/] {_e(data['signal'])}"
        if type == "budget_exhausted":
            if "active_seconds" in (data.get("usage") or {}):
                self.clock.sync(float(data["usage"]["active_seconds"]))
            return f"[bold red]budget exhausted:[/] {_e(data['budget'])}"
        if type == "approval_requested":
            return f"[bold yellow]approval needed:[/] {_e(data['tool'])} {_e(data.get('args'))}"
        if type == "approval_decided":
            return (f"approval: {_e(data['action'])} {_e(data['tool'])} by "
                    f"{_e(data['decided_by'])}")
        if type == "state_change":
            if data["to"] in _NOT_RUNNING:
                self.clock.stop()
            return f"task {_e(data['from'])} → [bold]{_e(data['to'])}[/]" + (
                f" ({_e(data['stop_reason'])})" if data.get("stop_reason") else ""
            )
        if type == "error":
            return f"[red]error:[/] {_e(data['error'])}"
        return None

    # -- rendering ---------------------------------------------------------------------
    def _budget_row(self, table: Table, name: str, used: float, limit: float, fmt: str) -> None:
        bar = ProgressBar(total=max(limit, 1e-9), completed=min(used, limit), width=30)
        table.add_row(name, bar, fmt.format(used=used, limit=limit))

    def _services(self) -> Text:
        """One line: each service started for this run, ready (with its time) or starting."""
        now, parts = time.monotonic(), []
        for name, news in self.services.items():
            if news.seconds is None:
                parts.append(f"[yellow]…[/] {escape(name)} {now - self._since[name]:.1f}s")
            elif news.failed:
                parts.append(f"[red]✗ {escape(name)}[/]")
            else:
                parts.append(f"[green]✓[/] {escape(name)} {news.seconds:.1f}s")
        return Text.from_markup("services  " + "  ".join(parts))

    def _waiting(self) -> Table:
        """Before the first node: what the run waits for, and since when."""
        now = time.monotonic()
        starting = [name for name, news in self.services.items() if news.seconds is None]
        what = (f"starting {', '.join(escape(name) for name in starting)}" if starting
                else f"starting the run… {now - self.opened:.1f}s")
        row = Table.grid(padding=(0, 1))
        row.add_row(self._spinner, Text.from_markup(what))
        return row

    def render(self) -> Panel:
        with self._lock:
            return self._render()

    def _render(self) -> Panel:
        plan = Table.grid(padding=(0, 1))
        for step_id, step in self.steps.items():
            status = step.get("status", "pending")
            plan.add_row(
                Text(status, style=_STATUS_STYLE.get(status, "")), step_id, step["description"]
            )
        budgets = Table.grid(padding=(0, 1))
        b = self.budgets
        self._budget_row(budgets, "iterations", self.iterations, b.max_iterations, "{used}/{limit}")
        self._budget_row(budgets, "tool calls", self.tool_calls, b.max_tool_calls, "{used}/{limit}")
        self._budget_row(budgets, "tokens", self.tokens, b.max_tokens, "{used:,}/{limit:,}")
        self._budget_row(
            budgets, "runtime", self.clock.seconds(), b.max_runtime_seconds,
            "{used:.1f}s/{limit:.0f}s",
        )  # fmt: skip
        parts: list[Any] = [self._waiting()] if self.node is None else []
        parts += [self._services()] if self.services else []
        activity = Text.from_markup("\n".join(self.activity) or "…")
        parts += [plan, Text(""), budgets, Text(""), activity]
        node = "starting" if self.node is None else escape(self.node)
        title = f"wakeful · {escape(self.agent)} · task {self.task_id[:8]} · node [bold]{node}[/]"
        return Panel(Group(*parts), title=title, subtitle=f"model: {escape(self.models)}")

    def __enter__(self) -> LiveView:
        self._listening = listening(self.on_service)
        self._listening.__enter__()
        if self.console.is_terminal:
            self._live = Live(
                console=self.console, get_renderable=self.render,
                refresh_per_second=REFRESH_PER_SECOND,
            )  # fmt: skip
            self._live.__enter__()
        else:
            self.console.print(f"task {self.task_id} · agent {self.agent} · model: {self.models}")
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.clock.stop()
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)
            self._live = None
        if self._listening is not None:
            self._listening.__exit__(None, None, None)
            self._listening = None
