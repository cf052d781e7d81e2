"""The demo's first impression: the scripted model's host-monitor report reads as a health
report. Verdict first, flagged items (a load of 18 per CPU is above the CPU count, as the
agent's instructions say to flag), and a title that is not cut mid-word."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs.health_findings import host_checks, verdict
from graphs.heuristic_script import STEP_MARKER, ToolInfo, heuristic_response

GOAL = ("Check this host's health (load average, memory, disk usage, top processes) and "
        "write a short health report with write_report.")
BUSY = {"load_1m": 36.4, "load_5m": 30.1, "load_15m": 20.0, "cpu_count": 2,
        "load_1m_per_cpu": 18.2}
MEMORY = {"total_mb": 1000.0, "available_mb": 500.0, "used_mb": 500.0, "used_percent": 50.0,
          "swap_total_mb": 0.0, "swap_used_percent": 0.0}
DISK = {"path": "/", "total_gb": 100.0, "used_gb": 95.0, "free_gb": 5.0, "used_percent": 95.0}
PROCESSES = [{"pid": 1, "name": "postgres", "state": "S", "rss_mb": 300.0, "cpu_ticks": 9,
              "cpu_seconds": 0.09}]
TOOLS = [ToolInfo(name, "read") for name in ("load_average", "memory_usage", "disk_usage",
                                             "top_processes")] + [ToolInfo("write_report", "write")]


def _outputs(load: dict) -> list[ToolMessage]:
    pairs = [("load_average", load), ("memory_usage", MEMORY), ("disk_usage", DISK),
             ("top_processes", PROCESSES)]
    return [ToolMessage(json.dumps(data), name=name, tool_call_id=f"c{i}")
            for i, (name, data) in enumerate(pairs)]


def _report(load: dict) -> dict:
    messages = [
        *_outputs(load),
        HumanMessage("Write the report", additional_kwargs={STEP_MARKER: "report"}),
    ]
    hints = {"goal": GOAL, "step": {"id": "report", "description": "Write the report with "
                                    "write_report"}, "tools": [t._asdict() for t in TOOLS]}
    reply = heuristic_response("worker", messages, TOOLS, hints)
    assert isinstance(reply, AIMessage)
    [call] = reply.tool_calls
    assert call["name"] == "write_report"
    return call["args"]


def test_a_busy_host_is_flagged_verdict_first() -> None:
    report = _report(BUSY)
    assert report["title"].endswith(": attention needed")
    body = report["body"]
    first = body.splitlines()[0]
    assert first == "**Verdict: attention needed (load, disk flagged).**"
    flagged = body.split("## Flagged", 1)[1].split("##", 1)[0]
    assert "18.2 per CPU" in flagged and "above the CPU count" in flagged
    assert "95% full" in flagged
    assert "memory" not in flagged  # 50% is fine
    assert body.index("## Flagged") < body.index("## Tool output")


def test_a_quiet_host_is_healthy() -> None:
    quiet = {**BUSY, "load_1m": 0.5, "load_1m_per_cpu": 0.25}
    checks = host_checks({"load_average": json.dumps(quiet), "memory_usage": json.dumps(MEMORY)})
    assert verdict(checks) == "healthy (nothing above the thresholds)"
    assert [c.subject for c in checks] == ["load", "memory"]


def test_a_load_of_exactly_the_cpu_count_is_not_above_it() -> None:
    at_limit = {**BUSY, "load_1m": 2.0, "load_1m_per_cpu": 1.0}
    [check] = host_checks({"load_average": json.dumps(at_limit)})
    assert not check.flagged


def test_a_report_without_host_probes_keeps_its_title_whole() -> None:
    long_goal = "Summarise " + "the quarterly numbers " * 8 + "for the board with write_report"
    messages = [HumanMessage("Write", additional_kwargs={STEP_MARKER: "report"})]
    hints = {"goal": long_goal, "step": {"id": "report", "description": "write the report"},
             "tools": [{"name": "write_report", "scope": "write"}]}
    reply = heuristic_response("worker", messages, [ToolInfo("write_report", "write")], hints)
    title = reply.tool_calls[0]["args"]["title"]
    assert title.endswith("…") and len(title) <= 90
    words = title.removeprefix("Report: ").removesuffix("…").split()
    assert all(word in long_goal.split() for word in words)
