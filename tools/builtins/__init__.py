"""Built-in tools: host health probes, the report writer, http_get, run_python and run_shell."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tools.builtins.host_probes import host_probe_tools
from tools.builtins.http_get import http_get_tool
from tools.builtins.report import write_report_tool
from tools.builtins.run_code import run_python_tool, run_shell_tool
from tools.registry import ToolRegistry
from tools.sandbox import Sandbox, SandboxLimits

__all__ = ["build_builtin_registry"]


def build_builtin_registry(
    data_dir: Path, *, http_allow: Sequence[str] = (), code_limits: SandboxLimits | None = None
) -> ToolRegistry:
    """A registry holding every built-in tool; reports go under `<data_dir>/reports/`,
    http_get may fetch only hosts in `http_allow` (an agent spec's `tools.http_allow`), and
    run_python / run_shell work in `<data_dir>/sandbox/<task id>/` within `code_limits`
    (an agent spec's `code:` section)."""
    sandbox = Sandbox(data_dir / "sandbox", code_limits)
    return ToolRegistry(
        [
            *host_probe_tools(),
            write_report_tool(data_dir),
            http_get_tool(http_allow),
            run_python_tool(sandbox),
            run_shell_tool(sandbox),
        ]
    )
