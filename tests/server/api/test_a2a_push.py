"""A2A push notifications against loopback webhook receivers: configs set, read, listed and
deleted per tenant; every state change delivered in order, with the config's credentials;
a receiver that is down for a while gets everything once it is back; notifications
waiting in the outbox survive a restart of the server."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.utils.errors import InvalidParamsError
from wakeful_servers import free_port, own_database, serve_process, server_env

from server.a2a.push_store import ALLOW_PRIVATE_ENV, check_webhook_url
from server.services import open_services
from stack.settings import Settings

pytestmark = pytest.mark.slow

HEADERS = {"A2A-Version": "1.0"}
PUSH_ENV = {ALLOW_PRIVATE_ENV: "1", "WAKEFUL_PUSH_BACKOFF_SECONDS": "0.3"}


@pytest.fixture(scope="module", autouse=True)
def push_env() -> Iterator[None]:
    """The served app may call loopback webhooks and retries quickly (set before it starts)."""
    saved = {k: os.environ.get(k) for k in PUSH_ENV}
    os.environ.update(PUSH_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Receiver:
    """A webhook receiver on a loopback port; `start` may come later than the first push."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def states(self) -> list[str]:
        out = []
        for _, body in self.requests:
            event = body.get("statusUpdate") or body.get("task") or {}
            out.append(event.get("status", {}).get("state"))
        return out


@contextlib.contextmanager
def receiver(port: int | None = None, *, up: bool = True) -> Iterator[Receiver]:
    hook = Receiver(port)
    if up:
        hook.start()
    try:
        yield hook
    finally:
        hook.stop()


async def rpc(client: httpx.AsyncClient, method: str, params: dict[str, Any]) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = await client.post("/a2a", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def send_params(text: str, agent: str, push: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}],
               "metadata": {"agent": agent}}
    configuration: dict[str, Any] = {"returnImmediately": True}
    if push:
        configuration["taskPushNotificationConfig"] = push
    return {"message": message, "configuration": configuration}


