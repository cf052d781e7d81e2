"""A live view of one run: the node it is in, the plan, tool calls and budget use.

On a terminal it redraws in place (Rich Live); otherwise it prints one line per notable
event, so logs and CI output stay readable.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from graphs.budgets import Budgets

_STATUS_STYLE = {"pending": "dim", "active": "yellow", "done": "green", "failed": "red"}
_QUIET_EVENTS = {"node"}


class LiveView:
    def __init__(
        self, console: Console, *, task_id: str, agent: str, models: str, budgets: Budgets
    ) -> None:
        self.console = console
        self.task_id = task_id
        self.agent = agent
        self.models = models
        self.budgets = budgets
        self.node = "…"
        self.steps: dict[str, dict[str, Any]] = {}
        self.current_step: str | None = None
        self.activity: deque[str] = deque(maxlen=10)
        self.iterations = self.tool_calls = self.tokens = 0
        self.started = time.monotonic()
        self._live: Live | None = None

    # -- the listener ------------------------------------------------------------------
    def on_event(self, type: str, data: dict[str, Any]) -> None:
        line = self._apply(type, data)
        if line is None:
            return
        self.activity.append(line)
        if self._live is not None:
            self._live.update(self.render())
        elif type not in _QUIET_EVENTS:
            self.console.print(f"[dim]{self.task_id[:8]}[/] {line}", highlight=False)

    def _apply(self, type: str, data: dict[str, Any]) -> str | None:
        if type == "node":
            self.node = data["node"]
            return f"→ {self.node}"
        if type == "plan":
            for step in data["steps"]:
                self.steps.setdefault(step["id"], {"description": step["description"]})
                self.steps[step["id"]].setdefault("status", "pending")
            kind = "replanned" if data.get("replan") else "planned"
            return f"[cyan]{kind}[/] {len(data['steps'])} steps" + (
                f" ({data['reason']})" if data.get("reason") else ""
            )
        if type == "model_call":
            self.tokens += data.get("tokens", 0)
            if data.get("role") == "worker":
                self.iterations += 1
            calls = ", ".join(data.get("tool_calls") or []) or "text"
            return f"[magenta]{data['role']}[/] ({data['model']}) → {calls}, {data['tokens']} tok"
        if type == "tool_call":
            self.tool_calls += 1
            if data.get("step"):
                self.current_step = data["step"]
                self.steps.setdefault(data["step"], {"description": ""})["status"] = "active"
            style = "green" if data["status"] in ("ok", "replayed") else "red"
            return f"[{style}]tool {data['tool']}[/] {data['status']} in {data['duration_ms']} ms"
        if type == "step_completed":
            self.steps.setdefault(data["step"], {"description": data.get("description", "")})
            self.steps[data["step"]]["status"] = "done"
            return f"[green]✓ step {data['step']}[/]"
        if type == "verdict":
            return f"critic: {data['decision']} {data['step_id']} — {data['reason']}"
        if type == "stuck_detected":
            return f"[bold yellow]stuck:[/] {data['signal']}"
        if type == "budget_exhausted":
            return f"[bold red]budget exhausted:[/] {data['budget']}"
        if type == "approval_requested":
            return f"[bold yellow]approval needed:[/] {data['tool']} {data.get('args')}"
        if type == "approval_decided":
            return f"approval: {data['action']} {data['tool']} by {data['decided_by']}"
        if type == "state_change":
            return f"task {data['from']} → [bold]{data['to']}[/]" + (
                f" ({data['stop_reason']})" if data.get("stop_reason") else ""
            )
        if type == "error":
            return f"[red]error:[/] {data['error']}"
        return None

    # -- rendering ---------------------------------------------------------------------
    def _budget_row(self, table: Table, name: str, used: float, limit: float, fmt: str) -> None:
        bar = ProgressBar(total=max(limit, 1e-9), completed=min(used, limit), width=30)
        table.add_row(name, bar, fmt.format(used=used, limit=limit))

    def render(self) -> Panel:
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
        elapsed = time.monotonic() - self.started
        self._budget_row(
            budgets, "runtime", elapsed, b.max_runtime_seconds, "{used:.1f}s/{limit:.0f}s"
        )
        activity = Text.from_markup("\n".join(self.activity) or "…")
        title = f"wakeful · {self.agent} · task {self.task_id[:8]} · node [bold]{self.node}[/]"
        return Panel(
            Group(plan, Text(""), budgets, Text(""), activity),
            title=title,
            subtitle=f"model: {self.models}",
        )

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(self.render(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        else:
            self.console.print(f"task {self.task_id} · agent {self.agent} · model: {self.models}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)
            self._live = None
