"""What every CLI command shares: settings, the engine, and errors that read well."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, ParamSpec, TextIO, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from stack.errors import ConfigError, NotFound, ServiceUnavailable, WakefulError
from stack.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_SERVICE = 3
EXIT_NOT_FOUND = 4


def quiet_libraries() -> None:
    """No hub access, no progress bars and no library warnings in the middle of our output."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    # Deprecation warnings of setuptools itself (pkg_resources & co.), which dependencies
    # can set off on import: nothing an operator can act on.
    warnings.filterwarnings("ignore", module=r"(setuptools|_distutils_hack|pkg_resources)")
    warnings.filterwarnings("ignore", message=r".*(pkg_resources|[Ss]etuptools).*")
    handler = CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records to whatever sys.stderr is now: while a live view is up, Rich has it
    print above the view instead of through it."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def fail(message: str, code: int) -> typer.Exit:
    # Escaped: messages quote patterns and JSON whose [..] Rich would take for markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def handle_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn our errors into one red line and an exit code; never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise fail(str(exc), EXIT_CONFIG) from None
        except ServiceUnavailable as exc:
            raise fail(str(exc), EXIT_SERVICE) from None
        except NotFound as exc:
            raise fail(str(exc), EXIT_NOT_FOUND) from None
        except WakefulError as exc:
            raise fail(str(exc), 1) from None

    return wrapper


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings() -> Settings:
    """The settings every command runs on; also routes what libraries and MCP servers
    print (progress bars, stderr lines) away from our output."""
    from server.cli.startup_view import report_startups
    from tools.mcp.server_stderr import route_stderr_to

    quiet_libraries()
    config = load_settings()
    route_stderr_to(config.data_dir / "logs")
    report_startups(err_console)
    return config


def waiting_message(config: Settings) -> str:
    return "connecting to DATABASE_URL…" if config.database_url else "starting the embedded stack…"


@asynccontextmanager
async def open_engine(config: Settings):
    from graphs.engine import Engine
    from server.cli.startup_view import startup_progress

    with startup_progress(err_console, waiting_message(config)):
        engine = await Engine.open(config)
    try:
        yield engine
    finally:
        await engine.close()


def unique_prefix_match(what: str, prefix: str, matches: list[str]) -> str:
    """The one of `matches` (the `what`s starting with `prefix`: ids are shown shortened,
    so their start is accepted wherever a full one is); else an error saying which."""
    if not prefix:
        raise ConfigError(f"give the {what} (or its start)")
    if prefix in matches:
        return prefix
    if not matches:
        raise NotFound(f"no {what} starts with {prefix!r}")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise ConfigError(f"{prefix!r} is the start of several {what}s ({shown}); "
                          "give more characters")
    return matches[0]


def is_interactive() -> bool:
    return sys.stdin.isatty()


AsyncFn = Callable[..., Awaitable[Any]]
