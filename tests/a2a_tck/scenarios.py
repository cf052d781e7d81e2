"""The kit's scenarios (scenarios/*.feature in a2a-tck) played by scripted wakeful agents.

The kit names a scenario by the prefix of a message's id; wakeful names the agent to run in
the message's metadata. `agent_for` maps one to the other (the longest matching prefix;
anything else runs `tck-default`, which completes at once), and `SPECS` are the agents the
harness applies before the run. Scenarios a wakeful agent cannot play (file and data
artifacts, a direct Message instead of a task, chunked artifacts, an executor's rejection)
are deselected by the harness instead (see run_tck.py).
"""

from __future__ import annotations

from typing import Any

ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Answer"}]}}
WRITE = {
    "text": "Writing it down.",
    "tool_calls": [{"name": "write_report", "args": {"title": "TCK", "body": "input needed"}}],
}


def answering(text: str, *, planner_latency: float = 0.0) -> dict[str, Any]:
    planner = {**ONE_STEP, "latency_seconds": planner_latency} if planner_latency else ONE_STEP
    return {
        "model": {"provider": "scripted", "script": {"planner": [planner], "worker": [text]}},
        "tools": {"allow": []},
        "entropy": {"semantic": False},
    }


GATED = {
    "model": {
        "provider": "scripted",
        "script": {"planner": [ONE_STEP], "worker": [WRITE, "Done after your answer."]},
    },
    "tools": {"allow": ["write_report"], "policies": {"write_report": "approval"}},
    "entropy": {"semantic": False},
}

# message id prefix → (agent name, spec)
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "tck-complete-task": ("tck-complete", answering("Hello from TCK")),
    "tck-artifact-text": ("tck-artifact-text", answering("Generated text content")),
    "tck-input-required": ("tck-input-required", GATED),
    "tck-stream-001": ("tck-stream-001", answering("Stream hello from TCK")),
    "tck-stream-003": ("tck-stream-003", answering("Stream task lifecycle")),
    "tck-stream-ordering-001": ("tck-stream-ordering", answering("Ordered output")),
    "tck-stream-artifact-text": ("tck-stream-artifact-text", answering("Streamed text content")),
    # runs at least 2 × TCK_STREAMING_TIMEOUT (2 s by default) before it completes
    "test-resubscribe-message-id": ("tck-long-running", answering("Done", planner_latency=6)),
}
DEFAULT = ("tck-default", answering("Hello from TCK"))


def agent_for(message_id: str) -> str:
    matches = [prefix for prefix in SCENARIOS if message_id.startswith(prefix)]
    if not matches:
        return DEFAULT[0]
    return SCENARIOS[max(matches, key=len)][0]


def specs() -> list[dict[str, Any]]:
    """Every agent to apply, as /agents bodies."""
    named = {name: spec for name, spec in [*SCENARIOS.values(), DEFAULT]}
    return [{"name": name, **spec} for name, spec in named.items()]
