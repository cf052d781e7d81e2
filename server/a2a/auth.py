"""Who is calling over A2A: the bearer token's principal, carried in the SDK's call context.

The JSON-RPC endpoint authenticates before the SDK sees the request (no token or an unknown
one is an HTTP 401, as on the REST API) and leaves the principal in the ASGI scope; the
context builder moves it into `ServerCallContext.state`, where the task store, the request
context builder and the executor read it. Role checks fail with a JSON-RPC "invalid
request" error whose message says which role is needed.
"""

from __future__ import annotations

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.routes import DefaultServerCallContextBuilder
from a2a.utils.errors import InvalidRequestError
from starlette.requests import Request

from server.services.auth import Principal, Role

SCOPE_KEY = "wakeful.principal"
STATE_KEY = "principal"


class PrincipalUser(User):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return f"{self.principal.tenant}/{self.principal.token_name}"


class PrincipalContextBuilder(DefaultServerCallContextBuilder):
    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        principal: Principal = request.scope[SCOPE_KEY]
        context.state[STATE_KEY] = principal
        context.user = PrincipalUser(principal)
        return context


def principal_of(context: ServerCallContext) -> Principal:
    principal = context.state.get(STATE_KEY)
    if not isinstance(principal, Principal):
        # Only reachable if a route forgot to authenticate: refuse rather than guess.
        raise InvalidRequestError(message="not authenticated")
    return principal


def require_role(context: ServerCallContext, role: Role) -> Principal:
    principal = principal_of(context)
    if not principal.allows(role):
        raise InvalidRequestError(
            message=f"forbidden: this needs the {role} role; the token has the "
            f"{principal.role} role"
        )
    return principal
