"""POST /tasks/{id}/approval answers both kinds of pending request over real HTTP: an
unknown outcome ("did this call take effect?", a write-scoped MCP call that timed out) takes
done / retry / skip, an approval takes approve / reject / edit, and an action that does not
fit the pending request's kind is a 409 that says which actions do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
STALL_SERVER = Path(__file__).parents[2] / "tools" / "mcp_servers" / "stall_server.py"
ONE_STEP = {"structured": {"steps": [{"id": "send", "description": "Send the message"}]}}
SEND = {"text": "Sending.", "tool_calls": [{"name": "s__stall", "args": {"tag": "rest"}}]}


def stalling_agent(state: Path) -> dict[str, Any]:
    """An agent whose one write call hangs past its timeout on the first call."""
    return {
        "name": "stalling",
        "model": {
            "provider": "scripted",
            "script": {"planner": [ONE_STEP], "worker": [SEND, "Handled the message."]},
        },
        "mcp_servers": [
            {
                "name": "s",
                "transport": "stdio",
                "command": "python",
                "args": [str(STALL_SERVER)],
                "env": {"MCP_TEST_STATE": str(state)},
                "scopes": {"stall": "write"},
                "timeout_s": 3,
            }
        ],
        "tools": {"allow": ["s.stall"]},
        "entropy": {"semantic": False},
    }


async def waiting_task(client: httpx.AsyncClient, task_id: str, eventually) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        task = (await client.get(f"/tasks/{task_id}")).json()
        return task if task["state"] in {"input-required", "completed", "failed"} else None

    return await eventually(settled, timeout=120, what=f"task {task_id} waiting or ended")


async def ended_task(client: httpx.AsyncClient, task_id: str, eventually) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        task = (await client.get(f"/tasks/{task_id}")).json()
        return task if task["state"] in {"completed", "failed", "canceled"} else None

    return await eventually(ended, timeout=120, what=f"task {task_id} ended")


async def test_an_unknown_outcome_takes_done_retry_or_skip(api, eventually, tmp_path) -> None:
    await api.services.agents.apply("acme", stalling_agent(tmp_path))
    submitter, approver = api.client("acme/submitter"), api.client("acme/approver")
    submitted = await submitter.post("/tasks", json={"goal": "Send it.", "agent": "stalling"})
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["id"]

    task = await waiting_task(submitter, task_id, eventually)

    assert task["state"] == "input-required", task
    pending = task["pending_approval"]
    assert (pending["kind"], pending["reason"], pending["tool"]) == (
        "unknown_outcome",
        "timeout",
        "s.stall",
    )
    assert pending["answers"] == ["done", "retry", "skip"] and pending["started_at"]
    assert pending["args"] == {"tag": "rest"} and pending["scope"] == "write"
    url = f"/tasks/{task_id}/approval"
    wrong = await approver.post(url, json={"action": "approve"})
    assert wrong.status_code == 409, wrong.text
    assert "done, retry or skip" in wrong.json()["detail"] and "'approve'" in wrong.json()["detail"]
    with_args = await approver.post(url, json={"action": "done", "args": {"tag": "other"}})
    assert with_args.status_code == 409 and "only with edit" in with_args.json()["detail"]
    unknown = await approver.post(url, json={"action": "maybe"})
    assert unknown.status_code == 422 and "action" in unknown.json()["detail"]
    assert (await submitter.get(f"/tasks/{task_id}")).json()["state"] == "input-required"

    answered = await approver.post(url, json={"action": "done", "comment": "went out as #9"})
    assert answered.status_code == 202, answered.text

    task = await ended_task(submitter, task_id, eventually)
    assert task["state"] == "completed", task
    assert (tmp_path / "stall-rest").read_text() == "1"  # ran once, never again
    events = await api.services.tasks.events("acme", task_id, limit=1000)
    [asked] = [e.data for e in events if e.type == "approval_requested"]
    assert asked["kind"] == "unknown_outcome"
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["decided_by"]) == ("done", "acme-approver")
    [call] = [e.data for e in events if e.type == "tool_call"]
    assert call["status"] == "confirmed"


async def test_an_approval_refuses_an_unknown_outcome_answer(api, eventually) -> None:
    submitter, approver = api.client("acme/submitter"), api.client("acme/approver")
    accepted = await submitter.post("/tasks", json={"goal": "Report", "agent": "gated"})
    task_id = accepted.json()["id"]

    task = await waiting_task(submitter, task_id, eventually)

    assert task["state"] == "input-required", task
    assert task["pending_approval"]["kind"] == "approval"
    url = f"/tasks/{task_id}/approval"
    for action in ("done", "retry", "skip"):
        wrong = await approver.post(url, json={"action": action})
        assert wrong.status_code == 409, wrong.text
        assert "approve, reject or edit" in wrong.json()["detail"]
    answered = await approver.post(url, json={"action": "reject", "comment": "not now"})
    assert answered.status_code == 202, answered.text
    assert (await ended_task(submitter, task_id, eventually))["state"] == "completed"
