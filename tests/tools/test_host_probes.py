from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import psutil

from tools.builtins import build_builtin_registry
from tools.builtins.host_probes import (
    disk_usage,
    load_average,
    memory_usage,
    read_process,
    top_processes,
)
from tools.execution import execute_tool_call
from tools.faults import no_crash_hook
from tools.policy import ToolPolicyConfig

GB = 1024**3


def test_memory_total_matches_the_kernel() -> None:
    expected_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 / 1024

    memory = memory_usage()

    assert abs(memory["total_mb"] - expected_mb) <= 0.1
    assert 0 < memory["available_mb"] <= memory["total_mb"]
    assert 0 < memory["used_percent"] < 100
    assert abs(memory["used_mb"] - (memory["total_mb"] - memory["available_mb"])) <= 0.2


def test_load_average_matches_the_kernel() -> None:
    load = load_average()

    assert load["cpu_count"] == len(os.sched_getaffinity(0))
    assert abs(load["load_15m"] - os.getloadavg()[2]) < 0.5
    assert min(load["load_1m"], load["load_5m"], load["load_15m"]) >= 0


def test_disk_usage_of_a_path_matches_shutil(tmp_path: Path) -> None:
    usage = disk_usage(str(tmp_path))

    assert usage["path"] == str(tmp_path)
    assert usage["total_gb"] == round(shutil.disk_usage(tmp_path).total / GB, 2) > 0
    assert 0 <= usage["used_percent"] <= 100


def test_own_process_is_read_like_psutil_reads_it() -> None:
    me = psutil.Process()

    process = read_process(os.getpid())

    assert process is not None
    assert process["pid"] == me.pid and process["name"] == me.name()
    assert abs(process["rss_mb"] - me.memory_info().rss / 1024 / 1024) < 16
    assert process["cpu_ticks"] > 0


def test_vanished_process_reads_as_none() -> None:
    assert read_process(2**22 + 1) is None  # above the kernel's pid_max limit


def test_top_processes_are_sorted_by_memory() -> None:
    processes = top_processes(5)

    assert len(processes) == 5
    sizes = [p["rss_mb"] for p in processes]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
    assert all(p["name"] and p["pid"] > 0 for p in processes)


async def test_probes_run_through_the_executor(tmp_path: Path) -> None:
    registry = build_builtin_registry(tmp_path)
    toolset = registry.toolset(ToolPolicyConfig(allow=["*"]), continuous=False)
    calls = [
        ("load_average", {}),
        ("memory_usage", {}),
        ("disk_usage", {"path": str(tmp_path)}),
        ("top_processes", {"n": 2}),
    ]

    outcomes = [
        await execute_tool_call(
            {"name": name, "args": args, "id": name},
            toolset,
            task_id="t",
            ledger=None,
            crash_hook=no_crash_hook,
        )
        for name, args in calls
    ]

    assert [o.status for o in outcomes] == ["ok"] * 4
    assert json.loads(outcomes[1].content)["total_mb"] > 0
    assert len(json.loads(outcomes[3].content)) == 2


async def test_disk_usage_of_a_missing_path_is_an_error(tmp_path: Path) -> None:
    toolset = build_builtin_registry(tmp_path).toolset(
        ToolPolicyConfig(allow=["disk_usage"]), continuous=False
    )

    outcome = await execute_tool_call(
        {"name": "disk_usage", "args": {"path": str(tmp_path / "nope")}, "id": "1"},
        toolset,
        task_id="t",
        ledger=None,
        crash_hook=no_crash_hook,
    )

    assert outcome.status == "error" and "FileNotFoundError" in outcome.content
