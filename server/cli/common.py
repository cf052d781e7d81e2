"""What every CLI command shares: settings, the engine, and errors that read well."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("LANGSMITH_TRACING", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
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
    quiet_libraries()
    return load_settings()


@asynccontextmanager
async def open_engine(config: Settings):
    from graphs.engine import Engine

    with err_console.status("starting the embedded stack…" if not config.database_url else
                            "connecting to DATABASE_URL…"):
        engine = await Engine.open(config)
    try:
        yield engine
    finally:
        await engine.close()


def is_interactive() -> bool:
    return sys.stdin.isatty()


AsyncFn = Callable[..., Awaitable[Any]]
