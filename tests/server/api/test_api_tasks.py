"""REST tasks over real HTTP: submit → completed, cancel a running task, an approval round
trip, the event stream (ordered, resumable with Last-Event-ID), and tenancy."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.slow


async def task_state(client: httpx.AsyncClient, task_id: str) -> dict:
    response = await client.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_state(client, task_id, states, eventually, timeout=60.0):
    async def reached():
        task = await task_state(client, task_id)
        return task if task["state"] in states else None

    return await eventually(reached, timeout=timeout, what=f"task {task_id} in {states}")


async def test_a_submitted_task_completes(api, eventually):
    client = api.client("acme/submitter")
    response = await client.post("/tasks", json={"goal": "Check the load", "agent": "quick"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == f"/tasks/{accepted['id']}"
    assert accepted["state"] == "submitted" and accepted["agent"] == "quick"
    assert accepted["links"]["events"] == f"/tasks/{accepted['id']}/events"

    task = await wait_for_state(client, accepted["id"], {"completed", "failed"}, eventually)
    assert (task["state"], task["stop_reason"]) == ("completed", "completed")
    assert task["output"]
    assert task["pending_approval"] is None
    uses = {use["budget"]: use for use in task["budget_use"]}
    assert uses["max_iterations"]["used"] >= 1
    assert uses["max_tokens"]["limit"] > 0

    listed = (await client.get("/tasks", params={"agent": "quick", "state": "completed"})).json()
    assert accepted["id"] in [item["id"] for item in listed["items"]]


async def test_budgets_override_the_agents(api, eventually):
    client = api.client("acme/submitter")
    body = {"goal": "Check", "agent": "quick", "budgets": {"max_tokens": 1234}}
    accepted = (await client.post("/tasks", json=body)).json()
    assert accepted["budgets"]["max_tokens"] == 1234


async def test_cancel_stops_a_running_task_within_a_second(api, eventually):
    client = api.client("acme/submitter")
    accepted = (await client.post("/tasks", json={"goal": "Plan slowly", "agent": "slow"})).json()
    task_id = accepted["id"]

    async def planning():
        events = await api.services.tasks.events("acme", task_id, limit=1000)
        return any(e.type == "node" and e.data.get("node") == "planner" for e in events)

    await eventually(planning, timeout=60, what="planner entered")
    started = time.monotonic()
    response = await client.post(f"/tasks/{task_id}/cancel")
    assert response.status_code == 200, response.text
    task = await wait_for_state(
        client, task_id, {"canceled", "failed", "completed"}, eventually, timeout=10
    )
    elapsed = time.monotonic() - started
    assert task["state"] == "canceled", task
    assert elapsed <= 1.0, f"canceled after {elapsed:.2f}s"

    again = await client.post(f"/tasks/{task_id}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


async def test_approval_round_trip(api, eventually):
    submitter, approver = api.client("acme/submitter"), api.client("acme/approver")
    accepted = (await submitter.post("/tasks", json={"goal": "Report", "agent": "gated"})).json()
    task_id = accepted["id"]
    task = await wait_for_state(submitter, task_id, {"input-required", "failed"}, eventually)
    assert task["state"] == "input-required", task
    pending = task["pending_approval"]
    assert pending["tool"] == "write_report"
    assert pending["args"] == {"title": "Health", "body": "all fine"}
    assert pending["rationale"] == "Saving what I found."

    approve = {"action": "approve", "comment": "go ahead"}
    denied = await submitter.post(f"/tasks/{task_id}/approval", json=approve)
    assert denied.status_code == 403 and "approver" in denied.json()["detail"]
    elsewhere = await api.client("globex/admin").post(f"/tasks/{task_id}/approval", json=approve)
    assert elsewhere.status_code == 404

    answered = await approver.post(f"/tasks/{task_id}/approval", json=approve)
    assert answered.status_code == 202, answered.text

    task = await wait_for_state(submitter, task_id, {"completed", "failed"}, eventually)
    assert task["state"] == "completed", task
    late = await approver.post(f"/tasks/{task_id}/approval", json=approve)
    assert late.status_code == 409 and "not waiting" in late.json()["detail"]
    events = await api.services.tasks.events("acme", task_id, limit=1000)
    decided = [e.data for e in events if e.type == "approval_decided"]
    assert decided and decided[0]["action"] == "approve"
    assert decided[0]["decided_by"] == "acme-approver"


async def test_events_stream_in_order_and_resume_with_last_event_id(api, eventually, sse):
    """Read the stream until the approval is requested, drop the connection, answer it, and
    reconnect with Last-Event-ID: the rest arrives, in order, ending with the final state."""
    submitter, approver = api.client("acme/submitter"), api.client("acme/approver")
    task_id = (await submitter.post("/tasks", json={"goal": "R", "agent": "gated"})).json()["id"]

    first: list = []
    async with submitter.stream("GET", f"/tasks/{task_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in sse(response):
            first.append(event)
            if event.event == "approval_requested":
                break
    assert [int(e.id) for e in first] == list(range(1, len(first) + 1))
    assert all(e.event == e.data["type"] and int(e.id) == e.data["seq"] for e in first)

    await wait_for_state(submitter, task_id, {"input-required"}, eventually)
    answered = await approver.post(f"/tasks/{task_id}/approval", json={"action": "approve"})
    assert answered.status_code == 202

    rest: list = []
    headers = {"Last-Event-ID": first[-1].id}
    async with submitter.stream("GET", f"/tasks/{task_id}/events", headers=headers) as response:
        async for event in sse(response):  # ends by itself after the terminal state
            rest.append(event)
    seqs = [int(e.id) for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1].event == "state_change" and rest[-1].data["data"]["to"] == "completed"
    assert "approval_decided" in [e.event for e in rest]

    # The whole log, from a stream opened after the end, is the same and ends at once.
    async with submitter.stream("GET", f"/tasks/{task_id}/events") as response:
        replay = [event async for event in sse(response)]
    assert [(e.id, e.event) for e in replay] == [(e.id, e.event) for e in first + rest]
    async with submitter.stream("GET", f"/tasks/{task_id}/events?after={seqs[-1]}") as response:
        assert [event async for event in sse(response)] == []


async def test_tenancy_and_tokens(api):
    mine = api.client("acme/submitter")
    task_id = (await mine.post("/tasks", json={"goal": "Mine", "agent": "quick"})).json()["id"]

    anonymous = api.client(None)
    for method, path in (
        ("GET", "/tasks"),
        ("GET", f"/tasks/{task_id}"),
        ("POST", "/tasks"),
        ("GET", f"/tasks/{task_id}/events"),
    ):
        response = await anonymous.request(method, path, json={"goal": "x"})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = await anonymous.get("/tasks", headers={"Authorization": "Bearer wk_not-a-token"})
    assert wrong.status_code == 401 and "unknown" in wrong.json()["detail"]
    basic = await anonymous.get("/tasks", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401

    other = api.client("globex/admin")
    for method, path in (
        ("GET", f"/tasks/{task_id}"),
        ("POST", f"/tasks/{task_id}/cancel"),
        ("GET", f"/tasks/{task_id}/events"),
    ):
        response = await other.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await other.get("/tasks")).json()
    assert task_id not in [item["id"] for item in listed["items"]]

    unknown = await mine.get("/tasks/no-such-task")
    assert unknown.status_code == 404 and "no task" in unknown.json()["detail"]


async def test_bad_input_is_a_clear_4xx(api):
    client = api.client("acme/submitter")

    async def problem(method, path, status=422, **kwargs):
        response = await client.request(method, path, **kwargs)
        assert response.status_code == status, (path, kwargs, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail
        return detail

    assert "not valid JSON" in await problem(
        "POST", "/tasks", content=b'{"goal": ', headers={"content-type": "application/json"}
    )
    # bytes that are not even text (schemathesis found this one on POST /agents)
    assert "not valid JSON" in await problem(
        "POST", "/tasks", content=b"\xef\xbf\xbd{\xef\xbf\xbd\x00\xef\xbf\xbd",
        headers={"content-type": "application/json"},
    )
    assert "body" in await problem("POST", "/tasks", content=b"")
    assert "goal" in await problem("POST", "/tasks", json={"goal": 42, "agent": "quick"})
    assert "blank" in await problem("POST", "/tasks", json={"goal": "   ", "agent": "quick"})
    assert "colour" in await problem("POST", "/tasks", json={"goal": "x", "colour": "red"})
    assert "budgets.max_tokens" in await problem(
        "POST", "/tasks", json={"goal": "x", "agent": "quick", "budgets": {"max_tokens": -1}}
    )
    assert "budgets.max_wishes" in await problem(
        "POST", "/tasks", json={"goal": "x", "agent": "quick", "budgets": {"max_wishes": 3}}
    )
    assert "agent" in await problem("POST", "/tasks", json={"goal": "x", "agent": "Not A Name"})
    assert "no agent named" in await problem(
        "POST", "/tasks", json={"goal": "x", "agent": "nobody"}
    )
    assert "no goal" in await problem("POST", "/tasks", json={"agent": "quick"})
    assert "body" in await problem("POST", "/tasks", json=["a", "list"])

    assert "state" in await problem("GET", "/tasks", params={"state": "sleeping"})
    assert "limit" in await problem("GET", "/tasks", params={"limit": 0})
    assert "cursor" in await problem("GET", "/tasks", params={"cursor": "garbage!!"})

    task_id = (await client.post("/tasks", json={"goal": "x", "agent": "quick"})).json()["id"]
    assert (
        "last-event-id"
        in (
            await problem("GET", f"/tasks/{task_id}/events", headers={"Last-Event-ID": "soon"})
        ).lower()
    )
    approver = api.client("acme/approver")
    edit = await approver.post(f"/tasks/{task_id}/approval", json={"action": "edit"})
    assert edit.status_code == 422 and "args" in edit.json()["detail"]
    bogus = await approver.post(f"/tasks/{task_id}/approval", json={"action": "maybe"})
    assert bogus.status_code == 422 and "action" in bogus.json()["detail"]


async def test_pages_follow_the_cursor(api):
    client = api.client("acme/submitter")
    ids = [
        (await client.post("/tasks", json={"goal": f"page {i}", "agent": "quick"})).json()["id"]
        for i in range(3)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/tasks", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen[:3] == ids[::-1]  # newest first
