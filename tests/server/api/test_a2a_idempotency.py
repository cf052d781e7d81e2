"""A client retrying SendMessage after a lost reply (same messageId) gets the task its first
try made, not a second one; the same id for another message is refused."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.slow

HEADERS = {"A2A-Version": "1.0"}


async def send(api, message: dict) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
            "params": {"message": message, "configuration": {"returnImmediately": True}}}
    response = await api.client("acme/submitter").post("/a2a", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_retried_message_returns_the_same_task(api):
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER",
               "parts": [{"text": "Check once"}], "metadata": {"agent": "quick"}}
    first = (await send(api, message))["result"]["task"]
    again = (await send(api, message))["result"]["task"]
    assert again["id"] == first["id"]
    assert again["history"][0]["messageId"] == message["messageId"]

    other = await send(api, {**message, "parts": [{"text": "Something else"}]})
    assert other["error"]["code"] == -32602, other
