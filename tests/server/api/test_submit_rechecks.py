"""POST /tasks without a round trip for what the server verified lately (the caller's token,
the agent's spec) stays exact: the statement that creates the task checks both again, so a
token revoked or expired since its last submit is a 401 with nothing created, and an agent
re-applied or deleted in another process is submitted with its new spec or refused.
Changes are made from the test process, so the server's own caches are the stale ones."""

from __future__ import annotations

import uuid

import pytest

from server.services.auth import token_digest

pytestmark = pytest.mark.slow

QUICK = {
    "model": {
        "provider": "scripted",
        "script": {
            "planner": [{"structured": {"steps": [{"id": "s", "description": "Answer"}]}}],
            "worker": ["Done."],
        },
    },
    "tools": {"allow": []},
    "entropy": {"semantic": False},
}


async def _tasks_with_goal(api, goal: str) -> int:
    async with api.services.engine.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM tasks WHERE goal = %s", (goal,))
        row = await cur.fetchone()
    return row["n"]


async def _submitter(api, name: str):
    token = await api.services.auth.create_token("acme", "submitter", name)
    client = api.client(None)
    client.headers["Authorization"] = f"Bearer {token}"
    return token, client


async def test_a_token_revoked_after_it_submitted_is_refused_at_its_next_submit(api):
    _, client = await _submitter(api, "revoked-later")
    goal = f"revoked {uuid.uuid4()}"
    for _ in range(2):  # the second one is served by the token cache
        reply = await client.post("/tasks", json={"goal": goal, "agent": "quick"})
        assert reply.status_code == 202, reply.text
    await api.services.auth.revoke("acme", "revoked-later")
    for _ in range(2):  # refused by the write, then (forgotten) by the lookup
        reply = await client.post("/tasks", json={"goal": goal, "agent": "quick"})
        assert reply.status_code == 401, reply.text
        assert "revoked" in reply.json()["detail"]
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert await _tasks_with_goal(api, goal) == 2


async def test_a_token_expired_after_it_submitted_is_refused_at_its_next_submit(api):
    token, client = await _submitter(api, "expires-later")
    goal = f"expired {uuid.uuid4()}"
    assert (await client.post("/tasks", json={"goal": goal, "agent": "quick"})).status_code == 202
    async with api.services.engine.pool.connection() as conn:  # its expiry has come
        await conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second'"
            " WHERE token_sha256 = %s",
            (token_digest(token),),
        )
    reply = await client.post("/tasks", json={"goal": goal, "agent": "quick"})
    assert reply.status_code == 401, reply.text
    assert await _tasks_with_goal(api, goal) == 1


async def test_a_reapplied_agent_is_submitted_with_its_new_spec_and_a_deleted_one_refused(api):
    client = api.client("acme/submitter")
    name = f"respec-{uuid.uuid4().hex[:8]}"
    ids = []
    for max_iterations in (3, 5):
        await api.services.agents.apply(
            "acme", {"name": name, **QUICK, "budgets": {"max_iterations": max_iterations}}
        )
        for _ in range(2):  # the second one from the server's cached spec, when current
            reply = await client.post("/tasks", json={"goal": "Answer", "agent": name})
            assert reply.status_code == 202, reply.text
            ids.append(reply.json()["id"])
    budgets = [
        (await api.services.engine.records.get_task(task_id)).budgets["max_iterations"]
        for task_id in ids
    ]
    assert budgets == [3, 3, 5, 5]
    stored = (await api.services.engine.records.get_task(ids[-1])).agent_spec
    assert stored["budgets"]["max_iterations"] == 5

    await api.services.agents.delete("acme", name)
    reply = await client.post("/tasks", json={"goal": "Answer", "agent": name})
    assert reply.status_code == 422, reply.text
    assert "no agent named" in reply.json()["detail"]


async def test_a_submitted_task_is_queued_once_and_an_idempotent_repeat_queues_nothing(api):
    client = api.client("acme/submitter")
    headers = {"Idempotency-Key": f"once-{uuid.uuid4()}"}
    body = {"goal": f"once {uuid.uuid4()}", "agent": "quick"}
    first = await client.post("/tasks", json=body, headers=headers)
    again = await client.post("/tasks", json=body, headers=headers)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    async with api.services.engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT queue_name, task_name, lock, args FROM procrastinate_jobs"
            " WHERE args->>'task_id' = %s",
            (first.json()["id"],),
        )
        jobs = await cur.fetchall()
    assert jobs == [
        {
            "queue_name": "wakeful",
            "task_name": "wakeful.run_task",
            "lock": first.json()["id"],
            "args": {"task_id": first.json()["id"]},
        }
    ]
