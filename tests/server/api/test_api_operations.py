"""Agents CRUD, alerts, the kill switch, health, readiness, metrics and the OpenAPI document,
over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow

NEW_AGENT = {
    "name": "watcher",
    "description": "Watches the load",
    "goal": "Check the load",
    "model": {"provider": "scripted", "script": {"worker": ["Fine."]}},
    "tools": {"allow": ["load_average"]},
    "entropy": {"semantic": False},
}


async def test_agents_crud_pause_resume_and_status(api):
    admin, submitter = api.client("acme/admin"), api.client("acme/submitter")
    assert (await submitter.post("/agents", json=NEW_AGENT)).status_code == 403

    created = await admin.post("/agents", json=NEW_AGENT)
    assert created.status_code == 200, created.text
    agent = created.json()
    assert (agent["name"], agent["description"], agent["paused"]) == (
        "watcher",
        "Watches the load",
        False,
    )
    assert agent["spec"]["goal"] == "Check the load"

    names = [a["name"] for a in (await submitter.get("/agents")).json()]
    assert "watcher" in names and "quick" in names
    assert (await submitter.get("/agents/watcher")).json()["name"] == "watcher"

    updated = await admin.put("/agents/watcher", json={**NEW_AGENT, "description": "Again"})
    assert updated.status_code == 200 and updated.json()["description"] == "Again"
    mismatch = await admin.put("/agents/other", json=NEW_AGENT)
    assert mismatch.status_code == 422 and "watcher" in mismatch.json()["detail"]

    assert (await admin.post("/agents/watcher/pause")).json()["paused"] is True
    status = (await submitter.get("/agents/watcher/status")).json()
    assert status["state"] == "paused" and status["queue_depth"] == 0
    assert (await admin.post("/agents/watcher/resume")).json()["paused"] is False

    # A task of the agent falls back to its goal.
    task = (await submitter.post("/tasks", json={"agent": "watcher"})).json()
    assert task["goal"] == "Check the load"

    assert (await api.client("globex/admin").get("/agents/watcher")).status_code == 404
    assert (await submitter.delete("/agents/watcher")).status_code == 403
    deleted = await admin.delete("/agents/watcher")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await submitter.get("/agents/watcher")).status_code == 404
    assert (await submitter.get("/agents/watcher/status")).status_code == 404


async def test_invalid_agent_specs_are_422(api):
    admin = api.client("acme/admin")
    for spec, words in (
        ({**NEW_AGENT, "name": "Bad Name"}, "name"),
        ({**NEW_AGENT, "budgets": {"max_iterations": 0}}, "budgets.max_iterations"),
        ({**NEW_AGENT, "surprise": 1}, "surprise"),
        ({**NEW_AGENT, "alerts": [{"when": "no_success"}]}, "threshold"),
        ({**NEW_AGENT, "model": {"provider": "scripted", "script_file": "x.yaml"}}, "script_file"),
    ):
        response = await admin.post("/agents", json=spec)
        assert response.status_code == 422, (spec, response.text)
        assert words in response.json()["detail"], response.json()
    assert (await admin.get("/agents/NOT%20A%20NAME")).status_code == 422


async def test_alerts_list(api):
    response = await api.client("acme/submitter").get("/alerts", params={"agent": "quick"})
    assert response.status_code == 200 and response.json() == []


async def test_health_and_readiness_need_no_token(api):
    anonymous = api.client(None)
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_metrics_come_from_the_database(api, eventually):
    submitter = api.client("acme/submitter")
    task_id = (await submitter.post("/tasks", json={"goal": "m", "agent": "quick"})).json()["id"]

    async def done():
        return (await submitter.get(f"/tasks/{task_id}")).json()["state"] == "completed"

    await eventually(done, timeout=60, what="task completed")
    assert (await api.client(None).get("/metrics")).status_code == 401
    assert (await submitter.get("/metrics")).status_code == 403
    response = await api.client("acme/admin").get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'wakeful_tasks{agent="quick",state="completed",tenant="acme"}',
        'wakeful_task_runs_total{agent="quick",tenant="acme"}',
        'wakeful_model_calls_total{agent="quick",role="planner",tenant="acme"}',
        'wakeful_tokens_total{agent="quick",role="worker",tenant="acme"}',
        'wakeful_tool_calls_total{agent="quick",status="ok",tenant="acme",tool="load_average"}',
        "wakeful_killswitch 0.0",
    ):
        assert line in text, line
    assert "# TYPE wakeful_iteration_lag_seconds gauge" in text
    installation = (await api.client("local/installation-admin").get("/metrics")).text
    assert "# TYPE wakeful_queue_depth gauge" in installation


async def test_killswitch_stops_everything_and_refuses_new_tasks(api, eventually):
    submitter, admin = api.client("acme/submitter"), api.client("acme/admin")
    assert (await submitter.get("/killswitch")).json()["on"] is False
    assert (await submitter.post("/killswitch", json={"on": True})).status_code == 403
    assert (await admin.post("/killswitch", json={"on": "maybe"})).status_code == 422

    task_id = (await submitter.post("/tasks", json={"goal": "s", "agent": "slow"})).json()["id"]
    switched = await admin.post("/killswitch", json={"on": True})
    try:
        assert switched.status_code == 200, switched.text
        body = switched.json()
        # The task is stopped by this call, or by a worker that heard of the switch first.
        assert body["on"] is True and isinstance(body["stopped_tasks"], list)
        assert body["tenant"]["changed_by"] == "acme/acme-admin"

        async def canceled():
            return (await submitter.get(f"/tasks/{task_id}")).json()["state"] == "canceled"

        await eventually(canceled, timeout=10, what="task canceled by the kill switch")
        refused = await submitter.post("/tasks", json={"goal": "no", "agent": "quick"})
        assert refused.status_code == 409 and "kill switch" in refused.json()["detail"]
    finally:
        off = await admin.post("/killswitch", json={"on": False})
    assert off.status_code == 200 and off.json()["on"] is False
    assert (
        await submitter.post("/tasks", json={"goal": "ok", "agent": "quick"})
    ).status_code == 202


async def test_openapi_describes_every_endpoint(api):
    document = (await api.client(None).get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/cancel",
        "/tasks/{task_id}/approval",
        "/tasks/{task_id}/events",
        "/agents",
        "/agents/{name}",
        "/agents/{name}/pause",
        "/agents/{name}/resume",
        "/agents/{name}/status",
        "/alerts",
        "/killswitch",
        "/healthz",
        "/readyz",
        "/metrics",
        "/a2a",
        "/.well-known/agent-card.json",
    ):
        assert path in paths, path
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert {"TaskCreate", "TaskDetail", "ApprovalIn", "AgentApply"} <= set(
        document["components"]["schemas"]
    )


PATH_VALUES = ("no-such", "%00", "x" * 300, "ü-näme", "..")
BODIES: tuple[Any, ...] = (
    None,
    b"not json",
    b"\xff\xfe",
    [],
    "a string",
    {"goal": {"$gt": ""}},
    {"agent": ["quick"], "budgets": "all"},
    {"action": None, "args": 3},
    {"name": 7, "tools": "everything"},
    {"goal": "x\x00y", "agent": "quick"},
    {"budgets": {"max_tokens": 1e300}},
    {"a": {"b": {"c": [[[[[]]]]]}}},
)
QUERY_VALUES = ("", "-1", "abc", "9" * 40, "\x00")


def requests_for(path: str, operation: dict[str, Any]) -> list[tuple[str, Any]]:
    """(url, body) pairs: every body on one url, fewer on the other path values."""
    urls = [path.replace("{task_id}", v).replace("{name}", v) for v in PATH_VALUES]
    if urls[0] == path:
        urls = [path]
    if "requestBody" not in operation:
        return [(url, None) for url in urls]
    return [(urls[0], body) for body in BODIES] + [(url, {}) for url in urls[1:]]


async def test_bad_input_never_gets_a_5xx(api):
    """A cheap, schema-driven fuzz: every operation of /openapi.json (bar the kill switch,
    which a valid body would flip) with malformed path values, bodies and query values."""
    admin = api.client("acme/admin")
    document = (await admin.get("/openapi.json")).json()
    skip = {"/a2a", "/.well-known/agent-card.json", "/killswitch"}
    sent = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in skip:
                continue
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            for url, body in requests_for(path, operation):
                kwargs: dict[str, Any] = {
                    "params": {n: QUERY_VALUES[sent % len(QUERY_VALUES)] for n in names}
                }
                if isinstance(body, bytes):
                    kwargs.update(content=body, headers={"content-type": "application/json"})
                elif body is not None:
                    kwargs["json"] = body
                response = await admin.request(method.upper(), url, **kwargs)
                sent += 1
                assert response.status_code < 500, (method, url, body, response.text[:300])
    assert sent > 100
    jsonrpc = (
        None,
        [],
        {},
        {"jsonrpc": "2.0"},
        {"jsonrpc": "2.0", "id": 1, "method": "Nope"},
        {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": 5}},
        {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "a\x00"}},
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": 1}},
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}},
    )
    for body in jsonrpc:
        response = await admin.post("/a2a", json=body, headers={"A2A-Version": "1.0"})
        assert response.status_code < 500, (body, response.text[:300])
        error = response.json()["error"]
        assert error["code"] != -32603, (body, error)  # never an internal error
