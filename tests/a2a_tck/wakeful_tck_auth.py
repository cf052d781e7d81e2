"""A pytest plugin for the a2a-tck run against `wakeful serve` (loaded with
`-p wakeful_tck_auth`, this folder on PYTHONPATH). It adapts the kit, never the server:

- every HTTP request carries wakeful's bearer token (WAKEFUL_TCK_TOKEN): the 1.0-dev kit
  has no authentication settings of its own;
- each message gets a messageId of its own: the kit's `tck_id(name)` is one id per name
  and session, so different messages share an id, which wakeful (idempotent by messageId)
  rightly refuses as a reuse for another request. The kit's prefix is kept;
- a new task's message names the agent that plays the kit's scenario for its prefix
  (`metadata.agent`, see scenarios.py): the kit drives behaviour by messageId prefix, which
  a real agent server does not and must not do.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx
from scenarios import agent_for

_TOKEN = os.environ.get("WAKEFUL_TCK_TOKEN", "")
_SEND = ("SendMessage", "SendStreamingMessage")
_serial = itertools.count(1)


def _with_token(init: Any) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        headers = httpx.Headers(kwargs.pop("headers", None))
        headers.setdefault("Authorization", f"Bearer {_TOKEN}")
        init(self, *args, headers=headers, **kwargs)

    return patched


def adapt_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    message = params.get("message") if method in _SEND else None
    if not isinstance(message, dict):
        return params
    message = dict(message)
    message_id = str(message.get("messageId") or "")
    if message_id:
        message["messageId"] = f"{message_id}-w{next(_serial)}"
    agent = agent_for(message_id)
    if agent and not message.get("taskId"):
        message["metadata"] = {**(message.get("metadata") or {}), "agent": agent}
    return {**params, "message": message}


def _adapting(call: Any) -> Any:
    def patched(self: Any, method: str, params: dict, *args: Any, **kwargs: Any) -> Any:
        return call(self, method, adapt_params(method, params), *args, **kwargs)

    return patched


if _TOKEN:
    httpx.Client.__init__ = _with_token(httpx.Client.__init__)  # type: ignore[method-assign]
    httpx.AsyncClient.__init__ = _with_token(httpx.AsyncClient.__init__)  # type: ignore[method-assign]

from tck.transport.jsonrpc_client import JsonRpcClient  # noqa: E402  (the kit's own client)

JsonRpcClient._call = _adapting(JsonRpcClient._call)  # type: ignore[method-assign]
JsonRpcClient._call_streaming = _adapting(JsonRpcClient._call_streaming)  # type: ignore[method-assign]
