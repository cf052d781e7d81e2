"""Read-only host health probes for the monitoring demo, read straight from the kernel
(/proc, os, shutil); nothing shells out."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.spec import RegisteredTool, ToolSpec

PROC = Path("/proc")
_MB = 1024 * 1024
_GB = 1024**3


class NoArgs(BaseModel):
    """This tool takes no arguments."""

    model_config = ConfigDict(extra="forbid")


class DiskUsageArgs(BaseModel):
    path: str = Field(default="/", description="A path on the file system to measure.")


class TopProcessesArgs(BaseModel):
    n: int = Field(default=5, ge=1, le=50, description="How many processes to list.")


def load_average() -> dict[str, Any]:
    """System load averages over 1, 5 and 15 minutes, and the number of usable CPUs."""
    one, five, fifteen = os.getloadavg()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    return {
        "load_1m": round(one, 2),
        "load_5m": round(five, 2),
        "load_15m": round(fifteen, 2),
        "cpu_count": cpus,
        "load_1m_per_cpu": round(one / cpus, 2),
    }


def read_meminfo(path: Path = PROC / "meminfo") -> dict[str, int]:
    """/proc/meminfo as {field: kB}."""
    fields = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0])
    return fields


def memory_usage() -> dict[str, Any]:
    """Memory and swap in use, from /proc/meminfo."""
    info = read_meminfo()
    total, available = info["MemTotal"], info["MemAvailable"]
    swap_total, swap_free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    return {
        "total_mb": round(total / 1024, 1),
        "available_mb": round(available / 1024, 1),
        "used_mb": round((total - available) / 1024, 1),
        "used_percent": round(100 * (total - available) / total, 1),
        "swap_total_mb": round(swap_total / 1024, 1),
        "swap_used_percent": round(100 * (swap_total - swap_free) / swap_total, 1)
        if swap_total
        else 0.0,
    }


def disk_usage(path: str = "/") -> dict[str, Any]:
    """Size, use and free space of the file system holding `path`.

    `used_percent` is computed as df does: used / (used + free to unprivileged users).
    """
    usage = shutil.disk_usage(path)
    visible = usage.used + usage.free
    return {
        "path": path,
        "total_gb": round(usage.total / _GB, 2),
        "used_gb": round(usage.used / _GB, 2),
        "free_gb": round(usage.free / _GB, 2),
        "used_percent": round(100 * usage.used / visible, 1) if visible else 0.0,
    }


def read_process(pid: int) -> dict[str, Any] | None:
    """pid, name, resident memory and CPU time of one process from /proc/<pid>/stat.

    None when the process is gone or unreadable.
    """
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The name sits in parentheses and may itself contain spaces or parentheses.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 ("state")
    ticks = int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
    rss_bytes = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss pages (field 24)
    return {
        "pid": pid,
        "name": name,
        "state": fields[0],
        "rss_mb": round(rss_bytes / _MB, 1),
        "cpu_ticks": ticks,
        "cpu_seconds": round(ticks / os.sysconf("SC_CLK_TCK"), 2),
    }


def top_processes(n: int = 5) -> list[dict[str, Any]]:
    """The `n` processes using the most resident memory, largest first."""
    pids = [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]
    processes = [proc for pid in pids if (proc := read_process(pid)) is not None]
    processes.sort(key=lambda p: (p["rss_mb"], p["cpu_ticks"]), reverse=True)
    return processes[:n]


def host_probe_tools() -> list[RegisteredTool]:
    """The four probes as read-scope tools, allowed by default."""
    return [
        RegisteredTool.from_function(
            ToolSpec(
                name="load_average",
                description="System load average over 1, 5 and 15 minutes, and the CPU count.",
                scope="read",
                timeout_s=5,
            ),
            args_schema=NoArgs,
            func=load_average,
        ),
        RegisteredTool.from_function(
            ToolSpec(
                name="memory_usage",
                description="Total, available and used memory (MB, %) and swap use.",
                scope="read",
                timeout_s=5,
            ),
            args_schema=NoArgs,
            func=memory_usage,
        ),
        RegisteredTool.from_function(
            ToolSpec(
                name="disk_usage",
                description="Total, used and free space (GB, %) of the file system at a path.",
                scope="read",
                timeout_s=10,
            ),
            args_schema=DiskUsageArgs,
            func=disk_usage,
        ),
        RegisteredTool.from_function(
            ToolSpec(
                name="top_processes",
                description="The processes using the most memory: pid, name, RSS (MB), CPU time.",
                scope="read",
                timeout_s=10,
            ),
            args_schema=TopProcessesArgs,
            func=top_processes,
        ),
    ]
