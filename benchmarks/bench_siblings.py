"""What the agent benchmarks share: loading a sibling script, and a `--tasks` main."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def load_sibling(name: str) -> ModuleType:
    """A module from benchmarks/ by file: putting benchmarks/ first on sys.path would let
    benchmarks/memory.py shadow the memory package."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tasks_main(
    doc: str,
    measure: Callable[[int], Awaitable[dict[str, Any]]],
    argv: list[str] | None,
    *,
    default: int,
    help: str,
) -> None:
    """Parse `--tasks`, run `measure` and print its JSON."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=default, help=help)
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    print(json.dumps(asyncio.run(measure(args.tasks)), indent=2))
