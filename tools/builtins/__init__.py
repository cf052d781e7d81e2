"""Built-in tools: host health probes, the report writer, and http_get."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.builtins.host_probes import host_probe_tools
from tools.builtins.http_get import http_get_tool
from tools.builtins.report import write_report_tool
from tools.registry import ToolRegistry

__all__ = ["build_builtin_registry"]


def build_builtin_registry(data_dir: Path, *, http_allow: Sequence[str] = ()) -> ToolRegistry:
    """A registry holding every built-in tool; reports go under `<data_dir>/reports/`, and
    http_get may fetch only hosts in `http_allow` (an agent spec's `tools.http_allow`)."""
    return ToolRegistry(
        [*host_probe_tools(), write_report_tool(data_dir), http_get_tool(http_allow)]
    )
