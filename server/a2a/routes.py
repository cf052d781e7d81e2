"""Mounting A2A into the FastAPI app: the agent card and the JSON-RPC endpoint.

JSON-RPC methods (A2A v1.0): SendMessage (blocking, or at once with
`configuration.returnImmediately`), SendStreamingMessage, GetTask, ListTasks, CancelTask,
SubscribeToTask, and push-notification configs (Create/Get/List/Delete
TaskPushNotificationConfig; delivered by push_delivery.py). The extended card is not
offered.

Before the SDK sees a request, it is authenticated and its body read here: a body that is
not UTF-8 JSON is a JSON-RPC parse error (-32700), and a ListTasks `status` that is no task
state is invalid params (the SDK's parser would read it as "any state").
"""

from __future__ import annotations

import json
from typing import Any

from a2a.server.jsonrpc_models import InvalidParamsError, JSONParseError, JSONRPCError
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import add_a2a_routes_to_fastapi
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import TaskState
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.a2a.auth import SCOPE_KEY, PrincipalContextBuilder
from server.a2a.card import RPC_PATH, agent_card
from server.a2a.card_http import card_response
from server.a2a.handler import WakefulRequestHandler
from server.api.deps import authenticate
from server.services import Services

CONTENT_TYPE_NOT_SUPPORTED = -32005  # A2A's ContentTypeNotSupportedError


def mount_a2a(app: FastAPI, services: Services) -> WakefulRequestHandler:
    """Add the A2A routes to `app`; returns the handler (close it on shutdown)."""
    settings = services.engine.settings
    handler = WakefulRequestHandler(services, agent_card("http://localhost", settings))
    dispatcher = JsonRpcDispatcher(handler, context_builder=PrincipalContextBuilder())

    async def get_agent_card(request: Request) -> Response:
        """The public card: wakeful's skills and how to reach and authenticate to it."""
        card = agent_card(str(request.base_url).rstrip("/"), settings)
        return card_response(request, agent_card_to_dict(card))

    async def handle_jsonrpc(request: Request) -> Response:
        """A2A JSON-RPC 2.0 (bearer token required)."""
        try:
            principal = await authenticate(services, request.headers.get("authorization"))
        except HTTPException as exc:
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        refused = await refuse_unreadable(request)
        if refused is not None:
            return refused
        request.scope[SCOPE_KEY] = principal
        return await dispatcher.handle_requests(request)

    add_a2a_routes_to_fastapi(
        app,
        agent_card_routes=[Route(AGENT_CARD_WELL_KNOWN_PATH, get_agent_card, methods=["GET"])],
        jsonrpc_routes=[Route(RPC_PATH, handle_jsonrpc, methods=["POST"])],
    )
    # Clients that append a slash reach the same endpoint (not a 307 with an empty body).
    app.add_route(RPC_PATH + "/", handle_jsonrpc, methods=["POST"], include_in_schema=False)
    return handler


async def refuse_unreadable(request: Request) -> Response | None:
    """A JSON-RPC error for a body we can tell is wrong before dispatching, else None.
    Starlette caches the parsed body, so the dispatcher does not read it again."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        return rpc_error(
            None,
            JSONRPCError(
                code=CONTENT_TYPE_NOT_SUPPORTED,
                message=f"Content-Type {media_type} is not supported; send application/json",
            ),
        )
    body = await request.body()
    try:
        parsed = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return rpc_error(None, JSONParseError(message=f"the body is not UTF-8: {exc.reason}"))
    except json.JSONDecodeError as exc:
        return rpc_error(None, JSONParseError(message=f"the body is not JSON: {exc}"))
    request._json = parsed  # what Request.json() would have cached
    if not isinstance(parsed, dict):
        return None  # batches and other shapes: the dispatcher's own errors
    params = parsed.get("params")
    if parsed.get("method") == "ListTasks" and isinstance(params, dict) and "status" in params:
        problem = unknown_state(params["status"])
        if problem:
            return rpc_error(parsed.get("id"), InvalidParamsError(message=problem))
    return None


def unknown_state(value: Any) -> str | None:
    names = list(TaskState.keys())
    if isinstance(value, str) and value in names:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value in TaskState.values():
        return None
    return f"status {value!r} is not a task state; states are {names}"


def rpc_error(request_id: Any, error: JSONRPCError) -> JSONResponse:
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    body = {"jsonrpc": "2.0", "id": request_id, "error": error.model_dump(exclude_none=True)}
    return JSONResponse(body)
