"""Backing services starting, as the CLI shows them: a spinner naming the service being
waited for, and one line per service once it is ready, with how long it took."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.status import Status

from stack.startup import ServiceNews, listening


def news_line(news: ServiceNews) -> str:
    """`✓ Postgres ready in 2.1s (embedded, /data/pg)`, as Rich markup."""
    detail = f" [dim]({escape(news.detail)})[/]" if news.detail else ""
    if news.seconds is None:
        return f"[yellow]…[/] starting {escape(news.service)}{detail}"
    if news.failed:
        return f"[red]✗ {escape(news.service)}[/] failed after {news.seconds:.1f}s{detail}"
    return f"[green]✓[/] {escape(news.service)} ready in {news.seconds:.1f}s{detail}"


class StartupLines:
    """A listener for stack.startup: updates a spinner (if any) and prints ready lines."""

    def __init__(self, console: Console, status: Status | None = None) -> None:
        self.console = console
        self.status = status

    def __call__(self, news: ServiceNews) -> None:
        if news.seconds is None:
            if self.status is not None:
                self.status.update(f"starting {escape(news.service)}…")
            return
        self.console.print(news_line(news), highlight=False)


@contextlib.contextmanager
def startup_progress(console: Console, waiting_for: str) -> Iterator[None]:
    """A spinner (`waiting_for` until a service says it starts) and a line per service."""
    with console.status(waiting_for) as status, listening(StartupLines(console, status)):
        yield


_base = contextlib.ExitStack()  # the process-wide listener, left in place until exit


def report_startups(console: Console) -> None:
    """From now on, print a line whenever a service becomes ready (once per process)."""
    global _reporting
    if not _reporting:
        _base.enter_context(listening(StartupLines(console)))
        _reporting = True


_reporting = False