async def test_configs_are_set_read_listed_and_deleted_per_tenant(api):
    client = api.client("acme/submitter")
    task = (await rpc(client, "SendMessage", send_params("x", "quick")))["result"]["task"]
    config = {"taskId": task["id"], "id": "mine", "url": "http://127.0.0.1:9/hook",
              "token": "t-1", "authentication": {"scheme": "Bearer", "credentials": "s3cret"}}
    created = await rpc(client, "CreateTaskPushNotificationConfig", config)
    assert created["result"]["id"] == "mine", created
    got = await rpc(client, "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "mine"})
    assert got["result"]["authentication"]["credentials"] == "s3cret"
    listed = await rpc(client, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    assert [c["id"] for c in listed["result"]["configs"]] == ["mine"]

    other = api.client("globex/admin")
    theirs = await rpc(other, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    assert theirs["error"]["code"] == -32001  # TaskNotFoundError: no probing across tenants

    bad = await rpc(client, "CreateTaskPushNotificationConfig", {**config, "url": "ftp://x/y"})
    assert bad["error"]["code"] == -32602 and "http(s)" in bad["error"]["message"]

    for _ in range(2):  # idempotent
        deleted = await rpc(client, "DeleteTaskPushNotificationConfig",
                            {"taskId": task["id"], "id": "mine"})
        assert "error" not in deleted, deleted
    listed = await rpc(client, "ListTaskPushNotificationConfigs", {"taskId": task["id"]})
    assert listed["result"].get("configs", []) == []
    card = (await api.client(None).get("/.well-known/agent-card.json")).json()
    assert card["capabilities"]["pushNotifications"] is True


def test_private_webhooks_are_refused_unless_allowed(monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.1.1"):
        with pytest.raises(InvalidParamsError, match="private"):
            check_webhook_url(url)
    check_webhook_url("https://93.184.215.14/hook")
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    check_webhook_url("http://127.0.0.1/x")


async def test_each_state_change_is_pushed_in_order_with_credentials(api, eventually):
    submitter, approver = api.client("acme/submitter"), api.client("acme/approver")
    with receiver() as hook:
        push = {"url": hook.url, "token": "tok-42",
                "authentication": {"scheme": "Bearer", "credentials": "hook-secret"}}
        sent = await rpc(submitter, "SendMessage", send_params("Write it", "gated", push))
        task_id = sent["result"]["task"]["id"]

        async def waiting():
            return "TASK_STATE_INPUT_REQUIRED" in hook.states()

        await eventually(waiting, timeout=60, what="input-required pushed")
        decision = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "taskId": task_id,
                    "parts": [{"data": {"action": "approve"}}]}
        answered = await rpc(approver, "SendMessage", {"message": decision})
        assert "error" not in answered, answered

        async def completed():
            return hook.states() and hook.states()[-1] == "TASK_STATE_COMPLETED"

        await eventually(completed, timeout=60, what="completion pushed")
        states = hook.states()
        assert states.index("TASK_STATE_INPUT_REQUIRED") < len(states) - 1
        assert states.count("TASK_STATE_COMPLETED") == 1
        headers, last = hook.requests[-1]
        assert last["task"]["id"] == task_id and last["task"]["artifacts"]
        for headers, body in hook.requests:
            assert headers["Authorization"] == "Bearer hook-secret"
            assert headers["X-A2A-Notification-Token"] == "tok-42"
            assert (body.get("statusUpdate") or body.get("task"))["contextId"] == task_id


async def outbox(api, task_id: str) -> list[dict[str, Any]]:
    async with api.services.engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, attempts, last_error FROM a2a_push_outbox WHERE task_id = %s "
            "ORDER BY id", (task_id,))
        return await cur.fetchall()


async def test_a_receiver_that_is_down_for_a_while_gets_everything_later(api, eventually):
    client = api.client("acme/submitter")
    with receiver(up=False) as hook:
        sent = await rpc(client, "SendMessage", send_params("Look", "quick", {"url": hook.url}))
        task_id = sent["result"]["task"]["id"]

        async def retried():
            rows = await outbox(api, task_id)
            return rows and rows[0]["attempts"] >= 2 and rows[0]["status"] == "pending"

        await eventually(retried, timeout=60, what="failed deliveries retried")
        assert "ConnectError" in (await outbox(api, task_id))[0]["last_error"]
        hook.start()

        async def all_delivered():
            rows = await outbox(api, task_id)
            return rows and all(r["status"] == "delivered" for r in rows) and \
                hook.states()[-1:] == ["TASK_STATE_COMPLETED"]

        await eventually(all_delivered, timeout=60, what="deliveries after the receiver is up")
        assert len(hook.requests) == len(await outbox(api, task_id))


async def test_waiting_notifications_survive_a_restart(pg_url, tmp_path, eventually):
    """A server stops while its receiver is down; the next server delivers what waited."""
    with own_database(pg_url, "wk_push") as url:
        env = {**server_env(url, tmp_path), **PUSH_ENV}
        services = await open_services(Settings(WAKEFUL_DATA_DIR=tmp_path, DATABASE_URL=url),
                                       url=url)
        try:
            token = await services.auth.create_token("acme", "submitter", "push-restart")
            await services.agents.apply("acme", {
                "name": "quick", "entropy": {"semantic": False}, "tools": {"allow": []},
                "model": {"provider": "scripted",
                          "script": {"planner": [{"structured": {"steps": [
                              {"id": "s", "description": "Answer"}]}}], "worker": ["Done."]}},
            })
            with receiver(up=False) as hook:
                task_id = await _run_until_queued(env, tmp_path / "a.log", token, hook, services,
                                                  eventually)
                hook.start()  # back up while no server runs
                with serve_process(env, tmp_path / "b.log", port := free_port()):
                    await _healthy(port, eventually)

                    async def delivered():
                        return hook.states()[-1:] == ["TASK_STATE_COMPLETED"]

                    # generous: a delivery cut off by the stop waits out its lease (60 s)
                    await eventually(delivered, timeout=120, what="delivery by the next server")
                assert task_id and "TASK_STATE_COMPLETED" in hook.states()
        finally:
            await services.close()


async def _run_until_queued(env, log: Path, token: str, hook: Receiver, services,
                            eventually) -> str:
    port = free_port()
    with serve_process(env, log, port):
        await _healthy(port, eventually)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {token}"},
                                     timeout=30) as client:
            sent = await rpc(client, "SendMessage", send_params("Go", "quick", {"url": hook.url}))
            task_id = sent["result"]["task"]["id"]

            async def ended_and_waiting():
                task = await services.tasks.get("acme", task_id)
                async with services.engine.pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT count(*) AS n FROM a2a_push_outbox WHERE task_id = %s "
                        "AND status = 'pending' AND attempts >= 1", (task_id,))
                    row = await cur.fetchone()
                return task.task.terminal and row["n"] >= 1

            await eventually(ended_and_waiting, timeout=60, what="task ended, pushes waiting")
    return task_id


async def _healthy(port: int, eventually) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:

        async def up():
            with contextlib.suppress(httpx.TransportError):
                return (await probe.get("/healthz")).status_code == 200
            return False

        await eventually(up, timeout=60, what="wakeful serve answering")
