"""Mounting A2A into the FastAPI app: the agent card and the JSON-RPC endpoint.

JSON-RPC methods (A2A v1.0): SendMessage (blocking, or at once with
`configuration.returnImmediately`), SendStreamingMessage, GetTask, ListTasks, CancelTask,
SubscribeToTask. Push notifications and the extended card are not offered.
"""

from __future__ import annotations

from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import add_a2a_routes_to_fastapi
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.a2a.auth import SCOPE_KEY, PrincipalContextBuilder
from server.a2a.card import RPC_PATH, agent_card
from server.a2a.handler import WakefulRequestHandler
from server.api.deps import authenticate
from server.services import Services


def mount_a2a(app: FastAPI, services: Services) -> WakefulRequestHandler:
    """Add the A2A routes to `app`; returns the handler (close it on shutdown)."""
    settings = services.engine.settings
    handler = WakefulRequestHandler(services, agent_card("http://localhost", settings))
    dispatcher = JsonRpcDispatcher(handler, context_builder=PrincipalContextBuilder())

    async def get_agent_card(request: Request) -> Response:
        """The public card: wakeful's skills and how to reach and authenticate to it."""
        card = agent_card(str(request.base_url).rstrip("/"), settings)
        return JSONResponse(agent_card_to_dict(card))

    async def handle_jsonrpc(request: Request) -> Response:
        """A2A JSON-RPC 2.0 (bearer token required)."""
        try:
            principal = await authenticate(services, request.headers.get("authorization"))
        except HTTPException as exc:
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        request.scope[SCOPE_KEY] = principal
        return await dispatcher.handle_requests(request)

    add_a2a_routes_to_fastapi(
        app,
        agent_card_routes=[Route(AGENT_CARD_WELL_KNOWN_PATH, get_agent_card, methods=["GET"])],
        jsonrpc_routes=[Route(RPC_PATH, handle_jsonrpc, methods=["POST"])],
    )
    return handler
