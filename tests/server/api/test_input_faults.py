"""Bad input over A2A and REST gets a clear JSON-RPC error or 4xx, never -32603 or a 500:
media types the card does not list, NUL characters, unreadable bodies, unknown states,
budgets that are not strict numbers; a free-text reply to an approval rejects it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from a2a.helpers.proto_helpers import get_data_parts
from a2a.types.a2a_pb2 import Part, TaskState
from a2a.utils.errors import ContentTypeNotSupportedError, InvalidParamsError
from a2a_testing import a2a_client, message, send

pytestmark = pytest.mark.slow

HEADERS = {"A2A-Version": "1.0"}
COMPLETED, INPUT_REQUIRED = TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_INPUT_REQUIRED


async def rpc(api, method: str, params: dict[str, Any], who: str = "acme/submitter") -> dict:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    response = await api.client(who).post("/a2a", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


def user_message(*parts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": list(parts), **extra}


async def test_a_part_of_an_unlisted_media_type_is_content_type_not_supported(api):
    client = await a2a_client(api, "acme/submitter", streaming=False)
    image = Part(raw=b"\x89PNG", media_type="image/png")
    for parts in ([image], [Part(text="Look at this"), image]):
        msg = message(agent="quick")
        msg.parts.extend(parts)
        with pytest.raises(ContentTypeNotSupportedError, match="image/png"):
            await send(client, msg)
    url = Part(url="https://example.com/a.txt")  # a file with no media type: still refused
    msg = message("Read it", agent="quick")
    msg.parts.append(url)
    with pytest.raises(ContentTypeNotSupportedError, match="file"):
        await send(client, msg)


async def test_unreadable_bodies_and_unknown_states(api):
    raw = await api.client().post("/a2a", content=b'{"jsonrpc": "2.0", "id": "\xff"}',
                                  headers=HEADERS)
    assert raw.status_code == 200 and raw.json()["error"]["code"] == -32700
    assert "UTF-8" in raw.json()["error"]["message"]

    answer = await rpc(api, "ListTasks", {"status": "TASK_STATE_BOGUS"})
    assert answer["error"]["code"] == -32602 and "TASK_STATE_BOGUS" in answer["error"]["message"]
    listed = await rpc(api, "ListTasks", {"status": "TASK_STATE_COMPLETED"})
    assert "result" in listed

    slash = await api.client().post("/a2a/", json={"jsonrpc": "2.0", "id": 1, "method": "Nope"},
                                    headers=HEADERS)
    assert slash.status_code == 200 and slash.json()["error"]["code"] == -32601


@pytest.mark.parametrize(
    ("budgets", "problem"),
    [
        ({"max_runtime_seconds": 1e300}, "max_runtime_seconds"),
        ({"maxTokens": True}, "must be a number"),
        ({"max_iterations": 2.5}, "whole number"),
        ({"max_tokens": "5"}, "must be a number"),
        ({"bogus": 1}, "bogus"),
    ],
)
async def test_budgets_are_strict_over_a2a_and_rest(api, budgets, problem):
    part = {"data": {"agent": "quick", "budgets": budgets}}
    answer = await rpc(api, "SendMessage", {"message": user_message({"text": "x"}, part)})
    assert answer["error"]["code"] == -32602, answer
    assert problem in answer["error"]["message"]

    rest_budgets = {k if k != "maxTokens" else "max_tokens": v for k, v in budgets.items()}
    response = await api.client().post(
        "/tasks", json={"goal": "x", "agent": "quick", "budgets": rest_budgets}
    )
    assert response.status_code == 422, response.text
    assert "budgets" in response.json()["detail"]


async def test_a2a_budgets_in_camel_case_and_metadata_in_camel_case(api):
    part = {"data": {"agent": "quick", "budgets": {"maxTokens": 5000}}}
    msg = user_message({"text": "Check"}, part)
    answer = await rpc(api, "SendMessage", {"message": msg})
    task = answer["result"]["task"]
    assert task["metadata"]["budgets"]["maxTokens"] == 5000
    assert "stopReason" in task["metadata"] and "stop_reason" not in task["metadata"]
    assert task["history"][0]["messageId"] == msg["messageId"]
    got = await rpc(api, "GetTask", {"id": task["id"]})
    assert got["result"]["history"][0]["messageId"] == msg["messageId"]


async def test_nul_characters_are_invalid_params_not_internal_errors(api):
    answer = await rpc(api, "SendMessage", {"message": user_message({"text": "a\x00b"})})
    assert answer["error"]["code"] == -32602 and "NUL" in answer["error"]["message"]
    data = {"data": {"agent": "quick", "note": "x\x00"}}
    answer = await rpc(api, "SendMessage", {"message": user_message({"text": "a"}, data)})
    assert answer["error"]["code"] == -32602 and "parts[1]" in answer["error"]["message"]

    response = await api.client().post("/tasks", json={"goal": "a\x00b", "agent": "quick"})
    assert response.status_code == 422


async def test_a_text_reply_rejects_the_pending_call_with_the_text_as_guidance(api):
    submitter = await a2a_client(api, "acme/submitter", streaming=False)
    approver = await a2a_client(api, "acme/approver", streaming=False)
    [response] = await send(submitter, message("Write the report", agent="gated"))
    task = response.task
    assert task.status.state == INPUT_REQUIRED
    [request] = get_data_parts(task.status.message.parts)
    assert "toolCallId" in request and "tool_call_id" not in request

    with pytest.raises(InvalidParamsError, match="NUL"):
        await send(approver, message("no\x00", task=task))
    [answered] = await send(approver, message("ok, but title it Weekly", task=task))
    assert answered.task.status.state == COMPLETED, answered.task
    events = await api.services.tasks.events("acme", task.id, limit=1000)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["comment"]) == ("reject", "ok, but title it Weekly")


async def test_rest_nul_in_an_approval_comment_is_422(api, eventually):
    client = api.client("acme/approver")
    task_id = (await client.post("/tasks", json={"goal": "R", "agent": "gated"})).json()["id"]

    async def waiting():
        return (await client.get(f"/tasks/{task_id}")).json()["state"] == "input-required"

    await eventually(waiting, timeout=60, what="task waits for approval")
    response = await client.post(
        f"/tasks/{task_id}/approval", json={"action": "reject", "comment": "no\x00"}
    )
    assert response.status_code == 422, response.text
    edited = await client.post(
        f"/tasks/{task_id}/approval",
        json={"action": "edit", "args": {"title": "T\x00", "body": "b"}},
    )
    assert edited.status_code == 422, edited.text
    await client.post(f"/tasks/{task_id}/cancel")


async def test_405_names_every_allowed_method_and_errors_are_json(api):
    response = await api.client().delete("/tasks")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in json.loads(response.text)


async def test_the_agent_card_has_cache_validators(api):
    client = api.client(None)
    response = await client.get("/.well-known/agent-card.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    assert response.headers["last-modified"].endswith("GMT")
    etag = response.headers["etag"]
    again = await client.get("/.well-known/agent-card.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
