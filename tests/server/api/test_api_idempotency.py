"""A client retrying POST /tasks after a lost reply gets the same task, not a second one."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.slow


async def test_the_same_idempotency_key_returns_the_same_task(api):
    client = api.client("acme/submitter")
    body = {"goal": "Check the load once", "agent": "quick"}
    headers = {"Idempotency-Key": "retry-me-1"}
    # the same request, sent again and again at once (a client retrying after timeouts)
    replies = await asyncio.gather(*(client.post("/tasks", json=body, headers=headers)
                                     for _ in range(5)))
    assert {r.status_code for r in replies} == {202}, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    listed = (await client.get("/tasks", params={"agent": "quick", "limit": 500})).json()
    assert [t["id"] for t in listed["items"]].count(replies[0].json()["id"]) == 1

    other = await client.post("/tasks", json={**body, "goal": "Something else"},
                              headers=headers)
    assert other.status_code == 422, other.text
    assert "already used for another request" in other.text

    # the key belongs to the tenant: another tenant's same key is its own task
    theirs = await api.client("globex/admin").post(
        "/tasks", json={"goal": "Check the load once"}, headers=headers)
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["id"] != replies[0].json()["id"]


async def test_an_empty_idempotency_key_is_refused(api):
    client = api.client("acme/submitter")
    reply = await client.post("/tasks", json={"goal": "x", "agent": "quick"},
                              headers={"Idempotency-Key": ""})
    assert reply.status_code == 422, reply.text


async def test_one_key_sent_at_once_with_different_requests_makes_one_task(api):
    """Whichever request is first makes the task; the others, concurrent or not, are told
    the key was used for another request (the concurrent loser used to get a row of NULLs)."""
    client = api.client("acme/submitter")
    headers = {"Idempotency-Key": "raced-key-1"}
    replies = await asyncio.gather(*(
        client.post("/tasks", json={"goal": f"Check disk {i}", "agent": "quick"},
                    headers=headers)
        for i in range(6)
    ))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [202] + [422] * 5, [r.text for r in replies]
    assert all("used for another request" in r.text for r in replies if r.status_code == 422)
