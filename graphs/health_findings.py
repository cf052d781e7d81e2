"""What the scripted model makes of the built-in host probes' output (load_average,
memory_usage, disk_usage, top_processes): one check per probe, flagged when above the
thresholds the host-monitor agent's instructions give, so the demo report reads as a
health report (verdict first, flagged items) and not as a dump.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The host-monitor's instructions: "Flag load above the CPU count, memory use above 90%
# and any disk above 90% full."
MAX_LOAD_PER_CPU = 1.0
MAX_MEMORY_PERCENT = 90.0
MAX_DISK_PERCENT = 90.0
PROBES = ("load_average", "memory_usage", "disk_usage", "top_processes")


@dataclass(frozen=True)
class Check:
    subject: str
    finding: str
    flagged: bool


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _load(data: dict[str, Any]) -> Check:
    cpus = data.get("cpu_count") or 1
    one = float(data.get("load_1m", 0.0))
    per_cpu = float(data.get("load_1m_per_cpu", one / cpus))
    finding = (f"1-minute load {one:g} on {cpus} CPU(s) ({per_cpu:g} per CPU; 5 and 15 min: "
               f"{data.get('load_5m', '?')}, {data.get('load_15m', '?')})")
    flagged = per_cpu > MAX_LOAD_PER_CPU
    return Check("load", finding + (" — above the CPU count" if flagged else ""), flagged)


def _memory(data: dict[str, Any]) -> Check:
    used = float(data.get("used_percent", 0.0))
    finding = (f"{used:g}% used ({data.get('used_mb', '?')} of {data.get('total_mb', '?')} MB; "
               f"swap {data.get('swap_used_percent', 0)}% used)")
    flagged = used > MAX_MEMORY_PERCENT
    return Check("memory", finding + (f" — above {MAX_MEMORY_PERCENT:g}%" if flagged else ""),
                 flagged)


def _disk(data: dict[str, Any]) -> Check:
    used = float(data.get("used_percent", 0.0))
    finding = (f"{data.get('path', '/')} {used:g}% full ({data.get('free_gb', '?')} GB free of "
               f"{data.get('total_gb', '?')} GB)")
    flagged = used > MAX_DISK_PERCENT
    return Check("disk", finding + (f" — above {MAX_DISK_PERCENT:g}%" if flagged else ""),
                 flagged)


def _processes(data: list[dict[str, Any]]) -> Check:
    shown = ", ".join(f"{p.get('name')} ({p.get('rss_mb')} MB)" for p in data[:3])
    return Check("top processes", f"largest by memory: {shown}", False)


_READERS = {"load_average": _load, "memory_usage": _memory, "disk_usage": _disk,
            "top_processes": _processes}


def host_checks(outputs: dict[str, str]) -> list[Check]:
    """A check per host probe that answered with what it should; other tools are skipped."""
    checks = []
    for name, reader in _READERS.items():
        data = _json(outputs.get(name, ""))
        expected = list if name == "top_processes" else dict
        if isinstance(data, expected) and data:
            checks.append(reader(data))
    return checks


def headline(checks: list[Check]) -> str:
    return "attention needed" if any(c.flagged for c in checks) else "healthy"


def verdict(checks: list[Check]) -> str:
    """`healthy (nothing above the thresholds)` or `attention needed (load, disk flagged)`."""
    flagged = [c.subject for c in checks if c.flagged]
    if not flagged:
        return "healthy (nothing above the thresholds)"
    return f"attention needed ({', '.join(flagged)} flagged)"
