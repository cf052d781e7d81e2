"""A2A test helpers: a2a-sdk's own client against a served app, messages and sends."""

from __future__ import annotations

import uuid
from typing import Any

from a2a.client import Client, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    Task,
)
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict


async def a2a_client(api, who: str | None, *, streaming: bool) -> Client:
    factory = ClientFactory(ClientConfig(streaming=streaming, httpx_client=api.client(who)))
    return await factory.create_from_url(api.base_url)


def message(
    text: str = "", *, task: Task | None = None, data: Any = None, **metadata: Any
) -> Message:
    parts = [Part(text=text)] if text else []
    if data is not None:
        parts.append(Part(data=ParseDict(data, struct_pb2.Value())))
    msg = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=parts)
    if task is not None:
        msg.task_id, msg.context_id = task.id, task.context_id
    if metadata:
        msg.metadata.update(metadata)
    return msg


async def send(client: Client, msg: Message, *, at_once: bool = False) -> list[StreamResponse]:
    request = SendMessageRequest(
        message=msg, configuration=SendMessageConfiguration(return_immediately=at_once)
    )
    return [response async for response in client.send_message(request)]
